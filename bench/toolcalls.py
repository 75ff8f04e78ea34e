"""A streamed tool call of 50 argument fragments vs a streamed answer of 50 text deltas.

    .venv/bin/python bench/toolcalls.py [-c 128] [-n 512] [--repeats 3] [--passes 3]

Both go through llmp's rich stream (``astream_events``) against the fake OpenAI server (its own
process) answering with ``chunk_count=50``: the text prompt's echo arrives as 50 content deltas,
the tool call as its head (id, name, empty arguments) and 50 ``arguments`` fragments. ``text``
through ``astream`` (text deltas only) is the reference. Each variant runs in a fresh process,
the variants interleaved over `--passes` passes (a shared machine's load drifts); the figure is
the client's CPU per request (median of a process's timed rounds, best pass), and its ratio to
``events-text``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from _common import Workload, fake_server, median, run_child

FRAGMENTS = 50
# Ten string fields: the fake's arguments are ~180 characters, enough for 50 fragments.
TOOL: dict[str, Any] = {
    "name": "record",
    "description": "Record a form.",
    "parameters": {
        "type": "object",
        "properties": {f"field_{i}": {"type": "string"} for i in range(10)},
        "required": [f"field_{i}" for i in range(10)],
    },
}
TEXT = " ".join(f"w{i}" for i in range(60))  # echoed as 61 words, sent as 50 deltas
VARIANTS = ("astream-text", "events-text", "events-tool")


async def _one(llm: Any, variant: str, i: int) -> int:
    """One request; the number of deltas (or argument fragments) it streamed."""
    count = 0
    if variant == "astream-text":
        async for _ in llm.astream(f"{i} {TEXT}"):
            count += 1
    elif variant == "events-text":
        async for chunk in llm.astream_events(f"{i} {TEXT}"):
            count += bool(chunk.text)
    else:
        async for chunk in llm.astream_events(f"call {i}", tools=[TOOL]):
            count += chunk.tool_call is not None and bool(chunk.tool_call.arguments)
    return count


async def _round(llm: Any, variant: str, n: int, c: int, start: int) -> list[int]:
    todo = iter(range(start, start + n))
    counts: list[int] = []

    async def worker() -> None:
        for i in todo:
            counts.append(await _one(llm, variant, i))

    await asyncio.gather(*(worker() for _ in range(c)))
    return counts


def child(variant: str, c: int, n: int, repeats: int) -> None:
    import llmp

    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=c)

    async def main() -> dict[str, Any]:
        await _round(llm, variant, 2 * c, c, 10**6)  # warm-up: imports, connections
        cpu: list[float] = []
        deltas: list[int] = []
        for r in range(repeats):
            t0 = time.process_time()
            counts = await _round(llm, variant, n, c, r * n)
            cpu.append((time.process_time() - t0) / n * 1000)
            deltas += counts
        return {"variant": variant, "cpu_ms": median(cpu), "deltas": median(deltas)}

    print(json.dumps(asyncio.run(main())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", type=int, default=128)
    parser.add_argument("-n", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.c, args.n, args.repeats)
        return
    workload = Workload(ttft=0.05, token_delay=0.002, chunks=FRAGMENTS)
    best: dict[str, dict[str, Any]] = {}
    with fake_server(workload) as server:
        for _ in range(args.passes):
            for variant in VARIANTS:
                cmd = ["bench/toolcalls.py", "--child", variant, "-c", str(args.c), "-n", str(args.n)]
                cmd += ["--repeats", str(args.repeats)]
                row = json.loads(run_child(cmd, server.env, timeout=900).splitlines()[-1])
                if variant not in best or row["cpu_ms"] < best[variant]["cpu_ms"]:
                    best[variant] = row
    rows = [best[v] for v in VARIANTS]
    base = next(r["cpu_ms"] for r in rows if r["variant"] == "events-text")
    print(f"c={args.c}, n={args.n}, {FRAGMENTS} deltas or fragments per request; client CPU per request")
    print(f"{'variant':<14} {'deltas':>6} {'CPU ms/req':>10} {'x events-text':>13}")
    for row in rows:
        print(
            f"{row['variant']:<14} {row['deltas']:>6.0f} {row['cpu_ms']:>10.2f} {row['cpu_ms'] / base:>13.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
