"""llmp's provider-neutral Request -> Cohere's v2 Chat body; Cohere's answers -> Response / Chunk.

Parameters arrive in OpenAI's vocabulary (llmp's lingua franca) and are renamed here. One Cohere
cannot honour raises `UnsupportedParameterError` before anything is sent: a silently dropped
``logit_bias`` would look like a bug in the user's own code. Tools, tool results, images, output
schemas and thinking map one to one onto Cohere's v2 fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmp.errors import MalformedResponseError, UnsupportedParameterError
from llmp.types import Choice, Chunk, FinishReason, Request, Response, ToolCall, ToolCallDelta, Usage

__all__ = ["FINISH_REASONS", "PROVIDER", "StreamReader", "parse_chat", "request_body", "usage_from"]

PROVIDER = "cohere"
# llmp name -> Cohere name, for parameters that need no other change.
_RENAMED = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "p",
    "p": "p",
    "top_k": "k",
    "k": "k",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "safety_mode": "safety_mode",
}
# Cohere's finish reasons in llmp's vocabulary.
# --8<-- [start:finish]
FINISH_REASONS: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}
# --8<-- [end:finish]
# A thinking effort as Cohere's token budget.
_BUDGETS = {"minimal": 512, "low": 1024, "medium": 4096, "high": 16384}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def _content(message: Mapping[str, Any], where: str) -> str | list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content or ()):
        if part.get("type") == "text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif part.get("type") == "image_url":
            spec = part.get("image_url")
            url = spec.get("url") if isinstance(spec, dict) else spec
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            raise UnsupportedParameterError(f"{where}.content[{j}]: llmp-cohere sends text and images only")
    return parts


def _messages(request: Request) -> list[dict[str, Any]]:
    out = []
    for i, message in enumerate(request.messages):
        role = _ROLES.get(str(message.get("role")))
        if role is None:
            raise UnsupportedParameterError(f"llmp-cohere cannot send a {message.get('role')!r} message")
        converted: dict[str, Any] = {"role": role}
        if role == "tool":
            converted["tool_call_id"] = message["tool_call_id"]
        calls = message.get("tool_calls")
        if calls:
            # Cohere's tool calls are OpenAI's shape; llmp's opaque `extra` stays behind.
            converted["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": dict(c["function"])} for c in calls
            ]
        if message.get("content") is not None:
            converted["content"] = _content(message, f"messages[{i}]")
        out.append(converted)
    return out


def _tools(request: Request, body: dict[str, Any]) -> None:
    tools = list(request.tools)
    choice = request.tool_choice
    if choice not in (None, "auto", "none", "required"):
        # Cohere cannot force one named tool, but offering only that one and requiring a call is it.
        tools = [t for t in tools if t.name == choice]
        choice = "required"
    body["tools"] = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
        }
        for t in tools
    ]
    if choice in ("required", "none"):
        body["tool_choice"] = choice.upper()
    if any(t.strict for t in tools):
        body["strict_tools"] = True


def _thinking(request: Request) -> dict[str, Any] | None:
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled:
        return {"type": "disabled"}
    budget = reasoning.budget_tokens or _BUDGETS[reasoning.effort or "medium"]
    return {"type": "enabled", "token_budget": budget}


# --8<-- [start:body]
def request_body(request: Request, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request), "stream": stream}
    for name, value in request.params.items():
        if value is None:
            continue  # None means "not set" throughout llmp
        if name in _RENAMED:
            body[_RENAMED[name]] = value
        elif name == "stop":
            body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif name == "extra_body":
            body.update(value)  # the user's own fields, sent as given
        else:
            raise UnsupportedParameterError(f"llmp-cohere does not support the parameter {name!r}")
    if request.tools:
        _tools(request, body)
    if request.output_schema is not None:
        body["response_format"] = {"type": "json_object", "json_schema": dict(request.output_schema.schema)}
    thinking = _thinking(request)
    if thinking is not None:
        body["thinking"] = thinking
    return body


# --8<-- [end:body]


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


def _tool_call(data: Mapping[str, Any]) -> ToolCall:
    function = data.get("function") or {}
    return ToolCall(
        str(data.get("id") or ""), str(function.get("name") or ""), str(function.get("arguments") or "{}")
    )


# --8<-- [start:parse]
def parse_chat(raw: bytes) -> Response:
    data = _load(raw)
    try:
        message = data["message"]
        parts = message.get("content") or []
        text = "".join(p["text"] for p in parts if p.get("type") == "text")
        thinking = "".join(p["thinking"] for p in parts if p.get("type") == "thinking")
        calls = [_tool_call(c) for c in message.get("tool_calls") or ()]
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponseError(
            f"unexpected chat response: {str(raw)[:200]!r}", provider=PROVIDER
        ) from exc
    choice = Choice(
        text=text,
        reasoning=thinking or None,
        tool_calls=calls,
        finish_reason=FINISH_REASONS.get(str(data.get("finish_reason"))),
    )
    # An empty answer is returned as it came: the core decides (and never caches it).
    return Response([choice], usage_from(data.get("usage")), model=None, id=data.get("id"))


# --8<-- [end:parse]


class StreamReader:
    """Cohere's stream events as llmp chunks; `ended` once ``message-end`` arrived."""

    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended = False

    def feed(self, data: str) -> list[Chunk]:
        event = _load(data)
        if not isinstance(event, dict):
            raise MalformedResponseError(
                f"a stream event is not an object: {data[:200]!r}", provider=PROVIDER
            )
        kind = event.get("type")
        delta = event.get("delta") or {}
        message = delta.get("message") or {}
        try:
            if kind == "content-delta":
                content = message["content"]
                if "thinking" in content:
                    return [Chunk(reasoning=str(content["thinking"]))]
                return [Chunk(text=str(content.get("text", "")))]
            if kind in ("tool-call-start", "tool-call-delta"):
                call = message["tool_calls"]
                function = call.get("function") or {}
                position = int(event.get("index") or 0)
                return [
                    Chunk(
                        tool_call=ToolCallDelta(
                            position,
                            call.get("id"),
                            function.get("name"),
                            str(function.get("arguments") or ""),
                        )
                    )
                ]
            if kind == "message-start":
                return [Chunk(id=event.get("id"))]
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedResponseError(f"bad {kind} event: {data[:200]!r}", provider=PROVIDER) from exc
        if kind == "message-end":
            self.ended = True
            finish = FINISH_REASONS.get(str(delta.get("finish_reason")))
            return [Chunk(finish_reason=finish), Chunk(usage=usage_from(delta.get("usage")))]
        return []  # content-start/end, tool plans, citations: nothing to pass on
