"""The fake OpenAI API as an ASGI app: routing, auth, limits, faults, recording, counters.

It runs on the server thread's event loop while tests read its state and schedule faults from
their own thread; everything they share is guarded by locks or is a single attribute swap.
The hot path (no faults, no delays) does one JSON parse, one render and one body send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llmp.testing import _openai_wire as wire
from llmp.testing._faults import (
    BodyPredicate,
    Fault,
    FaultSchedule,
    Injection,
    MalformedChunk,
    ResetMidStream,
    Slow,
    StatusError,
    StreamFault,
    TruncatedStream,
)
from llmp.testing._ratelimit import RateLimiter
from llmp.testing._server import CONTROL_PREFIX, Receive, Scope, Send, reset_stream

TokenCount = int | Callable[[Mapping[str, Any]], int]

_JSON = (b"content-type", b"application/json")
# Only headers clients use: each one costs the server an HPACK encode and h2 validation per
# response, which adds up at high concurrency.
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_VERSION = (b"openai-version", b"2020-10-01")
_MALFORMED = b"data: {not json\n\n"
_log = logging.getLogger(__name__)
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini")


@dataclass(slots=True)
class RequestRecord:
    """One request as the server saw it. ``status`` is filled in once the response starts."""

    method: str
    path: str
    http_version: str  # from the ASGI scope: "2" or "1.1"
    headers: dict[str, str]  # lower-case names; authorization included so tests can check keys
    body: Any  # parsed JSON, or None if the body was empty or not JSON
    raw_body: bytes
    timestamp: float
    status: int | None = None
    fault: Fault | None = None


def _count(value: TokenCount, body: Mapping[str, Any]) -> int:
    return value(body) if callable(value) else value


class FakeOpenAIApp:
    """ASGI app speaking OpenAI's chat-completions wire. See ``FakeOpenAIServer`` for the knobs."""

    def __init__(
        self,
        *,
        reply_fn: wire.ReplyFn | None = None,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cached_tokens: TokenCount = 0,
        reasoning_tokens: TokenCount = 0,
        api_keys: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        models: Iterable[str] | None = None,
        strict_models: bool = False,
        record: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        keys = tuple(api_keys) if api_keys is not None else None
        self.api_keys: frozenset[str] | None = frozenset(keys) if keys is not None else None
        # A key clients can use: an accepted one, or a made-up one when auth is not enforced.
        self.api_key: str = keys[0] if keys else "sk-test-" + secrets.token_hex(12)
        self.models = tuple(models) if models is not None else DEFAULT_MODELS
        self.strict_models = strict_models
        self.record = record
        self._defaults = {
            "reply_fn": reply_fn or wire.default_reply,
            "ttft": ttft,
            "token_delay": token_delay,
            "chunk_count": chunk_count,
            "cached_tokens": cached_tokens,
            "reasoning_tokens": reasoning_tokens,
        }
        self.reply_fn: wire.ReplyFn = wire.default_reply
        self.ttft = 0.0
        self.token_delay = 0.0
        self.chunk_count: int | None = None
        self.cached_tokens: TokenCount = 0
        self.reasoning_tokens: TokenCount = 0
        self._faults = FaultSchedule()
        self._limiter = RateLimiter(rpm, tpm, clock)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._records: list[RequestRecord] = []
        self._request_count = 0
        self._in_flight = 0
        self._max_in_flight = 0
        # Ids are a per-server random prefix plus a counter: unique without per-request entropy.
        self._id_prefix = secrets.token_hex(6)
        self._next_id = 0
        self.reset()

    # ----- state a test reads or changes (any thread) -----

    def reset(self) -> None:
        """Forget records, faults, counters and rate-limit usage; restore constructor knobs."""
        for name, value in self._defaults.items():
            setattr(self, name, value)
        self._faults.clear()
        self._limiter.reset()
        with self._lock:
            self._records = []
            self._request_count = 0
            self._max_in_flight = self._in_flight

    def inject(self, fault: Fault, *, times: int | None = 1, when: BodyPredicate | None = None) -> Injection:
        """Make the next ``times`` chat-completion requests (``None``: all) whose JSON body
        satisfies ``when`` (default: any) fail with ``fault``. Earlier injections match first."""
        return self._faults.add(fault, times=times, when=when)

    def cancel(self, injection: Injection) -> None:
        self._faults.cancel(injection)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Injection]:
        return self._faults.pending

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the recorded requests, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._request_count

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak number of API requests being handled at once since the last reset."""
        return self._max_in_flight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no API request is being handled (e.g. after clients gave up on them).

        Returns False on timeout. From async code: ``await asyncio.to_thread(server.wait_idle)``.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def stats(self) -> dict[str, int]:
        return {
            "request_count": self._request_count,
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
        }

    # ----- ASGI -----

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        raw = message.get("body", b"")
        if message.get("more_body", False):
            # Large bodies arrive in frames; collect them without quadratic concatenation.
            parts = bytearray(raw)
            while message.get("more_body", False):
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                parts += message.get("body", b"")
            raw = bytes(parts)
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope["method"], path[len(CONTROL_PREFIX) :], send)
            return
        started = time.monotonic()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        record = RequestRecord(scope["method"], path, scope["http_version"], headers, None, raw, time.time())
        with self._lock:
            self._request_count += 1
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight
            if self.record:
                self._records.append(record)
        self._next_id += 1  # only the server's loop thread touches this
        request_id = f"{self._id_prefix}{self._next_id:010x}"
        try:
            await self._route(record, request_id, started, receive, send)
        except wire.ErrorResponse as reply:
            headers_out = [*reply.headers, *self._common(request_id, started), *self._limiter.peek()]
            if not any(name == b"content-type" for name, _ in headers_out):
                headers_out.append(_JSON)
            await self._respond(record, send, reply.status, headers_out, reply.body)
        except Exception as exc:
            # A broken reply_fn or predicate is a bug in the test: answer 500 saying so (unless the
            # response already started) and log the traceback where pytest shows it.
            _log.exception("fake OpenAI server failed on %s %s", record.method, record.path)
            if record.status is None:
                body = wire.error_body(f"fake server error: {exc!r}", "server_error")
                await self._respond(record, send, 500, [_JSON, *self._common(request_id, started)], body)
        finally:
            with self._lock:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.notify_all()

    def _common(self, request_id: str, started: float) -> list[tuple[bytes, bytes]]:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return [
            (b"x-request-id", b"req_" + request_id.encode()),
            (b"openai-processing-ms", b"%d" % elapsed_ms),
            _VERSION,
        ]

    async def _respond(
        self,
        record: RequestRecord,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        more_body: bool = False,
    ) -> None:
        record.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def _control(self, method: str, name: str, send: Send) -> None:
        if name == "reset" and method == "POST":
            self.reset()
        elif not (name == "stats" and method == "GET"):
            await send({"type": "http.response.start", "status": 404, "headers": [_JSON]})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [_JSON]})
        await send({"type": "http.response.body", "body": json.dumps(self.stats()).encode()})

    # ----- the API -----

    def _check_auth(self, record: RequestRecord) -> None:
        if self.api_keys is None:
            return
        value = record.headers.get("authorization", "")
        key = value[7:].strip() if value[:7].lower() == "bearer " else ""
        if key in self.api_keys:
            return
        # The key is never echoed back: error bodies end up in logs.
        message = (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        raise wire.invalid(message, code="invalid_api_key", status=401)

    async def _route(
        self, record: RequestRecord, request_id: str, started: float, receive: Receive, send: Send
    ) -> None:
        if record.method == "POST" and record.path == "/v1/chat/completions":
            self._check_auth(record)
            await self._chat(record, request_id, started, receive, send)
        elif record.method == "GET" and record.path == "/v1/models":
            self._check_auth(record)
            data = [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
                for m in self.models
            ]
            body = json.dumps({"object": "list", "data": data}).encode()
            headers = [_JSON, *self._common(request_id, started), *self._limiter.peek()]
            await self._respond(record, send, 200, headers, body)
        else:
            raise wire.invalid(f"Invalid URL ({record.method} {record.path})", status=404)

    async def _chat(
        self, record: RequestRecord, request_id: str, started: float, receive: Receive, send: Send
    ) -> None:
        record.body = wire.load_json(record.raw_body)
        request = wire.parse_chat_request(record.body)
        if self.strict_models and request.model not in self.models:
            raise wire.invalid(
                f"The model `{request.model}` does not exist or you do not have access to it.",
                code="model_not_found",
                status=404,
            )
        fault = self._faults.take(request.body)
        record.fault = fault
        if isinstance(fault, StatusError):
            raise fault.to_response()
        if isinstance(fault, Slow) and not await _wait_unless_gone(receive, fault.seconds):
            return  # the client gave up; nobody is listening for an answer
        completion = self._complete(request, request_id)
        admission = self._limiter.admit(completion.usage["total_tokens"])
        if admission.refused is not None:
            raise admission.to_response(request.model, completion.usage["total_tokens"])
        stream_fault = fault if isinstance(fault, StreamFault) else None
        if request.stream:
            steps = wire.stream_steps(completion, include_usage=request.include_usage)
            if self.ttft > 0:
                await asyncio.sleep(self.ttft)
            headers = [_SSE, *self._common(request_id, started), *admission.headers]
            if stream_fault is not None:
                # A fault always lands before the finish chunks, however late it was asked for.
                open_events = len(completion.choices) + sum(len(c.pieces) for c in completion.choices)
                head, _ = wire.split_events(b"".join(steps), min(stream_fault.after_chunks, open_events))
                await self._broken(record, send, headers, head, stream_fault, streaming=True)
            else:
                await self._stream(record, send, headers, steps)
            return
        depth = max((len(c.pieces) for c in completion.choices), default=0)
        wait = self.ttft + self.token_delay * max(depth - 1, 0)
        if wait > 0:
            await asyncio.sleep(wait)
        headers = [_JSON, *self._common(request_id, started), *admission.headers]
        body = completion.json_body()
        if stream_fault is not None:
            await self._broken(record, send, headers, body[: len(body) // 2], stream_fault, streaming=False)
        else:
            await self._respond(record, send, 200, headers, body)

    def _complete(self, request: wire.ChatRequest, request_id: str) -> wire.Completion:
        reply_fn, chunk_count = self.reply_fn, self.chunk_count
        choices = [
            wire.plan_choice(
                reply_fn(request.body, i),
                max_tokens=request.max_tokens,
                stop=request.stop,
                chunk_count=chunk_count,
            )
            for i in range(request.n)
        ]
        usage = wire.make_usage(
            wire.prompt_tokens(request.messages),
            sum(c.completion_tokens for c in choices),
            cached=_count(self.cached_tokens, request.body),
            reasoning=_count(self.reasoning_tokens, request.body),
        )
        return wire.Completion(f"chatcmpl-{request_id}", int(time.time()), request.model, choices, usage)

    async def _stream(
        self, record: RequestRecord, send: Send, headers: list[tuple[bytes, bytes]], steps: list[bytes]
    ) -> None:
        token_delay = self.token_delay
        if token_delay <= 0 or len(steps) == 1:
            # Same bytes as step by step, in one write: far cheaper for the server at high concurrency.
            await self._respond(record, send, 200, headers, b"".join(steps))
            return
        record.status = 200
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        last = len(steps) - 1
        for i, step in enumerate(steps):
            if i:
                await asyncio.sleep(token_delay)
            await send({"type": "http.response.body", "body": step, "more_body": i < last})

    async def _broken(
        self,
        record: RequestRecord,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        head: bytes,
        fault: StreamFault,
        *,
        streaming: bool,
    ) -> None:
        if isinstance(fault, ResetMidStream):
            await self._respond(record, send, 200, headers, head, more_body=True)
            if record.http_version == "1.1":
                return  # returning mid-body makes hypercorn close the connection: the HTTP/1.1 "reset"
            await reset_stream(send)
        elif isinstance(fault, TruncatedStream):
            await self._respond(record, send, 200, headers, head)
        elif isinstance(fault, MalformedChunk):
            await self._respond(record, send, 200, headers, head + _MALFORMED if streaming else b"{not json")


async def _wait_unless_gone(receive: Receive, seconds: float) -> bool:
    """Sleep ``seconds``; False if the client disconnected first."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False
