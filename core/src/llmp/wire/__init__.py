"""Wire helpers every provider plugin shares: SSE, connection lanes, error mapping, rate limits.

A plugin that speaks HTTP to its provider needs the same few things: decode a server-sent event
stream, keep enough HTTP/2 connections open for its concurrency, and turn an HTTP status or a
transport failure into the `llmp.errors` class the core acts on (retry, step a key aside, fail
at once). They live here once, tested against real servers that misbehave at the frame level.

- `SSEDecoder`, `ServerSentEvent`: incremental SSE decoding, linear in the stream's size.
- `Lanes`: a pool of ``httpx2.AsyncClient`` s for one origin; `send_checked`: one request on
  them, a non-2xx reply or a transport failure raised as the `llmp.errors` class it means.
- `error_from_status`: an HTTP error response as an `llmp.errors.ProviderError`.
- `error_from_transport`, `is_tls_failure`: httpx2/h2/ssl exceptions as `llmp.errors`.
- `retry_after`, `rate_limit_info`, `parse_duration`, `retry_delay`: rate-limit signals.

Importing this package imports neither httpx2 nor h2 (plugins on other transports can use the
SSE and error helpers); `Lanes` imports httpx2 when it opens its first client.
"""

from __future__ import annotations

from llmp.wire._lanes import Lanes
from llmp.wire._ratelimit import parse_duration, rate_limit_info, retry_after
from llmp.wire._send import send_checked
from llmp.wire._sse import ServerSentEvent, SSEDecoder
from llmp.wire._status import error_from_status, retry_delay
from llmp.wire._transport import error_from_transport, is_tls_failure

__all__ = [
    "Lanes",
    "SSEDecoder",
    "ServerSentEvent",
    "error_from_status",
    "error_from_transport",
    "is_tls_failure",
    "parse_duration",
    "rate_limit_info",
    "retry_after",
    "retry_delay",
    "send_checked",
]
