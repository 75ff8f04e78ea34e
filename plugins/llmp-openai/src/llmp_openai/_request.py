"""A `Request` as a Chat Completions JSON body (openai/types/chat/completion_create_params.py).

- messages go as they are (OpenAI's shape is llmp's), except that llmp's own keys on assistant
  turns (``reasoning``, ``extra``, and ``extra`` on tool calls) are left out: OpenAI rejects
  unknown fields. A host that needs the reasoning of a tool-calling turn back (DeepSeek's
  thinking mode) gets it as ``reasoning_content`` on that turn;
- tools as ``{"type": "function", "function": {...}}``, in OpenAI's strict form when asked;
  ``tool_choice`` as a string or ``{"type": "function", "function": {"name": ...}}``;
- an output schema as ``response_format: {"type": "json_schema", "json_schema": {...}}`` (the
  schema in strict form when strict);
- reasoning as ``reasoning_effort`` (or OpenRouter's ``reasoning`` object); a setting the model
  cannot take is an `UnsupportedParameterError` naming it, before anything is sent;
- ``extra_body`` merged last, as it is; a route's extra fields (OpenRouter's provider sort) fill
  in what the request did not set.

A job sends the same tools and schema with every prompt: their rendering is kept for the next
request with the same objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from llmp._jsonschema import strict_json_schema
from llmp.errors import UnsupportedParameterError
from llmp.types import ChatMessage, OutputSchema, Reasoning, Request, Tool
from llmp_openai._hosts import Host, can_turn_reasoning_off, is_reasoning_model

__all__ = ["render_messages", "request_body"]

_LLMP_KEYS = ("reasoning", "extra")
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_STREAM_OPTIONS = {"include_usage": True}
# One-slot memos by identity: (tools, rendered) and (schema, rendered).
_tools_memo: tuple[Sequence[Tool], list[dict[str, Any]]] | None = None
_schema_memo: tuple[OutputSchema, dict[str, Any]] | None = None


def request_body(
    request: Request,
    host: Host,
    route_extra: Mapping[str, Any] | None,
    *,
    stream: bool,
    provider: str = "",
) -> dict[str, Any]:
    messages = render_messages(request.messages, reasoning_back=host.reasoning_back)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.n != 1:
        body["n"] = request.n
    params = request.params
    extra = None
    if params:
        if "extra_body" in params:
            params = dict(params)
            extra = params.pop("extra_body")
        body.update(params)
    if request.tools:
        _tools(body, request, host)
    if request.output_schema is not None:
        body["response_format"] = _response_format(request.output_schema)
    if request.reasoning is not None:
        _reasoning(body, request.reasoning, request.model, host, provider)
    if extra:
        body.update(extra)
    if route_extra:
        for name, value in route_extra.items():
            body.setdefault(name, value)
    if stream:
        body["stream"] = True
        if host.stream_usage:
            body["stream_options"] = _STREAM_OPTIONS
    return body


def render_messages(messages: list[ChatMessage], *, reasoning_back: bool = False) -> list[ChatMessage]:
    """The messages without llmp's own keys (copied only where there are some)."""
    out: list[ChatMessage] | None = None
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        clean = _assistant(message, reasoning_back)
        if clean is not message:
            if out is None:
                out = list(messages)
            out[i] = clean
    return out if out is not None else messages


def _assistant(message: ChatMessage, reasoning_back: bool) -> ChatMessage:
    calls = message.get("tool_calls") or ()
    dirty_calls = any(isinstance(c, dict) and "extra" in c for c in calls)
    if not dirty_calls and not any(key in message for key in _LLMP_KEYS):
        return message
    clean = {k: v for k, v in message.items() if k not in _LLMP_KEYS}
    if reasoning_back and calls and message.get("reasoning"):
        clean["reasoning_content"] = message["reasoning"]
    if dirty_calls:
        clean["tool_calls"] = [
            {k: v for k, v in c.items() if k != "extra"} if isinstance(c, dict) else c for c in calls
        ]
    return clean


def _tools(body: dict[str, Any], request: Request, host: Host) -> None:
    global _tools_memo
    memo = _tools_memo
    if memo is not None and memo[0] is request.tools:
        rendered = memo[1]
    else:
        rendered = [_tool(tool) for tool in request.tools]
        _tools_memo = (request.tools, rendered)
    choice = request.tool_choice
    if choice is None or choice in ("auto", "none"):
        body["tools"] = rendered
        if choice is not None:
            body["tool_choice"] = choice
    elif choice == "required":
        body["tools"] = rendered
        body["tool_choice"] = host.required_choice
    elif host.named_choice:
        body["tools"] = rendered
        body["tool_choice"] = {"type": "function", "function": {"name": choice}}
    else:
        # "Call this one" said as "call one of these", with only that one offered.
        body["tools"] = [t for t in rendered if t["function"]["name"] == choice]
        body["tool_choice"] = host.required_choice
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.strict:
        function["parameters"] = strict_json_schema(tool.parameters)
        function["strict"] = True
    else:
        function["parameters"] = dict(tool.parameters)
    return {"type": "function", "function": function}


def _response_format(schema: OutputSchema) -> dict[str, Any]:
    global _schema_memo
    memo = _schema_memo
    if memo is not None and memo[0] is schema:
        return memo[1]
    name = _SCHEMA_NAME.sub("_", schema.name)[:64] or "output"
    spec = {
        "name": name,
        "schema": strict_json_schema(schema.schema) if schema.strict else dict(schema.schema),
        "strict": schema.strict,
    }
    rendered = {"type": "json_schema", "json_schema": spec}
    _schema_memo = (schema, rendered)
    return rendered


def _reasoning(body: dict[str, Any], reasoning: Reasoning, model: str, host: Host, provider: str) -> None:
    style = host.reasoning
    if style == "openrouter":
        # https://openrouter.ai/docs/use-cases/reasoning-tokens: effort, max_tokens or enabled.
        if not reasoning.enabled:
            body["reasoning"] = {"enabled": False}
        elif reasoning.budget_tokens is not None:
            body["reasoning"] = {"max_tokens": reasoning.budget_tokens}
        else:
            body["reasoning"] = {"effort": reasoning.effort or "medium"}
        return
    where = f"{provider or 'this host'} ({model})"
    if style == "deepseek" and not reasoning.enabled:
        body["thinking"] = {"type": "disabled"}  # https://api-docs.deepseek.com/guides/thinking_mode
        return
    if style is None:
        raise UnsupportedParameterError(f"{where} takes no reasoning setting: leave reasoning= out")
    if reasoning.budget_tokens is not None:
        raise UnsupportedParameterError(
            f"reasoning={reasoning.budget_tokens} (a token budget) cannot be sent to {where}: it takes "
            "an effort, reasoning='low', 'medium' or 'high'"
        )
    if not reasoning.enabled:
        if style == "openai" and can_turn_reasoning_off(model):
            body["reasoning_effort"] = "none"
            return
        raise UnsupportedParameterError(
            f"{where} cannot turn reasoning off (reasoning=False/'none'): pass the lowest effort, "
            f"reasoning={'minimal' if model.startswith('gpt-5') else 'low'!r}, or a non-reasoning model"
        )
    effort = reasoning.effort or "medium"
    if effort == "minimal" and style == "openai" and not model.startswith("gpt-5"):
        raise UnsupportedParameterError(
            f"{where} takes reasoning 'low', 'medium' or 'high'; 'minimal' is for the gpt-5 family"
        )
    if style == "openai" and not is_reasoning_model(model):
        raise UnsupportedParameterError(f"{where} is not a reasoning model: leave reasoning= out")
    body["reasoning_effort"] = effort
