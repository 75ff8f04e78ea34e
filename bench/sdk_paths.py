"""Streaming through the openai SDK: an object per chunk, or the raw response and our own SSE parsing?

    .venv/bin/python bench/sdk_paths.py [-c 128] [-n 512] [--repeats 3] [--no-stream]

The same streamed workload (20 content deltas per request, c=128, n=512, HTTP/2 everywhere), each
path in its own fresh process, CPU per request as in ``cell.py``:

- ``floor``: raw httpx2, ``aiter_lines`` + ``json.loads`` (no SDK).
- ``sdk-objects``: ``chat.completions.create(stream=True)``: a pydantic ``ChatCompletionChunk``
  per event (the SDK's documented path).
- ``sdk-streaming-lines``: ``chat.completions.with_streaming_response.create(stream=True)``,
  ``iter_lines()`` + ``json.loads``.
- ``sdk-raw-post``: ``sdk.post("/chat/completions", cast_to=httpx2.Response, body=..., stream=True)``,
  ``aiter_bytes()`` split on newlines + ``json.loads``: what llmp-openai does today.
- ``sdk-raw-content``: the same with the body serialized by us (``content=`` bytes), skipping the
  SDK's request-body transform.
- ``llmp``: ``LLM.astream`` (the raw-post path plus llmp's core), for reference.

``--no-stream`` measures the same paths without streaming (``json.loads`` of the body; no
``sdk-streaming-lines``): floor -> sdk-raw-post is the SDK's request overhead, sdk-raw-post ->
llmp is llmp's own (core + plugin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

import report
from _common import MODEL, Workload, fake_server, messages, run_child
from cell import measure, summarize
from clients import STREAM_OPTIONS, Floor, Llmp, OpenAISDK, Result


class _SDKBase(OpenAISDK):
    def __init__(self, concurrency: int) -> None:
        super().__init__(concurrency, http2=True)

    async def run(self, prompts: list[str], concurrency: int, stream: bool) -> list[Result]:
        from clients import pool

        return await pool(prompts, concurrency, self.stream if stream else self.call)

    def body(self, prompt: str, stream: bool = True) -> dict[str, Any]:
        if not stream:
            return {"model": MODEL, "messages": messages(prompt)}
        return {
            "model": MODEL,
            "messages": messages(prompt),
            "stream": True,
            "stream_options": STREAM_OPTIONS,
        }


def _collect(payload: bytes | str, state: list[Any], started: float) -> None:
    for choice in json.loads(payload)["choices"]:
        content = choice["delta"].get("content")
        if content:
            if state[0] is None:
                state[0] = perf_counter() - started
            state.append(content)


class StreamingLines(_SDKBase):
    async def stream(self, prompt: str) -> Result:
        started, state = perf_counter(), [None]
        create = self.sdk.chat.completions.with_streaming_response.create
        async with create(
            model=MODEL, messages=messages(prompt), stream=True, stream_options=STREAM_OPTIONS
        ) as response:
            async for line in response.iter_lines():
                if line.startswith("data:") and (payload := line[5:].strip()) != "[DONE]":
                    _collect(payload, state, started)
        return state[0], "".join(state[1:])


class RawPost(_SDKBase):
    content = False

    def kwargs(self, prompt: str, stream: bool) -> dict[str, Any]:
        if self.content:
            return {
                "content": json.dumps(self.body(prompt, stream)).encode(),
                "options": {"headers": {"content-type": "application/json"}},
            }
        return {"body": self.body(prompt, stream)}

    async def call(self, prompt: str) -> Result:
        import httpx2

        raw = await self.sdk.post("/chat/completions", cast_to=httpx2.Response, **self.kwargs(prompt, False))
        return None, json.loads(raw.content)["choices"][0]["message"]["content"]

    async def stream(self, prompt: str) -> Result:
        import httpx2

        started, state = perf_counter(), [None]
        kwargs = self.kwargs(prompt, True)
        raw = await self.sdk.post(
            "/chat/completions", cast_to=httpx2.Response, stream=True, stream_cls=None, **kwargs
        )
        try:
            buffer = b""
            async for data in raw.aiter_bytes():
                buffer = buffer + data if buffer else data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line[:5] == b"data:" and (payload := line[5:].strip()) != b"[DONE]":
                        _collect(payload, state, started)
        finally:
            await raw.aclose()
        return state[0], "".join(state[1:])


class RawContent(RawPost):
    content = True


PATHS: dict[str, Any] = {
    "floor": Floor,
    "sdk-objects": _SDKBase,
    "sdk-streaming-lines": StreamingLines,
    "sdk-raw-post": RawPost,
    "sdk-raw-content": RawContent,
    "llmp": Llmp,
}
COLUMNS = (
    ("client", "path", "{}"),
    ("cpu_ms_per_req", "CPU ms/req", "{:.2f}"),
    ("x_floor", "x floor", "{:.2f}"),
    ("x_objects", "x sdk-objects", "{:.2f}"),
    ("wall_s", "wall s", "{:.2f}"),
    ("ttft_p50_ms", "TTFT p50 ms", "{:.0f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
)


def child(path: str, c: int, n: int, repeats: int, stream: bool) -> None:
    args = argparse.Namespace(client=path, stream=stream, concurrency=c, requests=n, repeats=repeats)
    client = PATHS[path](c)
    print(json.dumps(summarize(asyncio.run(measure(client, args)), args, 0.0)), flush=True)


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = {r["client"]: r["cpu_ms_per_req"] for r in rows if "cpu_ms_per_req" in r}
    for row in rows:
        cpu = row.get("cpu_ms_per_req")
        row["x_floor"] = cpu / base["floor"] if cpu and base.get("floor") else None
        row["x_objects"] = cpu / base["sdk-objects"] if cpu and base.get("sdk-objects") else None
    return rows


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    mode = "Streamed, 20 deltas per request" if result.get("stream", True) else "Not streamed"
    return (
        f"{mode}, c={result['c']}, n={result['n']}, median of {result['repeats']} timed rounds; "
        "each path in a fresh process, the paths interleaved over passes.\n\n"
        + report.markdown_table(rows, COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--concurrency", type=int, default=128)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per process")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes over the paths")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--paths", default=None, help=f"from {list(PATHS)}")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.concurrency, args.requests, args.repeats, args.stream)
        return
    paths = (
        args.paths.split(",")
        if args.paths
        else [p for p in PATHS if args.stream or p != "sdk-streaming-lines"]
    )
    rows = []
    with fake_server(Workload()) as server:
        # Passes interleave the paths (A B C A B C), so a noisy neighbour hits them all alike.
        for path in [p for _ in range(args.passes) for p in paths]:
            cmd = [
                "bench/sdk_paths.py",
                "--stream" if args.stream else "--no-stream",
                "--child",
                path,
                "-c",
                str(args.concurrency),
                "-n",
                str(args.requests),
                "--repeats",
                str(args.repeats),
            ]
            try:
                rows.append(json.loads(run_child(cmd, server.env, timeout=900).splitlines()[-1]))
            except Exception as exc:
                print(f"{path} failed: {exc!r}", file=sys.stderr)
                rows.append({"client": path, "error": repr(exc)})
    rows = ratios(report.merge(rows))
    mode = "streaming" if args.stream else "non-streaming"
    rounds = args.repeats * args.passes
    print(
        f"SDK {mode} paths: c={args.concurrency}, n={args.requests}, "
        f"median of {rounds} rounds in {args.passes} passes"
    )
    print(report.text_table(rows, COLUMNS))
    if args.json:
        result = {"c": args.concurrency, "n": args.requests, "repeats": rounds, "rows": rows}
        result["stream"] = args.stream
        args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
