"""Faults a fake server can be told to produce, and the thread-safe schedule that hands them out.

A test schedules faults from its own thread while the server's event loop consumes them, so the
schedule is guarded by a lock. Faults are plain frozen dataclasses so a test can build exactly the
response it wants, and every provider's fake renders them in its own wire's shape (an error body
as that provider sends it); the helper functions build the common ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmp.testing._wire import retry_after_value

# Default (message, type, code) per status, for a `StatusError` that gives none: OpenAI's, the
# wire most clients speak; a fake of another wire maps the type to its own (or uses its own).
_DEFAULTS: dict[int, tuple[str, str | None, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    408: ("Request timed out.", "server_error", None),
    409: ("The request conflicted with another request. Please try again.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}

# OpenAI's edge proxy answers 502 with an HTML page, not JSON; clients must cope with that.
_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class StatusError:
    """Answer with ``status`` and the fake's own error body instead of a completion.

    ``message``/``type``/``code`` default per status (`error_fields`). ``retry_after`` (seconds) and
    ``retry_after_ms`` set the ``retry-after`` / ``retry-after-ms`` headers (`http_headers`).
    ``raw_body`` replaces the error body entirely (sent with ``content_type``).
    """

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None
    content_type: str = "application/json"

    def error_fields(self) -> tuple[str, str | None, str | None]:
        message, type_, code = _DEFAULTS.get(
            self.status, (f"HTTP {self.status}", "server_error" if self.status >= 500 else None, None)
        )
        return (
            self.message if self.message is not None else message,
            self.type if self.type is not None else type_,
            self.code if self.code is not None else code,
        )

    def http_headers(self) -> list[tuple[bytes, bytes]]:
        """``content-type``, the ``retry-after``/``retry-after-ms`` asked for, then ``headers``."""
        out = [(b"content-type", self.content_type.encode())]
        if self.retry_after is not None:
            out.append((b"retry-after", retry_after_value(self.retry_after)))
        if self.retry_after_ms is not None:
            out.append((b"retry-after-ms", retry_after_value(self.retry_after_ms)))
        out.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items())
        return out


@dataclass(frozen=True, slots=True)
class ResetMidStream:
    """Break the response after ``after_chunks`` SSE events (half the body if not streaming).

    The client reads exactly those events, then gets a transport error (httpx2
    ``RemoteProtocolError``, which the openai SDK raises as ``APIConnectionError``): over HTTP/1.1
    the server closes the connection mid-body; over HTTP/2 it resets just that stream
    (RST_STREAM, INTERNAL_ERROR) and the connection stays usable.
    """

    after_chunks: int = 1


@dataclass(frozen=True, slots=True)
class TruncatedStream:
    """End the SSE body cleanly after ``after_chunks`` events: no finish chunk, no ``[DONE]``.

    Not streaming: a clean end after half the JSON body.
    """

    after_chunks: int = 1


@dataclass(frozen=True, slots=True)
class MalformedChunk:
    """After ``after_chunks`` good events send ``data: {not json`` and end the body.

    Not streaming: a 200 whose body is ``{not json``.
    """

    after_chunks: int = 1


@dataclass(frozen=True, slots=True)
class Slow:
    """Wait ``seconds`` before answering (on top of ``ttft``), then answer normally.

    The wait ends early if the client goes away, so a client timeout frees the server at once.
    """

    seconds: float


@dataclass(frozen=True, slots=True)
class EmptyAnswer:
    """Answer 200 with an empty answer, in the wire's own shapes: ``shape`` is ``"empty"``
    (an empty text), ``"null"`` (no content at all), ``"no_choices"`` (no choices/candidates/
    content blocks) or ``"done_only"`` (a stream of only its end marker). ``finish`` is the
    finish reason to report (in llmp's vocabulary; the fake maps it to its wire's)."""

    shape: str = "empty"
    finish: str = "stop"


@dataclass(frozen=True, slots=True)
class Trickle:
    """Answer 200 at once, then send almost nothing: a client whose timeout applies per read
    never gives up.

    ``keepalive=False``: the body one byte every ``interval`` seconds (the first ``count`` bytes
    slowly, then the rest; ``count=None``: all of it). ``keepalive=True``: a ``: keep-alive`` SSE
    comment (a space before a JSON body) every ``interval`` seconds, ``count`` times
    (``count=None``: until the client leaves), then the body. The server stops when the client
    goes away.
    """

    interval: float
    keepalive: bool = False
    count: int | None = None


@dataclass(frozen=True, slots=True)
class HugeLine:
    """Streams: before the events, one ``data:`` line of about ``size`` bytes, a valid chunk
    that carries nothing (``choices: []`` and a ``padding`` field clients ignore), so the answer
    is unchanged and only the client's line buffering is exercised. Not streaming: no effect."""

    size: int


@dataclass(frozen=True, slots=True)
class EchoKey:
    """Answer ``status`` with an error whose message echoes the request's credential header
    (``Invalid header value: Bearer <key>``), as some gateways do: what a client must never show."""

    status: int = 401


Fault = (
    StatusError
    | ResetMidStream
    | TruncatedStream
    | MalformedChunk
    | Slow
    | Trickle
    | HugeLine
    | EchoKey
    | EmptyAnswer
)
StreamFault = ResetMidStream | TruncatedStream | MalformedChunk
BodyPredicate = Callable[[Any], bool]


def rate_limited(
    retry_after: float | None = 1.0, *, retry_after_ms: float | None = None, kind: str = "requests"
) -> StatusError:
    """A 429 as OpenAI sends it when a rate limit (``kind``: "requests" or "tokens") is hit."""
    unit = "RPM" if kind == "requests" else "TPM"
    return StatusError(
        429,
        message=f"Rate limit reached on {kind} per min ({unit}). Please try again later.",
        type=kind,
        code="rate_limit_exceeded",
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
    )


def quota_exceeded() -> StatusError:
    """OpenAI's other 429: out of credit. Retrying cannot help, and clients should not."""
    return StatusError(
        429,
        message="You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def server_error(status: int = 500) -> StatusError:
    """A 5xx; 502 comes as the edge proxy's HTML page, like the real one."""
    if status == 502:
        return StatusError(502, raw_body=_BAD_GATEWAY_HTML, content_type="text/html")
    return StatusError(status)


def bad_request(
    message: str = "Invalid request.", *, param: str | None = None, code: str | None = None
) -> StatusError:
    return StatusError(400, message=message, type="invalid_request_error", param=param, code=code)


def reset_mid_stream(after_chunks: int = 1) -> ResetMidStream:
    return ResetMidStream(after_chunks)


def truncated_stream(after_chunks: int = 1) -> TruncatedStream:
    return TruncatedStream(after_chunks)


def malformed_chunk(after_chunks: int = 1) -> MalformedChunk:
    return MalformedChunk(after_chunks)


def slow(seconds: float) -> Slow:
    return Slow(seconds)


def trickle(interval: float, *, keepalive: bool = False, count: int | None = None) -> Trickle:
    return Trickle(interval, keepalive, count)


def huge_line(size: int) -> HugeLine:
    return HugeLine(size)


def echo_key(status: int = 401) -> EchoKey:
    return EchoKey(status)


class Injection:
    """One scheduled fault. ``times=None`` repeats until cancelled or the server is reset."""

    __slots__ = ("_remaining", "fault", "fired", "when")

    def __init__(self, fault: Fault, times: int | None, when: BodyPredicate | None):
        self.fault = fault
        self.when = when
        self.fired = 0
        self._remaining = times

    @property
    def remaining(self) -> int | None:
        return self._remaining

    @property
    def exhausted(self) -> bool:
        return self._remaining is not None and self._remaining <= 0

    def __repr__(self) -> str:
        return f"Injection({self.fault!r}, remaining={self._remaining}, fired={self.fired})"


class FaultSchedule:
    """FIFO of injections; each request takes the first one whose predicate accepts its body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Injection] = []

    def add(self, fault: Fault, *, times: int | None = 1, when: BodyPredicate | None = None) -> Injection:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every matching request)")
        injection = Injection(fault, times, when)
        with self._lock:
            self._items.append(injection)
        return injection

    def cancel(self, injection: Injection) -> None:
        with self._lock:
            if injection in self._items:
                self._items.remove(injection)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @property
    def pending(self) -> list[Injection]:
        with self._lock:
            return list(self._items)

    def take(self, body: Any) -> Fault | None:
        if not self._items:  # the common case in benchmarks: no lock taken at all
            return None
        with self._lock:
            for injection in self._items:
                if injection.when is not None and not injection.when(body):
                    continue
                injection.fired += 1
                if injection._remaining is not None:
                    injection._remaining -= 1
                    if injection._remaining <= 0:
                        self._items.remove(injection)
                return injection.fault
        return None
