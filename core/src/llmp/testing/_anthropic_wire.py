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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llmp.headers import parse_duration
from llmp.testing._openai_wire import ErrorResponse, count_tokens, message_text, split_pieces

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


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else message_text(system)


def parse_request(body: Any) -> MessagesRequest:
    """Validate a Messages body the way the API does, for the fields the fake relies on."""
    if not isinstance(body, dict):
        raise invalid("There was an error parsing the body of your request. Please send valid JSON.")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise invalid(f"{field}: Field required")
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
    words = count_tokens(_system_text(body.get("system")))
    words += sum(count_tokens(message_text(m.get("content"))) for m in messages)
    return MessagesRequest(body, model, messages, max_tokens, bool(body.get("stream")), stops, words)


def default_reply(body: Mapping[str, Any], index: int) -> str:
    """``"Echo: <last user text>"``: the text blocks of the last user message."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return f"Echo: {message_text(message.get('content'))}"
    return "Echo: "


@dataclass(slots=True)
class Reply:
    pieces: list[str]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def plan_reply(text: str, *, max_tokens: int, stop_sequences: list[str], chunk_count: int | None) -> Reply:
    """Cut at the earliest stop sequence (not included, as the API does), then at ``max_tokens`` words."""
    stop_reason, matched = "end_turn", None
    cuts = [(text.find(s), s) for s in stop_sequences if s and s in text]
    if cuts:
        cut, matched = min(cuts)
        text, stop_reason = text[:cut], "stop_sequence"
    pieces = split_pieces(text, None)
    if len(pieces) > max_tokens:
        text, stop_reason, matched = "".join(pieces[:max_tokens]), "max_tokens", None
    return Reply(split_pieces(text, chunk_count), stop_reason, matched, count_tokens(text))


def make_usage(
    input_tokens: int, output_tokens: int, *, cache_read: int, cache_creation: int
) -> dict[str, Any]:
    """Anthropic usage: ``input_tokens`` counts only the uncached part of the prompt."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_creation, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(
    message_id: str, model: str, content: list[Any], stop: Reply | None, usage: Any
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop.stop_reason if stop else None,
        "stop_sequence": stop.stop_sequence if stop else None,
        "usage": usage,
    }


def message_body(message_id: str, model: str, reply: Reply, usage: dict[str, Any]) -> bytes:
    content = [{"type": "text", "text": reply.text}]
    return _dumps(_message(message_id, model, content, reply, usage)).encode()


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {_dumps(data)}\n\n"


def stream_steps(message_id: str, model: str, reply: Reply, usage: dict[str, Any]) -> list[bytes]:
    """The SSE body as delivery steps (the server pauses ``token_delay`` between them).

    Step 0: ``message_start`` (usage so far: the input, one output token), ``content_block_start``,
    ``ping`` and the first ``text_delta``; one delta per later step; the last step adds
    ``content_block_stop``, ``message_delta`` (stop reason and the output token count) and
    ``message_stop``. Each event ends with a blank line, so faults can cut after any event.
    """
    start_usage = {**usage, "output_tokens": 1}
    head = [
        _event(
            "message_start",
            {"type": "message_start", "message": _message(message_id, model, [], None, start_usage)},
        ),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _event("ping", {"type": "ping"}),
    ]
    deltas = [
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
        )
        for piece in reply.pieces
    ]
    tail = [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    steps = [head + deltas[:1], *([d] for d in deltas[1:])]
    steps[-1] = steps[-1] + tail
    return ["".join(step).encode() for step in steps]


def rfc3339(timestamp: float) -> str:
    """``2026-01-02T03:04:05Z``, the form of Anthropic's ``anthropic-ratelimit-*-reset`` headers."""
    when = datetime.datetime.fromtimestamp(math.ceil(timestamp), tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(openai_style: Iterable[tuple[bytes, bytes]], now: float) -> list[tuple[bytes, bytes]]:
    """Anthropic's ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` headers from the
    shared limiter's ``x-ratelimit-*`` ones (reset becomes an RFC 3339 time, not a duration)."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in openai_style:
        if not name.startswith(b"x-ratelimit-"):
            continue
        field, _, kind = name[len(b"x-ratelimit-") :].partition(b"-")
        if field == b"reset":
            value = rfc3339(now + (parse_duration(value.decode()) or 0.0)).encode()
        out.append((b"anthropic-ratelimit-" + kind + b"-" + field, value))
    return out


def parse_sse(body: bytes) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of an SSE body, for tests that read the raw stream."""
    events: list[tuple[str, Any]] = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events
