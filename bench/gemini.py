"""Gemini: llmp against google-genai (both of its async transports) and the raw HTTP/2 floor.

    .venv/bin/python bench/gemini.py [-c 128] [-n 512] [--repeats 2] [--passes 2] [--mode both]

The fake Gemini server (``python -m llmp.testing.serve gemini``: TLS, HTTP/2, its own process)
serves the grid's workload: first byte after 50 ms, the echoed reply in 20 content chunks 5 ms
apart; a non-streamed reply arrives when the stream would have ended (145 ms), as the OpenAI
fake's do. Each client runs in its own fresh process, CPU per request as in ``cell.py``, and
every reply is checked against the echo:

- ``floor-h2``: raw ``httpx2.AsyncClient(http2=True)`` POSTs to ``:generateContent`` /
  ``:streamGenerateContent?alt=sse``, ``json.loads`` of the body / each SSE ``data:`` line.
- ``genai-aiohttp``: plain google-genai, ``client.aio.models.generate_content`` /
  ``generate_content_stream``, with its default async transport. google-genai 3.x sends async
  requests through aiohttp whenever aiohttp is importable and it was handed neither an
  ``httpx_async_client`` nor an ``async_client_args["transport"]`` (``BaseApiClient._use_aiohttp``):
  one HTTP/1.1 connection per request in flight (``TCPConnector(limit=0)``), no HTTP/2.
- ``genai-httpx2``: the same calls, google-genai handed
  ``HttpOptions(httpx_async_client=httpx2.AsyncClient(http2=True))`` (what llmp-gemini does).
- ``llmp``: ``LLM("gemini/gemini-2.5-flash")``: ``agenerate(prompts)``, or ``astream(prompt)``
  per prompt, c at a time.

The SDK rows keep google-genai's other defaults (no retry options, automatic function calling
on), which is what a plain user of the SDK gets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import report
from _common import Server, Workload, bytecode_env, run_child
from cell import measure, summarize
from clients import MAX_CONNECTIONS, TIMEOUT, Llmp, Result, pool

MODEL = "gemini-2.5-flash"  # the fake serves any model name; llmp-gemini prices this one
API_VERSION = "v1beta"  # google-genai's default, so the floor hits the same URL as the SDK


def _httpx2_client() -> Any:
    import httpx2

    limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    return httpx2.AsyncClient(http2=True, limits=limits, timeout=httpx2.Timeout(TIMEOUT))


def _text(payload: dict[str, Any]) -> str:
    """The first candidate's text in one generateContent response or stream event."""
    candidates = payload.get("candidates") or ()
    if not candidates:
        return ""
    parts = (candidates[0].get("content") or {}).get("parts") or ()
    return "".join(part.get("text", "") for part in parts if not part.get("thought"))


class FloorH2:
    """The floor: raw httpx2 over HTTP/2; ``json.loads`` of the body, or of each SSE ``data:`` line."""

    def __init__(self, concurrency: int) -> None:
        self.http = _httpx2_client()
        base = f"{os.environ['GEMINI_BASE_URL'].rstrip('/')}/{API_VERSION}/models/{MODEL}"
        self.call_url = f"{base}:generateContent"
        self.stream_url = f"{base}:streamGenerateContent?alt=sse"
        self.headers = {"x-goog-api-key": os.environ["GEMINI_API_KEY"], "content-type": "application/json"}

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    @staticmethod
    def body(prompt: str) -> str:
        return json.dumps({"contents": [{"role": "user", "parts": [{"text": prompt}]}]})

    async def call(self, prompt: str) -> Result:
        response = await self.http.post(self.call_url, content=self.body(prompt), headers=self.headers)
        response.raise_for_status()  # an error body would otherwise surface as a confusing KeyError
        return None, _text(json.loads(response.content))

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        request = self.http.stream("POST", self.stream_url, content=self.body(prompt), headers=self.headers)
        async with request as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                text = _text(json.loads(line[5:]))
                if text:
                    if ttft is None:
                        ttft = perf_counter() - started
                    parts.append(text)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        await self.http.aclose()


class GenAI:
    """google-genai's documented async calls; ``http2=True`` hands it an httpx2 HTTP/2 client."""

    def __init__(self, concurrency: int, *, http2: bool) -> None:
        from google import genai
        from google.genai import types

        self.http = _httpx2_client() if http2 else None
        options = types.HttpOptions(base_url=os.environ["GEMINI_BASE_URL"], httpx_async_client=self.http)
        # vertexai=False: an ambient GOOGLE_GENAI_USE_VERTEXAI must not send these calls elsewhere.
        self.sdk = genai.Client(api_key=os.environ["GEMINI_API_KEY"], vertexai=False, http_options=options)
        # Say which transport the SDK picked, so the table can never silently measure another one.
        picked = "aiohttp" if self.sdk._api_client._use_aiohttp() else "httpx"
        if picked != ("httpx" if http2 else "aiohttp"):
            raise RuntimeError(f"google-genai chose {picked} for http2={http2}")

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    async def call(self, prompt: str) -> Result:
        response = await self.sdk.aio.models.generate_content(model=MODEL, contents=prompt)
        return None, response.text or ""

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        async for chunk in await self.sdk.aio.models.generate_content_stream(model=MODEL, contents=prompt):
            text = chunk.text
            if text:
                if ttft is None:
                    ttft = perf_counter() - started
                parts.append(text)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        await self.sdk.aio.aclose()
        if self.http is not None:
            await self.http.aclose()


class LlmpGemini(Llmp):
    """``clients.Llmp`` (same run/stream) on the Gemini route."""

    def __init__(self, concurrency: int) -> None:
        import llmp

        self.llm = llmp.LLM(f"gemini/{MODEL}", cache=False, max_concurrent=concurrency)
        # No progress bar (on by default when stderr is a terminal): nobody else draws one.
        progress = "progress" in inspect.signature(self.llm.agenerate).parameters
        self.quiet = {"progress": False} if progress else {}


CLIENTS: dict[str, Any] = {
    "floor-h2": FloorH2,
    "genai-aiohttp": lambda c: GenAI(c, http2=False),
    "genai-httpx2": lambda c: GenAI(c, http2=True),
    "llmp": LlmpGemini,
}
MODES = {"both": (True, False), "stream": (True,), "non-stream": (False,)}
COLUMNS = (
    ("client", "client", "{}"),
    ("mode", "mode", "{}"),
    ("cpu_ms_per_req", "CPU ms/req", "{:.2f}"),
    ("x_floor", "x floor", "{:.2f}"),
    ("wall_s", "wall s", "{:.2f}"),
    ("ttft_p50_ms", "TTFT p50 ms", "{:.0f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("in_flight", "in flight", "{}"),
    ("server_cpu_util", "srv CPU", "{:.0%}"),
    ("connections", "conns", "{}"),
)


@contextlib.contextmanager
def gemini_server(workload: Workload) -> Iterator[Server]:
    """Spawn the fake Gemini server in a child process; ``env`` is what a client process needs."""
    from llmp.testing.serve import spawn

    handle = spawn(
        "gemini",
        ttft=workload.ttft,
        token_delay=workload.token_delay,
        chunk_count=workload.chunks,
        # The Gemini fake answers a non-streamed request after ttft alone; this makes it take the
        # whole generation, as the OpenAI grid's non-streamed rows do (Workload.latency).
        non_stream_delay=workload.latency - workload.ttft,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="llmp-bench-cache-") as cache_dir:
            # Nothing from the caller's environment may redirect or re-key the clients.
            prefixes = ("OPENAI_", "LLMP_", "LLM_", "GEMINI_", "GOOGLE_")
            env = {k: v for k, v in bytecode_env().items() if not k.startswith(prefixes)}
            env.update(
                SSL_CERT_FILE=str(handle.ca_path),
                GEMINI_BASE_URL=handle.base_url,
                GEMINI_API_KEY=handle.api_key or "AIzaBench",
                LLMP_PLUGINS="gemini",
                LLMP_CACHE_DIR=cache_dir,
                PYTHONHASHSEED="0",
                BENCH_SERVER_PID=str(handle.pid),
            )
            yield Server(handle, env)
    finally:
        handle.stop()


def child(name: str, c: int, n: int, repeats: int, stream: bool) -> None:
    args = argparse.Namespace(client=name, stream=stream, concurrency=c, requests=n, repeats=repeats)
    client = CLIENTS[name](c)
    print(json.dumps(summarize(asyncio.run(measure(client, args)), args, 0.0)), flush=True)


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    floors = {r["mode"]: r.get("cpu_ms_per_req") for r in rows if r["client"] == "floor-h2"}
    for row in rows:
        cpu, floor = row.get("cpu_ms_per_req"), floors.get(row.get("mode"))
        row["x_floor"] = cpu / floor if cpu and floor else None
    return rows


def caption(result: dict[str, Any]) -> str:
    w = Workload(**result.get("workload", {}))
    return (
        f"Fake Gemini server (own process, TLS, HTTP/2): first byte after {w.ttft * 1000:.0f} ms, "
        f"{w.chunks} chunks {w.token_delay * 1000:.0f} ms apart (non-streamed: {w.latency * 1000:.0f} ms), "
        f"every echoed reply checked; c={result['c']}, n={result['n']}, median of {result['repeats']} "
        "timed rounds, each client in a fresh process, interleaved over passes."
    )


def markdown(result: dict[str, Any]) -> str:
    return caption(result) + "\n\n" + report.markdown_table(result["rows"], COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--concurrency", type=int, default=128)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per process")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes over the clients")
    parser.add_argument("--mode", choices=sorted(MODES), default="both")
    parser.add_argument("--clients", default=None, help=f"from {list(CLIENTS)}")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--stream", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.concurrency, args.requests, args.repeats, args.stream)
        return
    names = args.clients.split(",") if args.clients else list(CLIENTS)
    unknown = set(names) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; choose from {list(CLIENTS)}")
    rows = []
    workload = Workload()
    with gemini_server(workload) as server:
        # Passes interleave the clients (A B C A B C), so a noisy neighbour hits them all alike.
        for stream in [s for _ in range(args.passes) for s in MODES[args.mode]]:
            for name in names:
                cmd = ["bench/gemini.py", "--stream" if stream else "--no-stream", "--child", name]
                cmd += ["-c", str(args.concurrency), "-n", str(args.requests), "--repeats", str(args.repeats)]
                server.handle.reset()  # so max_in_flight is this process's
                try:
                    row = json.loads(run_child(cmd, server.env, timeout=900).splitlines()[-1])
                except Exception as exc:
                    print(f"{name} failed: {exc!r}", file=sys.stderr)
                    mode = "stream" if stream else "non-stream"
                    row = {"client": name, "mode": mode, "c": args.concurrency, "error": repr(exc)}
                else:
                    row["in_flight"] = server.max_in_flight()
                rows.append(row)
    rows = ratios(report.merge(rows))
    rows.sort(key=lambda r: (r.get("mode") != "stream", names.index(r["client"])))
    rounds = args.repeats * args.passes
    result: dict[str, Any] = {"c": args.concurrency, "n": args.requests, "repeats": rounds}
    result["passes"] = args.passes
    result.update(workload=dataclasses.asdict(workload), rows=rows)
    print(caption(result))
    print(report.text_table(rows, COLUMNS))
    if args.json:
        args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
