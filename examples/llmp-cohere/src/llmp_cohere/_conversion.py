"""llmp's provider-neutral Request -> Cohere's v2 Chat body; Cohere's answers -> Response / Chunk.

Parameters arrive in OpenAI's vocabulary (llmp's lingua franca) and are renamed here. One
Cohere cannot honour raises `UnsupportedParameterError` before anything is sent: a silently
dropped ``n=5`` or ``logprobs`` would look like a bug in the user's own code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmp.errors import EmptyResponseError, MalformedResponseError, UnsupportedParameterError
from llmp.types import Chunk, Request, Response, Usage

__all__ = ["FINISH_REASONS", "chunk_from_event", "parse_chat", "request_body", "usage_from"]

# llmp name -> Cohere name, for parameters that need no other change.
_RENAMED = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "p",
    "top_k": "k",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
# Cohere's finish reasons in OpenAI's words, which is what llmp reports everywhere.
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
PROVIDER = "cohere"


def _content(message: Mapping[str, Any]) -> str | list[dict[str, str]]:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return [{"type": "text", "text": str(p.get("text", ""))} for p in content]
    raise UnsupportedParameterError("llmp-cohere sends text content only (no images or other parts)")


def _messages(request: Request) -> list[dict[str, Any]]:
    out = []
    for message in request.messages:
        role = _ROLES.get(str(message.get("role")))
        if role is None:
            raise UnsupportedParameterError(f"llmp-cohere cannot send a {message.get('role')!r} message")
        out.append({"role": role, "content": _content(message)})
    return out


# --8<-- [start:body]
def request_body(request: Request, *, stream: bool) -> dict[str, Any]:
    if request.n != 1:
        raise UnsupportedParameterError(
            f"Cohere's chat API returns one answer per request; n={request.n} is not supported "
            "(call generate() with the prompt repeated instead)"
        )
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request), "stream": stream}
    for name, value in request.params.items():
        if value is None:
            continue  # None means "not set" throughout llmp
        if name in _RENAMED:
            body[_RENAMED[name]] = value
        elif name == "stop":
            body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif name == "response_format":
            body["response_format"] = _response_format(value)
        else:
            raise UnsupportedParameterError(f"llmp-cohere does not support the parameter {name!r}")
    return body


# --8<-- [end:body]


def _response_format(value: Mapping[str, Any]) -> dict[str, Any]:
    kind = value.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        return {"type": "json_object", "json_schema": value.get("json_schema", {}).get("schema", {})}
    raise UnsupportedParameterError(f"llmp-cohere does not support response_format type {kind!r}")


def usage_from(data: Any) -> Usage:
    """Cohere reports `tokens` (everything the model saw) and `billed_units` (what is charged;
    Cohere does not bill tokens it adds itself). llmp counts what is billed, so costs add up."""
    if not isinstance(data, dict):
        return Usage()
    counts = data.get("billed_units") or data.get("tokens") or {}
    return Usage(int(counts.get("input_tokens") or 0), 0, int(counts.get("output_tokens") or 0))


def _load(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MalformedResponseError(f"not JSON: {str(raw)[:200]!r}", provider=PROVIDER) from exc


def parse_chat(raw: bytes) -> Response:
    data = _load(raw)
    try:
        parts = data["message"]["content"] or []
        text = "".join(p["text"] for p in parts if p.get("type") == "text")
    except (KeyError, TypeError) as exc:
        raise MalformedResponseError(
            f"unexpected chat response: {str(raw)[:200]!r}", provider=PROVIDER
        ) from exc
    finish = FINISH_REASONS.get(str(data.get("finish_reason")))
    usage = usage_from(data.get("usage"))
    if not text:
        raise EmptyResponseError(
            f"Cohere answered without text (finish_reason {data.get('finish_reason')!r})",
            provider=PROVIDER,
            finish_reason=finish,
            usage=usage,
        )
    return Response([text], usage, [finish])


def chunk_from_event(data: str) -> Chunk | None:
    """The llmp chunk for one SSE ``data:`` payload, or None for events that carry no text."""
    event = _load(data)
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "content-delta":
        try:
            return Chunk(text=str(event["delta"]["message"]["content"]["text"]))
        except (KeyError, TypeError) as exc:
            raise MalformedResponseError(f"bad content-delta: {data[:200]!r}", provider=PROVIDER) from exc
    if kind == "message-end":
        delta = event.get("delta") or {}
        finish = FINISH_REASONS.get(str(delta.get("finish_reason")))
        return Chunk(usage=usage_from(delta.get("usage")), finish_reason=finish)
    return None  # message-start, content-start/end, citations, tool plans: nothing to pass on
