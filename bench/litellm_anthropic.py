"""llmp through llmp-litellm to the fake Anthropic server: CPU per request, calls and streams.

    .venv/bin/python bench/litellm_anthropic.py                  # c=32, 512 requests, 3 repeats
    .venv/bin/python bench/litellm_anthropic.py -c 64 -n 1024 --repeats 5

The fake (ttft 50 ms, 20 deltas 5 ms apart, as in `bench/run.py`) runs in its own process;
each cell runs in a fresh process (warm-up first: litellm's import and first connections are not
timed) and reports the process CPU time of the timed requests, all threads included (litellm's
own loop thread is where most of it goes), per request. It uses only the API that llmp had before
contract v2 too (``LLM(...)``, ``agenerate``, ``astream``), so the same file measures an older
checkout: run it there with ``--modes call,stream`` and compare the tables. The ``tools`` mode
streams a tool call whose arguments come in 20 ``input_json_delta`` fragments, to compare with 20
text deltas.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODEL = "anthropic/claude-sonnet-4-6"
_FILLER = " ".join(f"w{i}" for i in range(26))


def prompt(i: int) -> str:
    return f"Request {i}: {_FILLER}"


async def _timed(mode: str, concurrency: int, count: int) -> dict[str, float]:
    import llmp

    llm = llmp.LLM(MODEL, cache=False, max_concurrent=concurrency, max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one_stream(i: int) -> str:
        async with gate:
            return "".join([piece async for piece in llm.astream(prompt(i))])

    def describe(summary: str) -> str:
        """Store a summary of a text (the fake calls it with a 20-word example)."""
        return summary

    tool = {
        "name": "describe",
        "description": "Store a summary.",
        "parameters": {
            "type": "object",
            "properties": {"summary": {"type": "string", "enum": [" ".join(["word"] * 20)]}},
            "required": ["summary"],
        },
    }

    async def one_tool_stream(i: int) -> str:
        async with gate:
            events = llm.astream_events(prompt(i), tools=[tool])
            fragments = [c async for c in events if c.tool_call is not None]
            assert len(fragments) == 20, len(fragments)  # the arguments in 20 fragments
            return "Echo: Request" if events.response.tool_calls[0].args() else ""

    async def run(start: int, n: int) -> None:
        prompts = [prompt(start + i) for i in range(n)]
        if mode == "call":
            results = await llm.agenerate(prompts)
            assert all(r[0].startswith("Echo: Request") for r in results)
        else:
            one = one_tool_stream if mode == "tools" else one_stream
            texts = await asyncio.gather(*(one(start + i) for i in range(n)))
            assert all(t.startswith("Echo: Request") for t in texts)

    await run(10_000_000, min(count, 2 * concurrency))  # warm-up: imports, connections
    cpu, wall = time.process_time(), time.perf_counter()
    await run(0, count)
    return {
        "cpu_ms": (time.process_time() - cpu) * 1000 / count,
        "wall_s": time.perf_counter() - wall,
    }


def _cell(mode: str, concurrency: int, count: int) -> None:
    print(json.dumps(asyncio.run(_timed(mode, concurrency, count))), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="call,stream,tools",
        help="call, stream (20 text deltas), tools (a streamed tool call in 20 argument fragments; "
        "contract v2 only)",
    )
    parser.add_argument("--cell", nargs=3, metavar=("MODE", "C", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        mode, c, n = args.cell
        return _cell(mode, int(c), int(n))

    from llmp.testing.serve import spawn

    with spawn("anthropic", ttft=0.05, token_delay=0.005, chunk_count=20) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMP_"))}
        env.update(
            SSL_CERT_FILE=str(server.ca_path),
            ANTHROPIC_BASE_URL=server.base_url,
            ANTHROPIC_API_KEY=server.api_key or "sk-ant-bench",
            LLMP_PLUGINS="litellm",
            LLMP_CACHE_DIR=tempfile.mkdtemp(prefix="llmp-bench-"),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rows = []
        for mode in args.modes.split(","):
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, __file__, "--cell", mode, str(args.concurrency), str(args.requests)],
                    env=env,
                    stdout=subprocess.PIPE,
                    check=True,
                    timeout=600,
                ).stdout.decode()
                runs.append(json.loads(out.strip().splitlines()[-1]))
            rows.append(
                (
                    mode,
                    statistics.median(r["cpu_ms"] for r in runs),
                    statistics.median(r["wall_s"] for r in runs),
                    [round(r["cpu_ms"], 2) for r in runs],
                )
            )
    print(f"\nllmp -> llmp-litellm -> fake Anthropic, c={args.concurrency}, {args.requests} requests")
    print(f"{'mode':8} {'CPU ms/req':>11} {'wall s':>8}  runs (CPU ms/req)")
    for mode, cpu, wall, runs in rows:
        print(f"{mode:8} {cpu:11.2f} {wall:8.2f}  {runs}")


if __name__ == "__main__":
    main()
