"""Anthropic Messages API wire format: request checks, message bodies, the SSE event stream, errors.

Pure functions over plain data, so the ASGI app stays small. Shapes follow Anthropic's API reference
(``POST /v1/messages``, "Streaming Messages", "Errors", "Rate limits") and what litellm's Anthropic
handler sends and parses (``litellm/llms/anthropic/chat/``).

Tokens are whitespace-separated words, as in the fake OpenAI server: deterministic and easy for a
test to predict.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmp.testing._faults import StatusError
from llmp.testing._ratelimit import Budgets
from llmp.testing._wire import ErrorResponse, count_tokens, message_text
from llmp_litellm.testing._anthropic_content import Facts, read_content

API_VERSION = "2023-06-01"
JSON = (b"content-type", b"application/json")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Anthropic's error types by HTTP status, with messages as the API words them.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "Number of requests has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. "
        "Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
ERROR_TYPES = frozenset(type_ for type_, _ in ERRORS.values())

# Top-level request fields the Messages API accepts; anything else is "Extra inputs are not
# permitted", which is how a client that leaks an OpenAI-only parameter (``n``) finds out.
_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_format",
        "output_config",
        "inference_geo",
    }
)
_ROLES = ("user", "assistant")


def error_fields(status: int, message: str | None = None, type_: str | None = None) -> tuple[str, str]:
    """(type, message) for an error answer; unknown types fall back to the status's own type."""
    default_type, default_message = ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"HTTP {status}")
    )
    if type_ not in ERROR_TYPES:
        type_ = default_type
    return type_, message if message is not None else default_message


def error_body(type_: str, message: str, request_id: str | None = None) -> bytes:
    body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return _dumps(body).encode()


def error(status: int, message: str | None = None, type_: str | None = None) -> ErrorResponse:
    type_, message = error_fields(status, message, type_)
    return ErrorResponse(status, error_body(type_, message), [JSON])


def invalid(message: str) -> ErrorResponse:
    return error(400, message, "invalid_request_error")


@dataclass(slots=True)
class MessagesRequest:
    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    stream: bool
    stop_sequences: list[str]
    input_tokens: int
    facts: Facts


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else message_text(system)


def betas_of(headers: Mapping[str, str]) -> list[str]:
    """The ``anthropic-beta`` header's values."""
    return [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]


def parse_request(body: Any, betas: Sequence[str] = ()) -> MessagesRequest:
    """Validate a Messages body the way the API does, for the fields the fake relies on."""
    if not isinstance(body, dict):
        raise invalid("There was an error parsing the body of your request. Please send valid JSON.")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise invalid(f"{name}: Field required")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise invalid(f"{extra[0]}: Extra inputs are not permitted")
    model, max_tokens, messages = body["model"], body["max_tokens"], body["messages"]
    if not isinstance(model, str) or not model:
        raise invalid("model: Input should be a valid string")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            raise invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        if role not in _ROLES:
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 1):
        raise invalid("temperature: range: 0..1")
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    facts = read_content(body, betas)
    words = count_tokens(_system_text(body.get("system")))
    words += sum(count_tokens(message_text(m.get("content"))) for m in messages)
    return MessagesRequest(body, model, messages, max_tokens, bool(body.get("stream")), stops, words, facts)


def default_reply(body: Mapping[str, Any], index: int) -> str:
    """``"Echo: <last user text>"``: the text blocks of the last user message."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return f"Echo: {message_text(message.get('content'))}"
    return "Echo: "


def rfc3339(timestamp: float) -> str:
    """``2026-01-02T03:04:05Z``, the form of Anthropic's ``anthropic-ratelimit-*-reset`` headers."""
    when = datetime.datetime.fromtimestamp(math.ceil(timestamp), tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(budgets: Budgets, now: float) -> list[tuple[bytes, bytes]]:
    """Anthropic's ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` headers from the
    shared limiter's budgets (reset is an RFC 3339 time, not a duration)."""
    out: list[tuple[bytes, bytes]] = []
    for kind, budget in ((b"requests", budgets.requests), (b"tokens", budgets.tokens)):
        prefix = b"anthropic-ratelimit-" + kind
        out.append((prefix + b"-limit", b"%d" % budget.limit))
        out.append((prefix + b"-remaining", b"%d" % budget.remaining))
        out.append((prefix + b"-reset", rfc3339(now + budget.reset).encode()))
    return out


def parse_sse(body: bytes) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of an SSE body, for tests that read the raw stream."""
    events: list[tuple[str, Any]] = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events


def status_error(fault: StatusError) -> ErrorResponse:
    """A scheduled `StatusError`, in Anthropic's error shape (OpenAI-only types fall back to the
    status's Anthropic type, so the OpenAI helpers such as ``rate_limited()`` work here too)."""
    headers = fault.http_headers()
    if fault.raw_body is not None:
        return ErrorResponse(fault.status, fault.raw_body, headers)
    type_, message = error_fields(fault.status, fault.message, fault.type)
    return ErrorResponse(fault.status, error_body(type_, message), headers)


def refused(kind: str, retry_after: float, budgets: Budgets, now: float) -> ErrorResponse:
    """The API's 429 when an enforced budget is short; ``retry-after`` is whole seconds, rounded up."""
    what = "requests" if kind == "requests" else "request tokens"
    message = (
        f"Number of {what} has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later."
    )
    headers = [JSON, *rate_limit_headers(budgets, now)]
    if not math.isinf(retry_after):
        headers.append((b"retry-after", b"%d" % math.ceil(retry_after)))
    return ErrorResponse(429, error_body("rate_limit_error", message), headers)
