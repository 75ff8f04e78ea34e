"""What a cache hit costs per prompt: SQLite, Redis one by one, Redis pipelined, a memory layer.

    .venv/bin/python bench/cache.py [--prompts 10000] [--window 256] [--runs 3]

The cache layer alone, as the engine calls it (``llmp._cache``): ``--prompts`` distinct keys are
stored with a typical cached answer (one ~600-character text, finish reason, usage), then read
back; wall and CPU time (this process, all threads) per prompt, median of ``--runs``. Redis is a
real local ``redis-server`` (``llmp.testing.RedisServer``), so a round trip is ~0.05-0.1 ms of
loopback; on a network add its RTT to "one by one" and RTT/window to "pipelined".

- SQLite ``aget``: one read on the caller's thread per prompt (what the engine awaits today).
- SQLite ``aget_many``: one SELECT per window of prompts (the prefetch the engine can do).
- Redis ``aget`` sequential: one round trip per prompt, nothing else in flight.
- Redis ``aget`` x64 concurrent: 64 prompts in flight at once, each its own GET (a job's window
  without prefetch).
- Redis ``aget_many``: one MGET per window, one round trip (the engine's prefetch).
- "+ memory": a plain dict in front (what a local memory layer can save at best), on a rerun in
  the same process; the first pass (all misses in memory) costs the Redis figure plus a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "src"))

from llmp._cache import DiskCache, RedisCache, cache_key
from llmp.testing._redis import RedisServer

VALUE = {
    "texts": ["w" * 600],
    "finish_reasons": ["stop"],
    "usage": {"input_tokens": 40, "output_tokens": 150, "cached_input_tokens": 0},
}


class MemoryLayer:
    """A dict in front of a cache: hits served from memory after the first read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memory: dict[str, dict[str, Any]] = {}

    async def aget(self, key: str) -> dict[str, Any] | None:
        hit = self.memory.get(key)
        if hit is None:
            hit = await self.inner.aget(key)
            if hit is not None:
                self.memory[key] = hit
        return hit

    async def aget_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        memory = self.memory
        found = {k: memory[k] for k in keys if k in memory}
        missing = [k for k in keys if k not in found]
        if missing:
            more = await self.inner.aget_many(missing)
            memory.update(more)
            found.update(more)
        return found


async def sequential(cache: Any, keys: list[str], window: int) -> int:
    hits = 0
    for key in keys:
        hits += (await cache.aget(key)) is not None
    return hits


async def concurrent(cache: Any, keys: list[str], window: int) -> int:
    hits = 0
    for start in range(0, len(keys), 64):
        results = await asyncio.gather(*(cache.aget(k) for k in keys[start : start + 64]))
        hits += sum(r is not None for r in results)
    return hits


async def windowed(cache: Any, keys: list[str], window: int) -> int:
    hits = 0
    for start in range(0, len(keys), window):
        hits += len(await cache.aget_many(keys[start : start + window]))
    return hits


Mode = Callable[[Any, list[str], int], Awaitable[int]]


def measure(cache: Any, mode: Mode, keys: list[str], window: int, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        hits = asyncio.run(mode(cache, keys, window))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert hits == len(keys), (hits, len(keys))
    n = len(keys)
    return statistics.median(walls) / n * 1e6, statistics.median(cpus) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    keys = [cache_key({"prompt": f"prompt {i}"}) for i in range(args.prompts)]
    rows: list[tuple[str, float, float]] = []

    with tempfile.TemporaryDirectory() as directory:
        disk = DiskCache(directory)
        for key in keys:
            disk.set(key, VALUE)
        disk.flush()
        rows.append(("SQLite aget, one per prompt", *measure(disk, sequential, keys, args.window, args.runs)))
        rows.append(
            (
                f"SQLite aget_many, window {args.window}",
                *measure(disk, windowed, keys, args.window, args.runs),
            )
        )
        disk.close()

    with RedisServer() as server:
        redis = RedisCache(server.url)
        for start in range(0, len(keys), 1000):
            asyncio.run(_fill(redis, keys[start : start + 1000]))
        rows.append(
            ("Redis aget, sequential (one round trip each)", *measure(redis, sequential, keys, 0, args.runs))
        )
        rows.append(("Redis aget, 64 concurrent", *measure(redis, concurrent, keys, 0, args.runs)))
        for window in sorted({64, args.window, 1000}):
            label = f"Redis aget_many, window {window} (pipelined)"
            rows.append((label, *measure(redis, windowed, keys, window, args.runs)))
        layered = MemoryLayer(redis)
        asyncio.run(windowed(layered, keys, args.window))  # first pass fills the memory
        rows.append(
            ("Redis + memory, aget (rerun, all in memory)", *measure(layered, sequential, keys, 0, args.runs))
        )
        rows.append(
            (
                f"Redis + memory, aget_many window {args.window} (rerun)",
                *measure(layered, windowed, keys, args.window, args.runs),
            )
        )
        redis.close()

    width = max(len(r[0]) for r in rows)
    print(f"Cache hit cost per prompt ({args.prompts:,} prompts, median of {args.runs}; CPU: this process)")
    print(f"{'':{width}}  {'wall us/prompt':>14}  {'CPU us/prompt':>13}")
    for label, wall, cpu in rows:
        print(f"{label:{width}}  {wall:14.1f}  {cpu:13.1f}")


async def _fill(cache: RedisCache, keys: list[str]) -> None:
    await asyncio.gather(*(cache.aset(k, VALUE) for k in keys))


if __name__ == "__main__":
    main()
