"""An llmp `Request` as keyword arguments for ``litellm.acompletion``.

litellm speaks OpenAI's chat vocabulary and turns it into each provider's wire (for Anthropic:
``tool_use`` / ``tool_result`` blocks, ``image`` blocks from ``data:`` URLs, ``output_format`` or
its ``json_tool_call`` tool for a JSON schema, ``thinking``), so most of a request passes as it
is. What we translate:

- tools, ``tool_choice`` (a tool's name becomes OpenAI's ``{"type": "function", ...}``),
  ``parallel_tool_calls`` and the output schema (``response_format`` of type ``json_schema``);
- reasoning: for Anthropic a thinking budget, ``thinking={"type": "enabled", "budget_tokens":
  N}`` (an effort maps to `EFFORT_BUDGETS`; off is ``{"type": "disabled"}``); for the catch-all
  litellm's own ``reasoning_effort`` or ``thinking`` budget;
- assistant turns from `Choice.message()`: their ``extra`` carries Anthropic's signed thinking
  blocks, which go back as litellm's ``thinking_blocks`` (so a tool loop works with thinking on);
  ``reasoning`` and the tool calls' ``extra`` are ours and are not sent.

Anthropic's own rules for thinking (a budget of at least 1024 tokens, below ``max_tokens``; no
``temperature`` but 1; no forced tool choice) are checked here, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llmp.errors import UnsupportedParameterError
from llmp.types import ChatMessage, Reasoning, Request

__all__ = ["EFFORT_BUDGETS", "MIN_THINKING_BUDGET", "completion_kwargs"]

#: Anthropic thinking budgets (tokens) for ``reasoning="minimal" | ... | "high"``.
EFFORT_BUDGETS: Final = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
MIN_THINKING_BUDGET: Final = 1024
# litellm's own retries and its fallbacks stay off: the core retries, with its own backoff, key
# rotation and concurrency window.
_NO_RETRIES: Final = {"num_retries": 0, "max_retries": 0}
# litellm.acompletion's own keywords, which an extra_body field must not shadow.
_CALL_KEYWORDS: Final = frozenset(
    {
        "model", "messages", "stream", "stream_options", "timeout", "api_key", "api_base", "client",
        "num_retries", "max_retries", "metadata", "n", "drop_params", "allowed_openai_params",
        "extra_headers", "custom_llm_provider", "mock_response",
    }
)  # fmt: skip


def completion_kwargs(
    request: Request,
    *,
    provider: str,
    model: str,
    api_base: str | None,
    api_key: str | None,
    client: object | None,
    stream: bool,
) -> dict[str, Any]:
    """Keyword arguments for ``litellm.acompletion``: the user's generation parameters, then ours
    (so a parameter named like one of ours cannot turn retries back on or redirect the call)."""
    kwargs: dict[str, Any] = dict(request.params)
    if provider == "anthropic" and kwargs.get("extra_body"):
        _spread_extra_body(kwargs)
    kwargs.update(_NO_RETRIES)
    kwargs["model"] = model
    kwargs["messages"] = _messages(request.messages)
    if request.n != 1:
        kwargs["n"] = request.n
    if request.tools:
        # Anthropic's tools have no strict flag that litellm maps; OpenAI-style hosts take it.
        strict = provider != "anthropic"
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                    **({"strict": True} if t.strict and strict else {}),
                },
            }
            for t in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        forced = choice not in ("auto", "none", "required")
        kwargs["tool_choice"] = {"type": "function", "function": {"name": choice}} if forced else choice
    if request.parallel_tool_calls is not None:
        kwargs["parallel_tool_calls"] = request.parallel_tool_calls
    schema = request.output_schema
    if schema is not None:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": dict(schema.schema), "strict": schema.strict},
        }
    if request.reasoning is not None:
        if provider == "anthropic":
            kwargs["thinking"] = _anthropic_thinking(request, request.reasoning)
        else:
            kwargs.update(_litellm_reasoning(request.reasoning))
    # None means "litellm, find it yourself" (the provider's own environment variables).
    for name, value in (("api_base", api_base), ("api_key", api_key), ("client", client)):
        if value is not None:
            kwargs[name] = value
    if request.timeout is not None:
        kwargs["timeout"] = request.timeout
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def _spread_extra_body(kwargs: dict[str, Any]) -> None:
    """``extra_body`` fields as body fields of an Anthropic request.

    litellm's Anthropic handler does not merge ``extra_body`` (it would send a field named
    ``extra_body``); any keyword it does not know goes into the body as it is, and
    ``allowed_openai_params`` lets OpenAI-named ones through too (``service_tier``)."""
    extra: Mapping[str, Any] = kwargs.pop("extra_body")
    taken = sorted(name for name in extra if name in _CALL_KEYWORDS)
    if taken:
        raise UnsupportedParameterError(
            f"anthropic: extra_body cannot set {', '.join(taken)}: litellm takes "
            f"{'that name' if len(taken) == 1 else 'those names'} as its own call settings; pass "
            "llmp's own argument for it instead"
        )
    kwargs.update(extra)
    kwargs["allowed_openai_params"] = sorted(set(extra) | set(kwargs.get("allowed_openai_params") or ()))


def _anthropic_thinking(request: Request, reasoning: Reasoning) -> dict[str, Any]:
    """Anthropic's ``thinking`` for `reasoning`, refusing what the API would refuse."""
    if not reasoning.enabled:
        return {"type": "disabled"}
    if reasoning.budget_tokens is not None:
        budget = reasoning.budget_tokens
        if budget < MIN_THINKING_BUDGET:
            raise UnsupportedParameterError(
                f"anthropic: reasoning={budget} is below Anthropic's smallest thinking budget, "
                f"{MIN_THINKING_BUDGET} tokens: ask for at least {MIN_THINKING_BUDGET}, an effort, or False"
            )
    else:
        budget = EFFORT_BUDGETS[reasoning.effort or "medium"]
    params = request.params
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    if isinstance(limit, int) and limit <= budget:
        raise UnsupportedParameterError(
            f"anthropic: max_tokens={limit} must be greater than the thinking budget ({budget} tokens): "
            "raise max_tokens, lower the reasoning budget, or leave max_tokens unset"
        )
    temperature = params.get("temperature")
    if temperature is not None and temperature != 1:
        raise UnsupportedParameterError(
            f"anthropic: temperature={temperature} cannot be used with thinking (only 1 can): leave "
            "temperature unset, or turn thinking off with reasoning=False"
        )
    if params.get("top_k") is not None:
        raise UnsupportedParameterError("anthropic: top_k cannot be used with thinking: leave it unset")
    if request.tool_choice not in (None, "auto", "none"):
        raise UnsupportedParameterError(
            f"anthropic: tool_choice={request.tool_choice!r} forces a tool, which Anthropic does not allow "
            "with thinking: use tool_choice='auto', or turn thinking off with reasoning=False"
        )
    return {"type": "enabled", "budget_tokens": budget}


def _litellm_reasoning(reasoning: Reasoning) -> dict[str, Any]:
    """litellm's reasoning parameters, which it maps per provider."""
    if not reasoning.enabled:
        return {"reasoning_effort": "none"}
    if reasoning.budget_tokens is not None:
        return {"thinking": {"type": "enabled", "budget_tokens": reasoning.budget_tokens}}
    return {"reasoning_effort": reasoning.effort or "medium"}


def _messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages as litellm takes them: only assistant turns that carry our keys change."""
    out: list[ChatMessage] | None = None
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or not _has_ours(message):
            continue
        if out is None:
            out = list(messages)
        out[i] = _assistant(message)
    return out if out is not None else messages


def _has_ours(message: Mapping[str, Any]) -> bool:
    if "extra" in message or "reasoning" in message:
        return True
    calls = message.get("tool_calls")
    return isinstance(calls, list) and any(isinstance(c, dict) and "extra" in c for c in calls)


def _assistant(message: Mapping[str, Any]) -> ChatMessage:
    turn = {k: v for k, v in message.items() if k not in ("extra", "reasoning")}
    extra = message.get("extra")
    blocks = extra.get("thinking_blocks") if isinstance(extra, Mapping) else None
    if blocks:
        turn["thinking_blocks"] = [dict(block) for block in blocks]
    calls = message.get("tool_calls")
    if calls:
        turn["tool_calls"] = [
            {k: v for k, v in call.items() if k != "extra"} if isinstance(call, dict) else call
            for call in calls
        ]
    return turn
