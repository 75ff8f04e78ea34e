"""Deployments: what a set costs per request, and how a job fares when one deployment dies.

    .venv/bin/python bench/deployments.py [--prompts 2000] [--repeats 5] [--job 1200] [--latency 0.2]

1. CPU per request (``--prompts``, ``--repeats``, ``--rounds``): ``generate`` against the fake
   server in its own process (5 ms per answer), non-streaming, 32 in flight. Three llmp
   configurations share each fresh client process and take turns, ``--rounds`` rounds of
   ``--prompts / --rounds`` prompts each, so that a change in the shared machine's load weighs on
   all of them alike: a plain ``LLM(model)``, a set of one
   (``LLM([Deployment(model, base_url=...)])``) and a set of two on the same server (two keys,
   ``round_robin``, 16 in flight each: the router's own cost). The raw floor (httpx2 POST +
   ``json.loads``, ``clients.Floor``) runs in a process of its own. Client CPU per request,
   median over ``--repeats`` processes, and each configuration's ratio to the plain LLM in the
   same process, median (target: a set of one within 1.05x).
   The same without the network (``--micro``): ``generate`` on `llmp.testing.FunctionClient`
   (replies from a Python function), so only llmp's own work is measured: a plain LLM against a
   set of two and of three (``round_robin``), in one process, taking turns.
2. One killed (``--job``, ``--latency``): three fake servers in their own processes, each
   answering after ``--latency`` s; a job of ``--job`` prompts over three deployments
   (``least_busy``, 16 in flight each), once with all three up, once with one SIGKILLed when a
   third of the job is done (the job finishes on the other two), and once on two deployments
   from the start. Wall time of the job against the ideal (``prompts x latency / in flight``)
   for the deployments that served it (target: the killed run within 1.5x the ideal for the
   remaining two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

from _common import MODEL, Workload, client_env, expected, fake_server, median, prompt, run_child

CONCURRENCY = 32
PER_DEPLOYMENT = 16
CONFIGS = {
    "floor (raw httpx2)": "floor",
    "LLM(model)": "plain",
    "LLM([Deployment(model, base_url)])": "one",
    "LLM([2 deployments], round_robin)": "two",
}


# -- the child process ---------------------------------------------------------------------------


def _deployments(names: str) -> list[Any]:
    import llmp

    return [
        llmp.Deployment(
            MODEL,
            base_url=os.environ.get(f"BENCH_{n}_URL") or os.environ["OPENAI_BASE_URL"],
            key_env=f"FAKE_{n}",
            name=n,
            max_concurrent=PER_DEPLOYMENT,
        )
        for n in names
    ]


def _floor_child(n: int) -> dict[str, float]:
    from clients import Floor

    prompts = [prompt(i) for i in range(n)]
    floor = Floor(CONCURRENCY)

    async def run() -> float:
        await floor.run([prompt(-1 - i) for i in range(64)], CONCURRENCY, False)
        cpu = time.process_time()
        out = await floor.run(prompts, CONCURRENCY, False)
        cpu = time.process_time() - cpu
        assert [text for _, text in out] == [expected(p) for p in prompts]
        await floor.aclose()
        return cpu

    return {"floor": asyncio.run(run())}


def _llmp_child(n: int, rounds: int) -> dict[str, float]:
    import llmp

    (one,) = _deployments("A")
    llms = {
        "plain": llmp.LLM(MODEL, cache=False, max_concurrent=CONCURRENCY),
        "one": llmp.LLM(
            [llmp.Deployment(MODEL, base_url=one.base_url)], cache=False, max_concurrent=CONCURRENCY
        ),
        "two": llmp.LLM(_deployments("AB"), strategy="round_robin", cache=False),
    }
    for llm in llms.values():
        llm.generate([prompt(-1 - i) for i in range(64)], progress=False)
    cpu = dict.fromkeys(llms, 0.0)
    per_round = n // rounds
    for r in range(rounds):
        order = list(llms)[r % len(llms) :] + list(llms)[: r % len(llms)]  # each goes first in turn
        for name in order:
            prompts = [prompt(r * per_round + i) for i in range(per_round)]
            started = time.process_time()
            out = llms[name].generate(prompts, progress=False)
            cpu[name] += time.process_time() - started
            assert out == [[expected(p)] for p in prompts]
    return cpu


def _job_child(names: str, n: int, victim: int | None) -> dict[str, Any]:
    import llmp

    llm = llmp.LLM(_deployments(names), strategy="least_busy", cache=False)
    llm.generate([prompt(-1 - i) for i in range(3 * PER_DEPLOYMENT)], progress=False)  # connections
    warm = {d.name: d.successes for d in llm.metrics().deployments}
    prompts = [prompt(i) for i in range(n)]
    got: dict[int, Any] = {}
    killed_at = None
    started = time.perf_counter()
    for index, result in llm.iter_generate(prompts, progress=False):
        got[index] = result
        if victim is not None and killed_at is None and len(got) >= n // 3:
            os.kill(victim, signal.SIGKILL)
            killed_at = time.perf_counter() - started
    wall = time.perf_counter() - started
    assert [got[i] for i in range(n)] == [[expected(p)] for p in prompts], "an answer is missing or wrong"
    metrics = {d.name: d for d in llm.metrics().deployments}
    return {
        "wall": wall,
        "killed_at": killed_at,
        "answered": {name: d.successes - warm[name] for name, d in metrics.items()},
        "failures": {name: d.failures for name, d in metrics.items()},
        "health": {name: d.health for name, d in metrics.items()},
    }


def micro_rows(n: int, rounds: int) -> list[dict[str, Any]]:
    """CPU per request of llmp's own work (no network): a plain LLM and sets of two and three."""
    import llmp
    from llmp.testing import FunctionClient, function_registry

    registry = function_registry({"bench/*": FunctionClient(lambda request: "ok")})

    def of(k: int) -> Any:
        items = [{"model": "bench/m", "key_env": f"BENCH_{i}", "max_concurrent": 32 // k} for i in range(k)]
        return llmp.LLM(items, registry=registry, strategy="round_robin", cache=False, api_key="sk-bench")

    llms = {
        "LLM(model)": llmp.LLM(
            "bench/m", registry=registry, cache=False, max_concurrent=32, api_key="sk-bench"
        ),
        "a set of two, round_robin": of(2),
        "a set of three, round_robin": of(3),
    }
    cpu = dict.fromkeys(llms, 0.0)
    for llm in llms.values():
        llm.generate([f"warm {i}" for i in range(200)], progress=False)
    for r in range(rounds):
        for name in list(llms)[r % 3 :] + list(llms)[: r % 3]:
            prompts = [f"round {r} prompt {i}" for i in range(n)]
            started = time.process_time()
            llms[name].generate(prompts, progress=False)
            cpu[name] += time.process_time() - started
    plain = cpu["LLM(model)"]
    return [
        {"config": k, "us": v / (n * rounds) * 1e6, "added_us": (v - plain) / (n * rounds) * 1e6}
        for k, v in cpu.items()
    ]


def print_micro(rows: list[dict[str, Any]], n: int) -> None:
    print(f"\nllmp's own work (FunctionClient, no network): {n} prompts a round, CPU per request\n")
    print(f"| {'client':<30} | {'CPU us/req':>10} | {'added us':>8} |")
    print(f"|{'-' * 32}|{'-' * 12}|{'-' * 10}|")
    for r in rows:
        print(f"| {r['config']:<30} | {r['us']:10.1f} | {r['added_us']:+8.1f} |")


# -- the parent ----------------------------------------------------------------------------------


def cpu_rows(n: int, repeats: int, rounds: int) -> list[dict[str, Any]]:
    runs: list[dict[str, float]] = []
    with fake_server(Workload(ttft=0.005, token_delay=0.0, chunks=1)) as server:
        key = server.env["OPENAI_API_KEY"]
        env = {**server.env, "FAKE_A_API_KEY": key, "FAKE_B_API_KEY": key}
        for _ in range(repeats):
            floor = run_child([__file__, "--child-floor", str(n)], env, timeout=600)
            mine = run_child([__file__, "--child-llmp", str(n), str(rounds)], env, timeout=900)
            runs.append(
                {**json.loads(floor.strip().splitlines()[-1]), **json.loads(mine.strip().splitlines()[-1])}
            )
    per_request = n // rounds * rounds
    rows = []
    for label, config in CONFIGS.items():
        cpu = [r[config] / (n if config == "floor" else per_request) for r in runs]
        ratio = None if config == "floor" else median([r[config] / r["plain"] for r in runs])
        rows.append(
            {
                "config": label,
                "cpu_ms": median(cpu) * 1e3,
                "cpu_ms_all": [c * 1e3 for c in cpu],
                "x_plain": ratio,
            }
        )
    return rows


def job_rows(n: int, latency: float, repeats: int) -> list[dict[str, Any]]:
    from llmp.testing import FakeOpenAIServer

    cases = [("3 deployments, all up", "ABC", False), ("3 deployments, A killed at 1/3", "ABC", True)]
    cases.append(("2 deployments from the start", "BC", False))
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in cases}
    cache_dir = tempfile.mkdtemp(prefix="llmp-bench-deployments-")  # cache=False: stays empty
    for _ in range(repeats):
        for label, names, kill in cases:
            servers = {name: FakeOpenAIServer.spawn(ttft=latency, chunk_count=1) for name in names}
            try:
                first = next(iter(servers.values()))
                env = client_env(first.base_url, str(first.ca_path), first.api_key or "sk", cache_dir)
                for name, server in servers.items():
                    env[f"BENCH_{name}_URL"] = server.base_url
                    env[f"FAKE_{name}_API_KEY"] = server.api_key or "sk-bench"
                victim = str(servers["A"].pid) if kill else "-"
                out = run_child([__file__, "--child-job", names, str(n), victim], env, timeout=900)
                runs[label].append(json.loads(out.strip().splitlines()[-1]))
            finally:
                for server in servers.values():
                    server.stop()
    ideal = {k: n * latency / (k * PER_DEPLOYMENT) for k in (2, 3)}
    rows = []
    for label, names, kill in cases:
        results = runs[label]
        wall = median([r["wall"] for r in results])
        served = 2 if kill else len(names)
        rows.append(
            {
                "run": label,
                "wall_s": wall,
                "wall_s_all": [r["wall"] for r in results],
                "ideal_s": ideal[served],
                "x_ideal": wall / ideal[served],
                "x_ideal_2": wall / ideal[2],
                "killed_at_s": median([r["killed_at"] for r in results]) if kill else None,
                "answered": results[len(results) // 2]["answered"],
                "failures": results[len(results) // 2]["failures"],
                "health": results[len(results) // 2]["health"],
            }
        )
    return rows


def print_cpu(rows: list[dict[str, Any]], n: int) -> None:
    print(f"\nCPU per request: generate({n} prompts), {CONCURRENCY} in flight, 5 ms answers (median)\n")
    print(f"| {'client':<36} | {'CPU ms/req':>10} | {'min-max':>11} | {'x LLM(model)':>12} |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 13}|{'-' * 14}|")
    for r in rows:
        spread = f"{min(r['cpu_ms_all']):.3f}-{max(r['cpu_ms_all']):.3f}"
        ratio = "-" if r["x_plain"] is None else f"{r['x_plain']:.3f}"
        print(f"| {r['config']:<36} | {r['cpu_ms']:10.3f} | {spread:>11} | {ratio:>12} |")
    floor = next(r for r in rows if r["x_plain"] is None)["cpu_ms"]
    plain = next(r for r in rows if r["config"] == "LLM(model)")["cpu_ms"]
    print(f"\nLLM(model) over the floor: {plain / floor:.2f}x (the floor runs in a process of its own)")


def print_job(rows: list[dict[str, Any]], n: int, latency: float) -> None:
    print(
        f"\nOne killed: a job of {n} prompts, least_busy, {PER_DEPLOYMENT} in flight per deployment, "
        f"{latency * 1000:.0f} ms answers (median)\n"
    )
    head = f"| {'run':<32} | {'wall s':>6} | {'min-max s':>11} | {'ideal s':>7} | {'x ideal':>7} |"
    print(head + f" {'x ideal(2)':>10} | answered by |")
    print(f"|{'-' * 34}|{'-' * 8}|{'-' * 13}|{'-' * 9}|{'-' * 9}|{'-' * 12}|{'-' * 13}|")
    for r in rows:
        answered = " ".join(f"{k}:{v}" for k, v in r["answered"].items())
        spread = f"{min(r['wall_s_all']):.2f}-{max(r['wall_s_all']):.2f}"
        print(
            f"| {r['run']:<32} | {r['wall_s']:6.2f} | {spread:>11} | {r['ideal_s']:7.2f} | "
            f"{r['x_ideal']:7.2f} | {r['x_ideal_2']:10.2f} | {answered} |"
        )
    for r in rows:
        if r["killed_at_s"] is not None:
            print(
                f"\nkilled at {r['killed_at_s']:.2f} s; failures seen {r['failures']}; "
                f"health at the end {r['health']}"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-floor":
        print(json.dumps(_floor_child(int(sys.argv[2]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-llmp":
        print(json.dumps(_llmp_child(int(sys.argv[2]), int(sys.argv[3]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-job":
        victim = None if sys.argv[4] == "-" else int(sys.argv[4])
        print(json.dumps(_job_child(sys.argv[2], int(sys.argv[3]), victim)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--job", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--job-repeats", type=int, default=3)
    parser.add_argument("--no-cpu", action="store_true")
    parser.add_argument(
        "--micro", type=int, default=5000, help="prompts a round without the network (0: skip)"
    )
    parser.add_argument("--no-job", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if args.micro:
        print_micro(micro_rows(args.micro, args.rounds), args.micro)
    if not args.no_cpu:
        print_cpu(cpu_rows(args.prompts, args.repeats, args.rounds), args.prompts)
    if not args.no_job:
        print_job(job_rows(args.job, args.latency, args.job_repeats), args.job, args.latency)


if __name__ == "__main__":
    main()
