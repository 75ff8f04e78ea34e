"""Streaming through the core: retries before the first delta, a whole-stream deadline, and the
public stream objects.

A stream is retried like a call until it has handed out its first delta; after that an error is
raised (what the caller already saw cannot be taken back). The answer rules, usage, cost,
validation and caching apply to the joined stream exactly as to a call. A cache hit is replayed
at once.

Every delta passes through each generator frame in the chain, so the chain is as short as it can
be: the plugin's generator, then `stream` here; `LLM.astream` hands this generator to the caller
as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from llmp._accumulate import Accumulator, replay
from llmp._answers import Parser, check, parse
from llmp._capabilities import check_request
from llmp._deadline import StreamDeadline
from llmp._engine import Engine
from llmp._sender import Tries
from llmp.errors import ProviderError, ProviderTimeoutError
from llmp.types import Chunk, Request, Response

__all__ = ["AsyncResponseStream", "ResponseStream", "stream"]

_now = time.monotonic


class _Result:
    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Response | None = None


async def stream(
    engine: Engine,
    request: Request,
    *,
    text_only: bool,
    parser: Parser | None = None,
    out: _Result | None = None,
) -> AsyncIterator[Any]:
    """Yield sample 0's text deltas (`text_only`) or every `Chunk`; fill ``out.response`` at the end."""
    check_request(engine, request, stream=True)
    key = engine.cache_key(request) if engine.cache is not None else None
    hit = await engine.cached(key, parser)
    if hit is not None:
        if out is not None:
            out.response = hit
        if text_only:
            if hit.text:
                yield hit.text
        else:
            for chunk in replay(hit):
                yield chunk
        return
    sender, provider, timeout = engine.sender, engine.provider, request.timeout
    tries = Tries()
    admission = sender.admission
    asides = sender.health.asides if sender.health is not None else 0
    while True:
        ticket = await admission.admit(request) if admission is not None else None
        attempt = await sender.acquire_for(ticket, asides)
        deadline = StreamDeadline(timeout) if timeout is not None else None
        acc = Accumulator()
        add = acc.add
        yielded = False
        first: float | None = None
        begun = _now()
        chunks: AsyncIterator[Chunk] | None = None
        failure: ProviderError | None = None
        try:
            try:
                chunks = engine.client(attempt.key).stream(request)
                step = chunks.__anext__
                while True:
                    if deadline is None:
                        chunk = await step()
                    else:
                        if deadline.expired:
                            raise _timed_out(timeout, provider)
                        deadline.waiting = True
                        try:
                            chunk = await step()
                        finally:
                            deadline.waiting = False
                    add(chunk)
                    if text_only:
                        if chunk.text and not chunk.index:
                            if first is None:
                                first = _now()
                            yielded = True
                            yield chunk.text
                    elif (
                        chunk.text
                        or chunk.tool_call
                        or chunk.reasoning
                        or chunk.refusal
                        or chunk.finish_reason
                    ):
                        if first is None:
                            first = _now()
                        yielded = True
                        yield chunk
            except StopAsyncIteration:
                pass
            except asyncio.CancelledError as error:
                if deadline is None or not deadline.owns(error):
                    raise
                failure = _timed_out(timeout, provider)
            except ProviderError as error:
                failure = error
            if failure is None:
                response = acc.response()
                try:
                    check(response, request, provider)
                except ProviderError as error:
                    failure = error
        finally:
            if deadline is not None:
                deadline.cancel()
            aclose = getattr(chunks, "aclose", None)
            attempt.release()
            if admission is not None and ticket is not None:
                admission.done(ticket, acc.usage)
            if aclose is not None:
                await aclose()  # releases the HTTP stream if we stop early
        if failure is not None:
            if yielded:
                sender.stats.failures += 1
                raise failure
            if await sender.after_error(failure, attempt, tries, timeout):
                continue
            raise failure
        usage = response.usage
        attempt.limiter.on_success(response.rate_limit, usage.input_tokens + usage.output_tokens)
        if sender.health is not None:
            sender.health.ok()
        break
    response.latency = _now() - begun
    response.ttft = first - begun if first is not None else None
    response.attempts = tries.count + 1
    response.provider = provider
    sender.recorder.success(response.latency, response.ttft)
    engine.record(response)
    if parser is not None:
        parse(response, parser, provider)  # after deltas were handed out, a mismatch is raised
    await engine.store(key, response)
    if out is not None:
        out.response = response
    if not text_only:
        yield Chunk(usage=response.usage)


def _timed_out(timeout: float | None, provider: str) -> ProviderTimeoutError:
    return ProviderTimeoutError(f"the stream did not finish within timeout={timeout:g} s", provider=provider)


class AsyncResponseStream:
    """The rich deltas of one streamed answer (`llmp.types.Chunk`), then the whole `Response`.

    ``async for chunk in stream`` yields text, reasoning and tool-call deltas as they arrive (the
    last chunk carries the usage); `response` is the joined, validated answer once iteration has
    finished (the same `Response` `LLM.acomplete` would give). Use ``async with`` or `aclose` to
    stop early and release the connection.
    """

    def __init__(self, chunks: AsyncIterator[Any], result: _Result) -> None:
        self._chunks = chunks
        self._result = result

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks

    async def __anext__(self) -> Chunk:
        chunk: Chunk = await self._chunks.__anext__()
        return chunk

    @property
    def response(self) -> Response:
        """The whole answer; RuntimeError before the stream has been read to its end."""
        if self._result.response is None:
            raise RuntimeError("the stream has not finished: iterate over it to the end first")
        return self._result.response

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncResponseStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ResponseStream:
    """The synchronous `AsyncResponseStream`: ``for chunk in stream``, then `response`;
    ``with`` or `close` to stop early."""

    def __init__(self, chunks: Iterator[Chunk], result: _Result) -> None:
        self._chunks = chunks
        self._result = result

    def __iter__(self) -> Iterator[Chunk]:
        return self._chunks

    def __next__(self) -> Chunk:
        return next(self._chunks)

    @property
    def response(self) -> Response:
        """The whole answer; RuntimeError before the stream has been read to its end."""
        if self._result.response is None:
            raise RuntimeError("the stream has not finished: iterate over it to the end first")
        return self._result.response

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
