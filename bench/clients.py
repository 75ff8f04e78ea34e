"""The clients measured, all against the same fake server and with the same requests.

Each client has ``async run(prompts, concurrency, stream) -> list[Result]`` (one ``(ttft, text)``
per prompt, in order; ``ttft`` is seconds to the first content delta, None when not streaming)
and ``aclose()``. Constructing one imports its SDK, so the harness does that outside the timed
section. Everything but llmp's non-streaming path is driven by the same `pool`: ``concurrency``
workers pulling prompts from one iterator (llmp's ``agenerate`` does the same internally).

The environment gives the server: ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Any

from _common import MODEL, messages

Result = tuple[float | None, str]
STREAM_OPTIONS = {"include_usage": True}  # every client asks for the same wire: usage in the stream
TIMEOUT = 600.0  # a CPU-bound client at c=512 queues for a long time; never time out in the pool
MAX_CONNECTIONS = 4096  # HTTP/1.1 needs one connection per request in flight; HTTP/2 opens few


async def pool(
    prompts: Sequence[str], concurrency: int, one: Callable[[str], Awaitable[Result]]
) -> list[Result]:
    results: list[Any] = [None] * len(prompts)
    items = iter(enumerate(prompts))

    async def worker() -> None:
        for index, text in items:
            results[index] = await one(text)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(prompts)))))
    return results


def _httpx2_client(http2: bool) -> Any:
    import httpx2

    limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    return httpx2.AsyncClient(http2=http2, limits=limits, timeout=httpx2.Timeout(TIMEOUT))


class Floor:
    """The floor: raw httpx2 POST; ``json.loads`` of the body, or of each SSE ``data:`` line."""

    drain = False  # read a stream past [DONE] to its end (see FloorDrained)

    def __init__(self, concurrency: int, *, http2: bool = True) -> None:
        self.http = _httpx2_client(http2)
        self.url = os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions"
        self.headers = {
            "authorization": f"Bearer {os.environ['OPENAI_API_KEY']}",
            "content-type": "application/json",
        }

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    async def call(self, prompt: str) -> Result:
        body = json.dumps({"model": MODEL, "messages": messages(prompt)})
        response = await self.http.post(self.url, content=body, headers=self.headers)
        return None, json.loads(response.content)["choices"][0]["message"]["content"]

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        body = json.dumps(
            {"model": MODEL, "messages": messages(prompt), "stream": True, "stream_options": STREAM_OPTIONS}
        )
        async with self.http.stream("POST", self.url, content=body, headers=self.headers) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    if self.drain:
                        continue  # no break: the loop ends with the body
                    break
                for choice in json.loads(payload)["choices"]:
                    content = choice["delta"].get("content")
                    if content:
                        if ttft is None:
                            ttft = perf_counter() - started
                        parts.append(content)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        await self.http.aclose()


class FloorDrained(Floor):
    """The floor, but each streamed body is read to its end instead of dropped at ``[DONE]``.

    An HTTP/1.1 connection whose response was not read to the end cannot carry another request,
    so httpcore2 closes it: `Floor` over HTTP/1.1 opens a new connection (TLS handshake included)
    for every streamed request. Reading the end of the body (nothing but the terminating chunk
    follows ``[DONE]``) returns the connection to the pool, as a client that consumes the whole
    response does. Over HTTP/2 the difference is one more read of the stream's last frame.
    """

    drain = True


class FloorLanes:
    """A floor client spread over ``lanes`` httpx2 clients, each on its own HTTP/2 connection.

    httpcore2 never opens a second HTTP/2 connection to one origin, so N connections need N
    clients. Each request goes to the lane with the fewest requests in flight (llmp-openai's
    policy), so the lanes share the load evenly at any concurrency. A lane is a plain ``lane(c)``
    (`Floor` or `FloorDrained`): requests, parsing and replies are its own, only the spreading is
    added.
    """

    def __init__(self, concurrency: int, *, lanes: int, lane: Callable[[int], Floor] = Floor) -> None:
        self.lanes = [lane(concurrency) for _ in range(lanes)]
        self.in_flight = [0] * lanes

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    def _pick(self) -> int:
        return min(range(len(self.lanes)), key=self.in_flight.__getitem__)

    async def call(self, prompt: str) -> Result:
        lane = self._pick()
        self.in_flight[lane] += 1
        try:
            return await self.lanes[lane].call(prompt)
        finally:
            self.in_flight[lane] -= 1

    async def stream(self, prompt: str) -> Result:
        lane = self._pick()
        self.in_flight[lane] += 1
        try:
            return await self.lanes[lane].stream(prompt)
        finally:
            self.in_flight[lane] -= 1

    async def aclose(self) -> None:
        for lane in self.lanes:
            await lane.aclose()


class OpenAISDK:
    """The plain openai SDK: ``chat.completions.create``, pydantic objects per response / chunk."""

    def __init__(self, concurrency: int, *, http2: bool) -> None:
        import openai

        self.sdk = openai.AsyncOpenAI(http_client=_httpx2_client(http2), max_retries=0)

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    async def call(self, prompt: str) -> Result:
        completion = await self.sdk.chat.completions.create(model=MODEL, messages=messages(prompt))
        return None, completion.choices[0].message.content or ""

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        chunks = await self.sdk.chat.completions.create(
            model=MODEL, messages=messages(prompt), stream=True, stream_options=STREAM_OPTIONS
        )
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    if ttft is None:
                        ttft = perf_counter() - started
                    parts.append(choice.delta.content)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        await self.sdk.close()


class LiteLLM:
    """``litellm.acompletion`` with its defaults (its own HTTP transport and connection reuse)."""

    def __init__(self, concurrency: int) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no network
        import litellm

        litellm.suppress_debug_info = True
        self.acompletion = litellm.acompletion
        self.kwargs = {
            "model": f"openai/{MODEL}",
            "api_base": os.environ["OPENAI_BASE_URL"],
            "api_key": os.environ["OPENAI_API_KEY"],
        }

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        return await pool(prompts, concurrency, self.stream if stream else self.call)

    async def call(self, prompt: str) -> Result:
        response = await self.acompletion(messages=messages(prompt), **self.kwargs)
        return None, response.choices[0].message.content or ""

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        chunks = await self.acompletion(
            messages=messages(prompt), stream=True, stream_options=STREAM_OPTIONS, **self.kwargs
        )
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    if ttft is None:
                        ttft = perf_counter() - started
                    parts.append(choice.delta.content)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        import litellm

        close = getattr(litellm, "close_litellm_async_clients", None)
        if close is not None:
            await close()
        # litellm leaves logging callbacks scheduled; let them finish instead of warning at exit.
        pending = asyncio.all_tasks() - {asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=5)


class Llmp:
    """llmp: ``agenerate(prompts)``; streaming is ``astream(prompt)`` per prompt, c at a time.

    ``astream`` is llmp's only streaming entry point (``agenerate`` does not stream), so the
    streaming rows drive it with the same worker pool as the other clients.
    """

    def __init__(self, concurrency: int) -> None:
        import llmp

        self.llm = llmp.LLM(MODEL, cache=False, max_concurrent=concurrency)
        # No progress bar (it is on by default when stderr is a terminal): nobody else draws one.
        self.quiet = (
            {"progress": False} if "progress" in inspect.signature(self.llm.agenerate).parameters else {}
        )

    async def run(self, prompts: Sequence[str], concurrency: int, stream: bool) -> list[Result]:
        if stream:
            return await pool(prompts, concurrency, self.stream)
        results = await self.llm.agenerate(prompts, **self.quiet)
        return [(None, samples[0]) for samples in results]  # type: ignore[index]

    async def stream(self, prompt: str) -> Result:
        started = perf_counter()
        ttft = None
        parts = []
        async for delta in self.llm.astream(prompt):
            if ttft is None:
                ttft = perf_counter() - started
            parts.append(delta)
        return ttft, "".join(parts)

    async def aclose(self) -> None:
        pass  # the client lives in llmp's registry for the process; the process ends next


CLIENTS: dict[str, Callable[[int], Any]] = {
    "floor": Floor,
    "openai-h1": lambda c: OpenAISDK(c, http2=False),
    "openai-h2": lambda c: OpenAISDK(c, http2=True),
    "litellm": LiteLLM,
    "llmp": Llmp,
    # Not in the default grid: the floor over HTTP/1.1, for the one-connection question at c=512.
    "floor-h1": lambda c: Floor(c, http2=False),
}
DEFAULT_CLIENTS = ("floor", "openai-h1", "openai-h2", "litellm", "llmp")
