"""Instructions per request, counted by valgrind: a measure a shared machine's load cannot move.

    .venv/bin/python bench/instructions.py                      # this checkout
    .venv/bin/python bench/instructions.py --python ../before/.venv/bin/python --python .venv/bin/python

CPU time on a busy 2-core machine moves by +-20% between identical runs; the number of
instructions the client executes does not. Each workload runs in a fresh process under
``valgrind --tool=cachegrind --cache-sim=no`` twice, with 16 and with 16 + `--requests` requests
after the same warm-up (128 requests, c=128); the difference divided by `--requests` is the
instructions one request costs, imports and start-up excluded. Workloads, against the fake
OpenAI server in its own process (not counted):

- ``text-stream``: ``astream`` of a 28-word echo in 20 deltas; ``text-call``: ``agenerate``;
- ``events-text`` / ``events-tool``: ``astream_events`` of 50 text deltas / of a tool call in 50
  argument fragments (skipped for an llmp without ``astream_events``).

Every interpreter given runs every workload, so one table compares checkouts (``--python`` of
another checkout's venv). A run takes ~2 minutes per workload and interpreter.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import client_env

WORKLOADS = ("text-stream", "text-call", "events-text", "events-tool")
CLIENT = r"""
import asyncio, sys, llmp
workload, n = sys.argv[1], int(sys.argv[2])
FILL = " ".join(f"w{i}" for i in range(26))
TEXT = " ".join(f"w{i}" for i in range(60))
TOOL = {"name": "record", "description": "Record a form.", "parameters": {"type": "object",
        "properties": {f"field_{i}": {"type": "string"} for i in range(10)},
        "required": [f"field_{i}" for i in range(10)]}}
llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=128, timeout=3000)
if workload.startswith("events") and not hasattr(llm, "astream_events"):
    print("unsupported"); sys.exit(0)

async def one(i):
    if workload == "text-stream":
        async for _ in llm.astream(f"Request {i}: {FILL}"):
            pass
    elif workload == "events-text":
        async for _ in llm.astream_events(f"{i} {TEXT}"):
            pass
    else:
        async for _ in llm.astream_events(f"call {i}", tools=[TOOL]):
            pass

async def rounds(start, count):
    if workload == "text-call":
        await llm.agenerate([f"Request {i}: {FILL}" for i in range(start, start + count)])
        return
    todo = iter(range(start, start + count))
    async def worker():
        for i in todo:
            await one(i)
    await asyncio.gather(*(worker() for _ in range(128)))

async def main():
    await rounds(10**6, 128)
    await rounds(0, n)
asyncio.run(main())
print("ok")
"""
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def count(python: str, workload: str, n: int, env: dict[str, str]) -> int | None:
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    done = subprocess.run(
        [*cmd, python, "-c", CLIENT, workload, str(n)], env=env, capture_output=True, text=True, timeout=3600
    )
    if "unsupported" in done.stdout:
        return None
    match = _REFS.search(done.stderr)
    if done.returncode or "ok" not in done.stdout or match is None:
        raise RuntimeError(f"{python} {workload} {n} failed: {done.stderr[-2000:]}")
    return int(match[1].replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=None, help="an interpreter (repeatable)")
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    workloads = args.workloads.split(",")
    from llmp_openai.testing import FakeOpenAIServer

    servers = {
        20: FakeOpenAIServer.spawn(ttft=0.05, token_delay=0.005, chunk_count=20),
        50: FakeOpenAIServer.spawn(ttft=0.05, token_delay=0.002, chunk_count=50),
    }
    table: dict[str, dict[str, float | None]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="llmp-bench-ir-") as cache:
            for python in pythons:
                row = table.setdefault(python, {})
                for workload in workloads:
                    server = servers[20 if workload.startswith("text") else 50]
                    env = client_env(
                        server.base_url, str(server.ca_path), server.api_key or "sk-bench", cache
                    )
                    small = count(python, workload, 16, env)
                    big = count(python, workload, 16 + args.requests, env)
                    row[workload] = None if small is None or big is None else (big - small) / args.requests
    finally:
        for server in servers.values():
            server.stop()
    print(f"instructions per request (millions), {args.requests} requests at c=128, valgrind cachegrind")
    print(f"{'python':<44} " + " ".join(f"{w:>12}" for w in workloads))
    first = table[pythons[0]]
    for python in pythons:
        cells = []
        for w in workloads:
            value = table[python][w]
            base = first[w]
            ratio = f" ({value / base:.3f}x)" if value is not None and base and python != pythons[0] else ""
            cells.append(f"{value / 1e6:.2f}{ratio}" if value is not None else "-")
        print(f"{str(Path(python))[-44:]:<44} " + " ".join(f"{c:>12}" for c in cells))
    if "events-tool" in workloads and "events-text" in workloads:
        for python in pythons:
            tool, text = table[python]["events-tool"], table[python]["events-text"]
            if tool is not None and text:
                print(f"{str(Path(python))[-44:]}: events-tool / events-text = {tool / text:.3f}")
    print(json.dumps({p: table[p] for p in pythons}))


if __name__ == "__main__":
    main()
