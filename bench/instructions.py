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
  argument fragments (skipped for an llmp without ``astream_events``);
- ``gemini-stream`` / ``gemini-call``: ``text-stream`` / ``text-call`` on
  ``gemini/gemini-2.5-flash`` against the fake Gemini server (same 20-delta reply; not run unless
  named in ``--workloads``).

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
from typing import Any

from _common import client_env

WORKLOADS = ("text-stream", "text-call", "events-text", "events-tool")
GEMINI_WORKLOADS = ("gemini-stream", "gemini-call")
CLIENT = r"""
import asyncio, sys, llmp
workload, n = sys.argv[1], int(sys.argv[2])
gemini = workload.startswith("gemini-")
workload = workload.replace("gemini-", "text-")
FILL = " ".join(f"w{i}" for i in range(26))
TEXT = " ".join(f"w{i}" for i in range(60))
TOOL = {"name": "record", "description": "Record a form.", "parameters": {"type": "object",
        "properties": {f"field_{i}": {"type": "string"} for i in range(10)},
        "required": [f"field_{i}" for i in range(10)]}}
model = "gemini/gemini-2.5-flash" if gemini else "gpt-4.1-mini"
llm = llmp.LLM(model, cache=False, max_concurrent=128, timeout=3000)
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


def _server_kind(workload: str) -> str:
    if workload.startswith("gemini"):
        return "gemini-20"
    return "openai-20" if workload.startswith("text") else "openai-50"


def gemini_env(env: dict[str, str], base_url: str, api_key: str) -> dict[str, str]:
    """``env`` pointed at the fake Gemini server instead (nothing else may re-key the client)."""
    env = {k: v for k, v in env.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    return env | {"GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": api_key, "LLMP_PLUGINS": "gemini"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=None, help="an interpreter (repeatable)")
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    workloads = args.workloads.split(",")
    from llmp.testing.serve import spawn
    from llmp_openai.testing import FakeOpenAIServer

    # One server per reply shape, spawned only if a workload needs it.
    needed = {_server_kind(w) for w in workloads}
    starters: dict[str, Any] = {
        "openai-20": lambda: FakeOpenAIServer.spawn(ttft=0.05, token_delay=0.005, chunk_count=20),
        "openai-50": lambda: FakeOpenAIServer.spawn(ttft=0.05, token_delay=0.002, chunk_count=50),
        "gemini-20": lambda: spawn("gemini", ttft=0.05, token_delay=0.005, chunk_count=20),
    }
    servers = {kind: starters[kind]() for kind in sorted(needed)}
    table: dict[str, dict[str, float | None]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="llmp-bench-ir-") as cache:
            for python in pythons:
                row = table.setdefault(python, {})
                for workload in workloads:
                    kind = _server_kind(workload)
                    server = servers[kind]
                    env = client_env(
                        server.base_url, str(server.ca_path), server.api_key or "sk-bench", cache
                    )
                    if kind.startswith("gemini"):
                        env = gemini_env(env, server.base_url, server.api_key or "AIzaBench")
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
