"""``FakeGeminiServer``: the Gemini API's ``generateContent`` wire over TLS, HTTP/2 and HTTP/1.1.

Serves ``POST /{v1,v1beta,v1alpha}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` the way google-genai calls them, checks the
``x-goog-api-key`` header (or ``?key=``), records every request and injects the faults of
`llmp.testing._faults`, with errors in Google's ``{"error": {"code", "message", "status",
"details"}}`` shape (a 429 carries ``google.rpc.RetryInfo``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from llmp.testing import headers_of, read_body, serve_lifespan
from llmp.testing._counters import RequestCounter
from llmp.testing._faults import (
    BodyPredicate,
    EmptyAnswer,
    Fault,
    FaultSchedule,
    Injection,
    Slow,
    StatusError,
    StreamFault,
)
from llmp.testing._responding import respond, send_broken
from llmp.testing._served import BackgroundServed
from llmp.testing._server import (
    BackgroundServer,
    Receive,
    Scope,
    Send,
    ServerOptions,
    client_gone,
    reset_stream,
)
from llmp.testing._wire import ErrorResponse, ReplyFn, load_json
from llmp_gemini.testing import _gemini_wire as wire
from llmp_gemini.testing._fake_gemini_batch import FakeGeminiBatches
from llmp_gemini.testing._gemini_answer import answer, empty_reply
from llmp_gemini.testing._gemini_request import GenerateRequest, parse_generate_request

__all__ = ["FakeGeminiServer", "GeminiRequestRecord"]

TokenCount = int | Callable[[Mapping[str, Any]], int]
_SSE = (b"content-type", b"text/event-stream")
_MALFORMED = b"data: {not json\r\n\r\n"  # one event that is not JSON
_JSON = (b"content-type", wire.JSON_CONTENT_TYPE)
_VERSIONS = ("v1", "v1beta", "v1alpha")
_METHODS = ("generateContent", "streamGenerateContent")
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class GeminiRequestRecord:
    """One request as the server saw it. ``status`` is filled in once the response starts."""

    method: str
    path: str  # "/v1/models/gemini-3-flash-preview:streamGenerateContent"
    query: str  # "alt=sse"
    http_version: str  # from the ASGI scope: "2" or "1.1"
    headers: dict[str, str]  # lower-case names; x-goog-api-key included so tests can check keys
    body: Any  # parsed JSON, or None
    raw_body: bytes
    timestamp: float
    status: int | None = None
    fault: Fault | None = None

    @property
    def model(self) -> str:
        return self.path.rpartition("/models/")[2].partition(":")[0]

    @property
    def stream(self) -> bool:
        return self.path.endswith(":streamGenerateContent")


class FakeGeminiServer(BackgroundServed):
    """A local Gemini API for tests, demos and benchmarks.

    Clients reach it at :attr:`base_url` (``https://127.0.0.1:<port>``; google-genai appends the
    API version) and trust it through ``SSL_CERT_FILE`` set to :attr:`ca_path`.

    Knobs (keyword-only; all but ``api_keys``/``record``/``options`` can be changed on a running
    server and are restored by :meth:`reset`):

    - ``reply_fn(body, candidate_index) -> str``: the reply. Default ``"Echo: <last user text>"``
      plus ``" [i]"`` for candidate ``i > 0``. ``empty_text=True`` answers with no text at all.
    - ``ttft`` seconds before the first byte; ``token_delay`` seconds between stream events.
    - ``chunk_count``: stream events per candidate (default: one per word).
    - ``cached_tokens`` / ``thoughts_tokens``: reported as ``cachedContentTokenCount`` /
      ``thoughtsTokenCount`` (int, or a function of the request body). Thoughts are skipped when
      the request sets ``thinkingBudget: 0`` and spend ``maxOutputTokens`` before any text does.
    - ``max_candidates``: answer with at most this many candidates, whatever ``candidateCount``
      asked (Gemini does return fewer).

    What it answers (function calls, JSON for a schema, thought summaries and signatures) is
    `llmp_gemini.testing._gemini_answer`; what it refuses, as the API does,
    `llmp_gemini.testing._gemini_request`.
    - ``api_keys``: accepted keys; ``None`` accepts any. :attr:`api_key` is one clients can use.
    - ``record``: keep :class:`GeminiRequestRecord` s in :attr:`requests`.
    """

    def __init__(
        self,
        *,
        reply_fn: ReplyFn | None = None,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cached_tokens: TokenCount = 0,
        thoughts_tokens: TokenCount = 0,
        empty_text: bool = False,
        max_candidates: int | None = None,
        api_keys: Iterable[str] | None = None,
        record: bool = True,
        options: ServerOptions | None = None,
    ):
        keys = tuple(api_keys) if api_keys is not None else None
        self.api_keys: frozenset[str] | None = frozenset(keys) if keys is not None else None
        self.api_key: str = keys[0] if keys else "AIzaFake" + secrets.token_hex(16)
        self.record = record
        self._defaults: dict[str, Any] = {
            "reply_fn": reply_fn or wire.default_reply,
            "ttft": ttft,
            "token_delay": token_delay,
            "chunk_count": chunk_count,
            "cached_tokens": cached_tokens,
            "thoughts_tokens": thoughts_tokens,
            "empty_text": empty_text,
            "max_candidates": max_candidates,
        }
        self.reply_fn: ReplyFn = wire.default_reply
        self.ttft = 0.0
        self.token_delay = 0.0
        self.chunk_count: int | None = None
        self.cached_tokens: TokenCount = 0
        self.thoughts_tokens: TokenCount = 0
        self.empty_text = False
        self.max_candidates: int | None = None
        #: Signs the thought signatures this server issues, so it can check those sent back.
        self.secret = secrets.token_bytes(16)
        self._faults = FaultSchedule()
        self._lock = threading.Lock()
        self._records: list[GeminiRequestRecord] = []
        self._counter = RequestCounter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._id_prefix = secrets.token_hex(4)
        self._next_id = 0
        self._server = BackgroundServer(self, options=options)
        #: Batch mode and the Files API, with their own knobs: `llmp_gemini.testing._fake_gemini_batch`.
        self.batches = FakeGeminiBatches(self)
        self.reset()

    # ----- what tests read and change -----

    def reset(self) -> None:
        """Forget records, faults and counters; restore the constructor's knobs."""
        for name, value in self._defaults.items():
            setattr(self, name, value)
        self._faults.clear()
        self.batches.reset()
        with self._lock:
            self._records = []
        self._counter.reset()
        if self._loop is not None:
            # End Slow waits left from before the reset so they stop holding connections.
            with contextlib.suppress(RuntimeError):  # the server's loop is already closed
                self._loop.call_soon_threadsafe(self._wake_sleepers)

    def inject(self, fault: Fault, *, times: int | None = 1, when: BodyPredicate | None = None) -> Injection:
        """Make the next ``times`` generate requests (``None``: all) whose JSON body satisfies
        ``when`` (default: any) fail with ``fault`` (a `StatusError` in Google's shape: see
        `llmp_gemini.testing._gemini_wire.status_error`)."""
        return self._faults.add(fault, times=times, when=when)

    def cancel(self, injection: Injection) -> None:
        self._faults.cancel(injection)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Injection]:
        return self._faults.pending

    @property
    def requests(self) -> list[GeminiRequestRecord]:
        """A snapshot of the recorded requests, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._counter.count

    @property
    def max_in_flight(self) -> int:
        """Peak number of requests, begun since the last reset, being handled at once."""
        return self._counter.max_in_flight

    def stats(self) -> dict[str, int]:
        return self._counter.stats()

    # ----- ASGI -----

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        if raw is None:
            return
        record = GeminiRequestRecord(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            scope["http_version"],
            headers_of(scope),
            load_json(raw),
            raw,
            time.time(),
        )
        if self.record:
            with self._lock:
                self._records.append(record)
        generation = self._counter.begin()
        try:
            await self._route(record, receive, send)
        except ErrorResponse as reply:
            await respond(record, send, reply.status, reply.headers, reply.body)
        except Exception as exc:
            # A broken reply_fn or predicate is a bug in the test: answer 500 saying so (unless the
            # response already started) and log the traceback where pytest shows it.
            _log.exception("fake Gemini server failed on %s %s", record.method, record.path)
            if record.status is None:
                await respond(record, send, 500, [_JSON], wire.error_body(500, f"fake server: {exc!r}"))
            elif record.http_version != "1.1":
                await reset_stream(send)  # else the client would wait forever for the rest
        finally:
            self._counter.end(generation)

    def _check_auth(self, record: GeminiRequestRecord) -> None:
        key = record.headers.get("x-goog-api-key") or parse_qs(record.query).get("key", [""])[0]
        if self.api_keys is None and key:
            return
        if not key:
            raise wire.api_key_missing()
        if self.api_keys is not None and key not in self.api_keys:
            raise wire.api_key_invalid()  # the key is never echoed: error bodies end up in logs

    async def _route(self, record: GeminiRequestRecord, receive: Receive, send: Send) -> None:
        if self.batches.owns(record.path):
            await self.batches.route(record, send)
            return
        version, _, rest = record.path.lstrip("/").partition("/models/")
        model, _, method = rest.partition(":")
        if record.method != "POST" or version not in _VERSIONS or not model or method not in _METHODS:
            raise wire.error(404, f"Invalid URL ({record.method} {record.path})")
        self._check_auth(record)
        stream = method == "streamGenerateContent"
        if stream and parse_qs(record.query).get("alt") != ["sse"]:
            # Without alt=sse Google streams a JSON array; google-genai always asks for SSE.
            raise wire.error(400, "The fake Gemini server streams only with ?alt=sse")
        request = parse_generate_request(model, record.body, self.secret)
        fault = self._faults.take(request.body)
        record.fault = fault
        if isinstance(fault, StatusError):
            raise wire.status_error(fault, model)
        if isinstance(fault, Slow) and not await self._wait_unless_gone(receive, fault.seconds):
            return
        ttft, token_delay = self.ttft, self.token_delay
        if isinstance(fault, EmptyAnswer):
            reply = empty_reply(request, fault, response_id=self._response_id())
        else:
            reply = self._reply(request)
        stream_fault = fault if isinstance(fault, StreamFault) else None
        if ttft > 0:
            await asyncio.sleep(ttft)
            if client_gone(send):
                return
        if not stream:
            body = reply.json_body()
            if stream_fault is not None:
                half = body[: len(body) // 2]
                await send_broken(record, send, [_JSON], half, stream_fault, malformed=b"{not json")
            else:
                await respond(record, send, 200, [_JSON], body)
            return
        events = reply.sse_events()
        if stream_fault is not None:
            head = b"".join(events[: min(stream_fault.after_chunks, len(events) - 1)])
            await send_broken(
                record, send, [_SSE], head, stream_fault, malformed=head + b"data: {not json\r\n\r\n"
            )
            return
        if token_delay <= 0 or len(events) == 1:
            await respond(record, send, 200, [_SSE], b"".join(events))
            return
        record.status = 200
        await send({"type": "http.response.start", "status": 200, "headers": [_SSE]})
        for i, event in enumerate(events):
            if i:
                await asyncio.sleep(token_delay)
                if client_gone(send):
                    return  # the client left mid-stream: stop generating, as a real server does
            await send({"type": "http.response.body", "body": event, "more_body": i < len(events) - 1})

    def _response_id(self) -> str:
        self._next_id += 1  # only the server's loop thread touches this
        return f"{self._id_prefix}{self._next_id:012x}"

    def _reply(self, request: GenerateRequest) -> wire.Reply:
        body = request.body
        return answer(
            request,
            reply_fn=self.reply_fn,
            empty_text=self.empty_text,
            chunk_count=self.chunk_count,
            thoughts_tokens=_count(self.thoughts_tokens, body),
            cached_tokens=_count(self.cached_tokens, body),
            max_candidates=self.max_candidates,
            secret=self.secret,
            response_id=self._response_id(),
        )

    async def _wait_unless_gone(self, receive: Receive, seconds: float) -> bool:
        """Wait ``seconds``, or until a reset; False if the client left first."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()

        async def disconnected() -> None:
            # The body has been read, so the only message left to come is the disconnect.
            while (await receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(disconnected())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait((gone, woken), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            woken.cancel()
        return gone not in done

    def _wake_sleepers(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None


def _count(value: TokenCount, body: Mapping[str, Any]) -> int:
    return value(body) if callable(value) else value
