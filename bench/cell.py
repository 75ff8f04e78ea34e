"""Measure one grid cell (client x mode x concurrency) in this fresh process; print one JSON line.

    python bench/cell.py llmp --stream -c 128 -n 512 --repeats 3

The environment names the server (see ``_common.client_env``). Order: import and construct the
client (not timed), one warm-up round of ``max(4, c)`` requests at concurrency ``c`` (opens every
connection the timed rounds will use), then ``--repeats`` timed rounds of ``n`` requests. Only
the timed rounds count: process CPU (``time.process_time``, all threads), wall time, TTFT of each
streamed request, and the fake server's CPU over the same interval (to tell when it, not the
client, was the bottleneck). Peak RSS is the process's high-water mark. Every reply is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import time
from collections import Counter
from typing import Any

from _common import expected, median, percentile, proc_cpu, prompt, tokens
from clients import CLIENTS


def describe_connections() -> str:
    """Open connections by protocol, found on the heap: ``h2:1``, ``h1:128``, ``aiohttp-h1:64``."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        name, module = kind.__name__, kind.__module__
        try:
            if name == "AsyncHTTP2Connection" and module.startswith("httpcore"):
                counts["h2"] += not obj.is_closed()
            elif name == "AsyncHTTP11Connection" and module.startswith("httpcore"):
                counts["h1"] += not obj.is_closed()
            elif name == "ResponseHandler" and module.startswith("aiohttp"):
                counts["aiohttp-h1"] += bool(obj.is_connected())
        except Exception:  # a half-built object: not a live connection
            continue
    return " ".join(f"{k}:{v}" for k, v in sorted(counts.items()) if v) or "?"


async def measure(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    server_pid = int(os.environ["BENCH_SERVER_PID"]) if "BENCH_SERVER_PID" in os.environ else None
    warm = [prompt(-1 - i) for i in range(max(4, args.concurrency))]
    await client.run(warm, args.concurrency, args.stream)
    rounds = []
    for repeat in range(args.repeats):
        prompts = [prompt(repeat * args.requests + i) for i in range(args.requests)]
        server0 = proc_cpu(server_pid)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await client.run(prompts, args.concurrency, args.stream)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        server1 = proc_cpu(server_pid)
        bad = [i for i, (_, text) in enumerate(results) if text != expected(prompts[i])]
        if bad:
            raise AssertionError(f"{len(bad)} wrong replies, first: {results[bad[0]][1]!r}")
        ttfts = [t for t, _ in results if t is not None]
        if args.stream and len(ttfts) != len(results):
            raise AssertionError("a streamed request produced no content delta")
        rounds.append(
            {
                "cpu_s": cpu,
                "wall_s": wall,
                "server_cpu_s": None if server0 is None or server1 is None else server1 - server0,
                "tokens": sum(tokens(text) for _, text in results),
                "ttfts": ttfts,
            }
        )
    connections = describe_connections()
    await client.aclose()
    return {"rounds": rounds, "connections": connections}


def summarize(raw: dict[str, Any], args: argparse.Namespace, setup_cpu: float) -> dict[str, Any]:
    rounds = raw["rounds"]
    n = args.requests
    ttfts = [t for r in rounds for t in r["ttfts"]]  # pooled over the repeats
    wall = median([r["wall_s"] for r in rounds])
    server = [r["server_cpu_s"] / r["wall_s"] for r in rounds if r["server_cpu_s"] is not None]
    return {
        "client": args.client,
        "mode": "stream" if args.stream else "non-stream",
        "c": args.concurrency,
        "n": n,
        "repeats": args.repeats,
        "cpu_ms_per_req": median([r["cpu_s"] / n * 1000 for r in rounds]),
        "cpu_ms_per_req_all": [r["cpu_s"] / n * 1000 for r in rounds],
        "wall_s": wall,
        "wall_s_all": [r["wall_s"] for r in rounds],
        "tokens_per_s": median([r["tokens"] / r["wall_s"] for r in rounds]),
        "ttft_p50_ms": None if not ttfts else percentile(ttfts, 50) * 1000,  # type: ignore[operator]
        "ttft_p95_ms": None if not ttfts else percentile(ttfts, 95) * 1000,  # type: ignore[operator]
        "server_cpu_util": median(server) if server else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "setup_cpu_s": setup_cpu,
        "connections": raw["connections"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("-c", "--concurrency", type=int, default=128)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cpu0 = time.process_time()
    client = CLIENTS[args.client](args.concurrency)  # imports the SDK
    setup_cpu = time.process_time() - cpu0
    raw = asyncio.run(measure(client, args))
    print(json.dumps(summarize(raw, args, setup_cpu)), flush=True)


if __name__ == "__main__":
    main()
