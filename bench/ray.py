"""Ray Data throughput: `llmp.ray.generate` with 2 actors against 1, on a local 2-CPU Ray cluster.

    .venv/bin/python bench/ray.py [--prompts 1200] [--ttft 0.4] [--max-concurrent 16]
                                  [--batch-size 200] [--repeats 2]

The fake OpenAI server runs in its own process with a fixed latency (`--ttft`, non-streamed
replies) so requests are latency-bound and the server is not the bottleneck (its CPU share is
printed); each actor keeps `--max-concurrent` requests in flight, so the ideal rate is
actors x max_concurrent / ttft. The rate is measured at the server: requests counted from 10%
to 90% of the job (Ray Data waits for every actor before the first batch; the last batch's
tail is left out). The wall time of the whole job, actor start-up included, is shown too.
Runs alternate between no Ray (the same batches through one `LLM` in this process: what llmp
reaches here without Ray), 1 actor and 2 actors, distinct prompts each run, no cache; every
reply is checked. Medians over `--repeats`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # under `uv run`, workers would `uv run` too
BENCH = Path(__file__).resolve().parent
# This file is bench/ray.py: with bench/ first on sys.path, `import ray` would import it again.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
import ray  # noqa: E402

sys.path[:0] = [str(BENCH), str(BENCH.parent / "core" / "src")]
from _common import MODEL, client_env, expected, proc_cpu, prompt  # noqa: E402

import llmp.ray  # noqa: E402


class Sampler:
    """The server's request count over time, polled from a thread."""

    def __init__(self, server: Any, interval: float = 0.1) -> None:
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), int(self.server.stats()["request_count"])))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def rate(self, total: int, low: float = 0.1, high: float = 0.9) -> float:
        """Requests per second between `low` and `high` of `total` requests."""
        start = next((t, c) for t, c in self.samples if c >= low * total)
        end = next((t, c) for t, c in self.samples if c >= high * total)
        return (end[1] - start[1]) / (end[0] - start[0])


def run_once(
    server: Any, env: dict[str, str], actors: int, run: int, args: argparse.Namespace
) -> dict[str, Any]:
    prompts = [prompt(run * 1_000_000 + i) for i in range(args.prompts)]
    ds = ray.data.from_items([{"prompt": text} for text in prompts])
    out = llmp.ray.generate(
        ds,
        MODEL,
        cache=False,
        max_concurrent=args.max_concurrent,
        concurrency=actors,
        batch_size=args.batch_size,
        ray_remote_args={"runtime_env": {"env_vars": env}},
    )
    server.reset()
    cpu, wall = proc_cpu(server.pid), time.perf_counter()
    with Sampler(server) as sampler:
        rows = out.take_all()
    wall = time.perf_counter() - wall
    server_cpu = (proc_cpu(server.pid) or 0.0) - (cpu or 0.0)
    answers = {row["prompt"]: row["text"] for row in rows}
    bad = [text for text in prompts if answers.get(text) != expected(text)]
    if bad or len(rows) != len(prompts):
        raise RuntimeError(f"{len(bad)} wrong or missing answers, e.g. {bad[:1]}")
    return {
        "actors": actors,
        "rate": sampler.rate(len(prompts)),
        "wall": wall,
        "server_cpu": server_cpu / wall,
    }


def run_plain(server: Any, env: dict[str, str], run: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same job with no Ray: one `LLM.generate` per batch in this process (the baseline)."""
    os.environ.update(env)
    prompts = [prompt(run * 1_000_000 + i) for i in range(args.prompts)]
    server.reset()
    cpu, wall = proc_cpu(server.pid), time.perf_counter()
    with Sampler(server) as sampler, llmp.LLM(MODEL, cache=False, max_concurrent=args.max_concurrent) as llm:
        answers = []
        for start in range(0, len(prompts), args.batch_size):
            answers += llm.generate(prompts[start : start + args.batch_size])
    wall = time.perf_counter() - wall
    server_cpu = (proc_cpu(server.pid) or 0.0) - (cpu or 0.0)
    if answers != [[expected(text)] for text in prompts]:
        raise RuntimeError("wrong answers from the baseline")
    return {"actors": 0, "rate": sampler.rate(len(prompts)), "wall": wall, "server_cpu": server_cpu / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=1200)
    parser.add_argument("--ttft", type=float, default=0.4, help="the fake server's latency, seconds")
    parser.add_argument("--max-concurrent", type=int, default=16, help="requests in flight per actor")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from llmp_openai.testing import FakeOpenAIServer

    server = FakeOpenAIServer.spawn(ttft=args.ttft, chunk_count=1)
    try:
        env = client_env(server.base_url, str(server.ca_path), server.api_key or "sk-bench", "/nonexistent")
        env = {k: v for k, v in env.items() if k.startswith(("OPENAI_", "SSL_", "LLMP_PLUGINS"))}
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.wait_for_min_actors_s = 600  # every actor up before the first batch: a fair start
        results: dict[int, list[dict[str, Any]]] = {0: [], 1: [], 2: []}
        for repeat in range(args.repeats):
            for actors in (0, 1, 2):
                run = repeat * 3 + actors + 1
                if actors:
                    result = run_once(server, env, actors, run, args)
                else:
                    result = run_plain(server, env, run, args)
                results[actors].append(result)
                print(
                    f"  run {repeat + 1}, {actors or 'no'} actor(s): {result['rate']:.1f} req/s, "
                    f"{result['wall']:.1f} s",
                    file=sys.stderr,
                )
    finally:
        ray.shutdown()
        server.stop()

    ideal_one = args.max_concurrent / args.ttft
    print(
        f"\nllmp.ray.generate, {args.prompts} prompts, fake server latency {args.ttft * 1000:.0f} ms, "
        f"max_concurrent={args.max_concurrent} per actor, batch_size={args.batch_size}, "
        f"median of {args.repeats}\n"
    )
    print("| run | req/s (10-90%) | ideal req/s | of ideal | wall s | server CPU | x 1 actor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = statistics.median(r["rate"] for r in results[1])
    names = {0: "no Ray: LLM.generate in one process", 1: "1 actor", 2: "2 actors"}
    for actors in (0, 1, 2):
        runs = results[actors]
        rate = statistics.median(r["rate"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["server_cpu"] for r in runs)
        ideal = ideal_one * max(actors, 1)
        print(
            f"| {names[actors]} | {rate:.1f} | {ideal:.0f} | {rate / ideal:.0%} | {wall:.1f} | {cpu:.0%} | "
            f"{rate / base:.2f} |"
        )


if __name__ == "__main__":
    main()
