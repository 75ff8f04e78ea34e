"""CPU per request added by the concurrency limits and the rate buckets.

    .venv/bin/python bench/limits.py [--cycles 4000] [--repeats 5] [--e2e-prompts 2000] [--no-e2e]

Needs a ``redis-server`` (``apt-get install redis-server``); one is started on a free port.

1. Micro (one process, one event loop): ``--cycles`` cycles of acquire -> one loop turn (the
   request) -> release, by 32 tasks at once, for each limit; process CPU per cycle minus that of
   the same loop with no limit. "uncontended": the cap (64) is above the 32 tasks; "contended":
   the cap is 8, so 24 tasks wait (and, for Redis, poll). The Redis server's own CPU per cycle is
   shown apart (it is another process, often another machine).
2. End to end (``--e2e-prompts``): ``llm.generate`` of that many prompts (non-streaming,
   ``max_concurrent=32``) against the fake server in its own process, each configuration in a
   fresh client process: no global cap, ``LLMP_GLOBAL_CONCURRENCY=64`` (machine-wide) and the
   same with ``LLMP_REDIS_URL`` (cluster-wide). CPU per request of the client process.

Medians of ``--repeats``. The targets (issue 13): the cluster limit adds <= 0.2 ms of CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import MODEL, Workload, fake_server, median, proc_cpu, run_child

TASKS = 32


async def _cycles(n: int, take: Callable[[], Awaitable[Callable[[], None]]] | None, tasks: int) -> None:
    """`n` cycles over `tasks` tasks: take a limit (it returns its release), one loop turn, release."""
    per_task = n // tasks

    async def task() -> None:
        for _ in range(per_task):
            if take is None:
                await asyncio.sleep(0)
                continue
            release = await take()
            await asyncio.sleep(0)
            release()

    await asyncio.gather(*(task() for _ in range(tasks)))


def _measure(
    n: int, make: Callable[[], Any] | None, redis_pid: int | None, tasks: int
) -> tuple[float, float | None]:
    """(client CPU seconds, Redis CPU seconds) for `n` cycles, in a fresh event loop."""

    async def run() -> tuple[float, float | None]:
        take = make() if make is not None else None
        await _cycles(tasks * 4, take, tasks)  # warm up: connections, scripts loaded, code paths hot
        await asyncio.sleep(0.05)
        server0, cpu0 = proc_cpu(redis_pid), time.process_time()
        await _cycles(n, take, tasks)
        await asyncio.sleep(0.02)  # the last releases reach Redis (inside the measurement)
        cpu = time.process_time() - cpu0
        server1 = proc_cpu(redis_pid)
        return cpu, (server1 - server0) if server0 is not None and server1 is not None else None

    return asyncio.run(run())


def _slot_taker(slots: Any) -> Callable[[], Awaitable[Callable[[], None]]]:
    async def take() -> Callable[[], None]:
        return (await slots.acquire()).release

    return take


def _bucket_taker(bucket: Any, cost: float, actual: float) -> Callable[[], Awaitable[Callable[[], None]]]:
    async def take() -> Callable[[], None]:
        await bucket.acquire(cost)
        return lambda: bucket.settle(cost, actual)

    return take


def micro(cycles: int, repeats: int, redis_url: str, redis_pid: int | None) -> list[dict[str, Any]]:
    from llmp._buckets import TokenBucket
    from llmp._machine_slots import MachineSlots
    from llmp._redis_buckets import RedisTokenBucket
    from llmp._redis_link import RedisLink
    from llmp._redis_slots import ClusterSlots

    tmp = Path(tempfile.mkdtemp(prefix="llmp-bench-slots-"))
    link = RedisLink(redis_url)
    huge = 1e12  # a rate that never binds: what is measured is the bookkeeping

    def cluster(limit: int, name: str) -> Callable[[], Any]:
        return lambda: _slot_taker(
            ClusterSlots(link, limit, fallback=MachineSlots(limit, tmp / name), name=name, lease=10)
        )

    cases: list[tuple[str, Callable[[], Any] | None, bool]] = [
        ("no limit (baseline)", None, False),
        ("machine-wide slots, uncontended", lambda: _slot_taker(MachineSlots(64, tmp / "m64")), False),
        ("machine-wide slots, contended (cap 8)", lambda: _slot_taker(MachineSlots(8, tmp / "m8")), False),
        ("cluster-wide slots, uncontended", cluster(64, "c64"), True),
        ("cluster-wide slots, contended (cap 8)", cluster(8, "c8"), True),
        ("local token bucket (rpm)", lambda: _bucket_taker(TokenBucket(huge, burst=huge), 1, 1), False),
        (
            "local token bucket (tpm, settled)",
            lambda: _bucket_taker(TokenBucket(huge, burst=huge), 500, 320),
            False,
        ),
        (
            "Redis token bucket (rpm)",
            lambda: _bucket_taker(RedisTokenBucket(link, "bench:rpm", huge, burst=huge), 1, 1),
            True,
        ),
        (
            "Redis token bucket (tpm, settled)",
            lambda: _bucket_taker(RedisTokenBucket(link, "bench:tpm", huge, burst=huge), 500, 320),
            True,
        ),
    ]
    # One task: nothing to batch, every acquire and release is its own round trip (the worst case).
    cases += [
        ("no limit, one task (baseline)", None, False),
        ("cluster-wide slots, one task", cluster(64, "c64-1"), True),
        (
            "Redis token bucket (tpm), one task",
            lambda: _bucket_taker(RedisTokenBucket(link, "bench:tpm1", huge, burst=huge), 500, 320),
            True,
        ),
    ]
    rows: list[dict[str, Any]] = []
    baseline = 0.0
    for label, make, uses_redis in cases:
        tasks = 1 if "one task" in label else TASKS
        runs = [_measure(cycles, make, redis_pid if uses_redis else None, tasks) for _ in range(repeats)]
        cpu = median([c for c, _ in runs]) / cycles
        server = [s for _, s in runs if s is not None]
        if make is None:
            baseline = cpu
        rows.append(
            {
                "tasks": tasks,
                "limit": label,
                "cpu_us": cpu * 1e6,
                "added_us": (cpu - baseline) * 1e6,
                "redis_us": median(server) / cycles * 1e6 if server else None,
            }
        )
    return rows


_E2E_CHILD = """
import json, sys, time, llmp
n = int(sys.argv[1])
llm = llmp.LLM("{model}", max_concurrent=32, cache=False)
llm.generate([f"warm {{i}}" for i in range(64)])
prompts = [f"Request {{i}}: " + " ".join(f"w{{j}}" for j in range(26)) for i in range(n)]
cpu, wall = time.process_time(), time.perf_counter()
out = llm.generate(prompts)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
assert len(out) == n
print(json.dumps({{"cpu": cpu, "wall": wall}}))
"""


def e2e(prompts: int, repeats: int, redis_url: str) -> list[dict[str, Any]]:
    workload = Workload(ttft=0.005, token_delay=0.0, chunks=1)
    child = _E2E_CHILD.format(model=MODEL)
    rows: list[dict[str, Any]] = []
    with fake_server(workload) as server, tempfile.TemporaryDirectory(prefix="llmp-bench-e2e-") as tmp:
        configs = {
            "no global cap": {},
            "machine-wide (LLMP_GLOBAL_CONCURRENCY=64)": {
                "LLMP_GLOBAL_CONCURRENCY": "64",
                "LLMP_GLOBAL_SLOTS_DIR": str(Path(tmp) / "slots"),
            },
            "cluster-wide (+ LLMP_REDIS_URL)": {
                "LLMP_GLOBAL_CONCURRENCY": "64",
                "LLMP_GLOBAL_SLOTS_DIR": str(Path(tmp) / "slots"),
                "LLMP_REDIS_URL": redis_url,
            },
        }
        # Interleaved (every configuration once per round), so a change in the machine's load
        # during the run weighs on all of them alike.
        results: dict[str, list[dict[str, float]]] = {label: [] for label in configs}
        for _ in range(repeats):
            for label, extra in configs.items():
                out = run_child(["-c", child, str(prompts)], {**server.env, **extra}, timeout=600)
                results[label].append(json.loads(out.strip().splitlines()[-1]))
        baseline = median([r["cpu"] for r in results["no global cap"]]) / prompts
        for label, runs in results.items():
            cpu = median([r["cpu"] for r in runs]) / prompts
            rows.append(
                {
                    "config": label,
                    "cpu_ms": cpu * 1e3,
                    "added_ms": (cpu - baseline) * 1e3,
                    "wall_s": median([r["wall"] for r in runs]),
                }
            )
    return rows


def _print_micro(rows: list[dict[str, Any]], cycles: int) -> None:
    print(f"\nMicro: {cycles} acquire/release cycles by {TASKS} tasks (or one), CPU per cycle (median)\n")
    print(f"| {'limit':<38} | {'CPU us':>7} | {'added us':>8} | {'Redis server us':>15} |")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 10}|{'-' * 17}|")
    for r in rows:
        redis = f"{r['redis_us']:.1f}" if r["redis_us"] is not None else "-"
        print(f"| {r['limit']:<38} | {r['cpu_us']:7.1f} | {r['added_us']:8.1f} | {redis:>15} |")


def _print_e2e(rows: list[dict[str, Any]], prompts: int) -> None:
    print(f"\nEnd to end: generate({prompts} prompts), max_concurrent=32, client CPU per request (median)\n")
    print(f"| {'configuration':<42} | {'CPU ms':>7} | {'added ms':>8} | {'wall s':>6} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 10}|{'-' * 8}|")
    for r in rows:
        print(f"| {r['config']:<42} | {r['cpu_ms']:7.3f} | {r['added_ms']:+8.3f} | {r['wall_s']:6.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--e2e-prompts", type=int, default=2000)
    parser.add_argument("--no-e2e", action="store_true")
    args = parser.parse_args()
    from llmp.testing._redis import RedisServer

    with RedisServer() as redis:
        print(f"redis-server pid {redis.pid}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        _print_micro(micro(args.cycles, args.repeats, redis.url, redis.pid), args.cycles)
        if not args.no_e2e:
            _print_e2e(e2e(args.e2e_prompts, args.repeats, redis.url), args.e2e_prompts)


if __name__ == "__main__":
    main()
