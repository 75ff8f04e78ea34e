"""Chat Completions replies as llmp's types: whole bodies and streamed events.

We parse the JSON ourselves instead of building the SDK's pydantic objects: on the hot path of a
streamed request that is one model validation per chunk, which measured as most of the SDK's CPU
cost (bench/sdk_paths.py). The shapes follow openai/types/chat/chat_completion*.py, plus what
OpenAI-compatible hosts add: ``reasoning_content`` (DeepSeek, vLLM, Qwen, GLM) or ``reasoning``
(OpenRouter, Ollama, newer vLLM) on messages and deltas, content as a list of parts (Mistral's
``thinking`` parts), DeepSeek's ``prompt_cache_hit_tokens``.

What came is returned as it came: an empty text, no choices or fewer than asked are the core's to
judge (`llmp._answers`); only a body or event that cannot be read is a `MalformedResponseError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Choice, Chunk, FinishReason, Response, TokenLogprob, ToolCall, ToolCallDelta, Usage

__all__ = ["chunks_from_event", "finish_reason", "parse_completion", "parse_usage"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",  # the legacy functions API
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "model_length": "length",  # Mistral
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "error": "error",
    "insufficient_system_resource": "error",  # DeepSeek
}
_NOTHING: Mapping[str, Any] = {}
_OUTPUT_DETAILS = {
    "audio_tokens": "output_audio_tokens",
    "accepted_prediction_tokens": "accepted_prediction_tokens",
    "rejected_prediction_tokens": "rejected_prediction_tokens",
}


def finish_reason(value: Any) -> FinishReason | None:
    return _FINISH.get(value) if type(value) is str else None


def parse_usage(data: Mapping[str, Any] | None) -> Usage:
    if not data:
        return Usage()
    prompt = data.get("prompt_tokens_details")
    completion = data.get("completion_tokens_details")
    details: dict[str, int] = {}
    if prompt:
        cached = prompt.get("cached_tokens") or 0
        if prompt.get("audio_tokens"):
            details["input_audio_tokens"] = prompt["audio_tokens"]
    else:
        cached = data.get("prompt_cache_hit_tokens") or 0  # DeepSeek
    reasoning = 0
    if completion:
        reasoning = completion.get("reasoning_tokens") or 0
        for name, key in _OUTPUT_DETAILS.items():
            if completion.get(name):
                details[key] = completion[name]
    return Usage(
        data.get("prompt_tokens") or 0, cached, data.get("completion_tokens") or 0, reasoning, 0, details
    )


def _content(content: Any) -> tuple[str, str | None]:
    """(text, reasoning) of a message's content: a string, or a list of parts."""
    if content is None:
        return "", None
    if type(content) is str:
        return content, None
    texts: list[str] = []
    thoughts: list[str] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text") or "")
        elif kind == "thinking":  # Mistral: {"type": "thinking", "thinking": [text parts]}
            inner = part.get("thinking")
            thoughts.append(inner if type(inner) is str else _content(inner)[0])
    return "".join(texts), ("".join(thoughts) if thoughts else None)


def _arguments(value: Any) -> str:
    # Some hosts send the arguments as an object rather than JSON text.
    if value is None:
        return ""
    return value if type(value) is str else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _logprobs(data: Any) -> list[TokenLogprob] | None:
    content = data.get("content") if data else None
    if not content:
        return None
    return [
        TokenLogprob(
            item["token"],
            float(item["logprob"]),
            tuple((top["token"], float(top["logprob"])) for top in item.get("top_logprobs") or ()),
        )
        for item in content
    ]


def _choice(data: Mapping[str, Any]) -> Choice:
    message = data.get("message") or {}
    text, thoughts = _content(message.get("content"))
    reasoning = message.get("reasoning_content") or message.get("reasoning") or thoughts
    calls = [
        ToolCall(call.get("id") or "", (call.get("function") or {}).get("name") or "",
                 _arguments((call.get("function") or {}).get("arguments")))
        for call in message.get("tool_calls") or ()
    ]  # fmt: skip
    finish = finish_reason(data.get("finish_reason"))
    if calls and finish in (None, "stop"):
        finish = "tool_calls"  # hosts that say "stop" after calling tools (Ollama, some vLLM)
    logprobs = data.get("logprobs")
    return Choice(
        text=text,
        reasoning=reasoning if type(reasoning) is str else None,
        refusal=message.get("refusal") or None,
        tool_calls=calls,
        finish_reason=finish,
        logprobs=_logprobs(logprobs) if logprobs else None,
    )


def _error(error: Any, provider: str) -> ServerError:
    message = error.get("message") if isinstance(error, dict) else str(error)
    return ServerError(message or "the provider reported an error", provider=provider, body=error)


def parse_completion(raw: bytes, provider: str) -> Response:
    try:
        data = json.loads(raw)
        if type(data) is not dict:
            raise TypeError(f"the body is a JSON {type(data).__name__}, not an object")
        listed = data.get("choices", ...)
        if listed is ...:
            if data.get("error"):
                raise _error(data["error"], provider)  # a 200 that carries an error (OpenRouter)
            raise KeyError("choices")
        if listed and len(listed) > 1:
            listed = sorted(listed, key=lambda c: c.get("index") or 0)
        choices = [_choice(c) for c in listed or ()]
        usage = parse_usage(data.get("usage"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponseError(
            f"could not parse the chat completion body ({type(exc).__name__}: {exc})", provider=provider
        ) from exc
    model, id_ = data.get("model"), data.get("id")
    return Response(
        choices, usage, model=model if type(model) is str else None, id=id_ if type(id_) is str else None
    )


def chunks_from_event(payload: str | bytes, provider: str, head: bool = False) -> list[Chunk]:
    """The chunks of one ``data:`` event; `head` (the stream's first event) adds one with the
    response's model and id first."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise MalformedResponseError(
            f"a stream event is not valid JSON: {payload[:80]!r}", provider=provider
        ) from exc
    if type(data) is not dict:
        raise MalformedResponseError(f"a stream event is not an object: {payload[:80]!r}", provider=provider)
    error = data.get("error")
    if error:
        raise _error(error, provider)
    out: list[Chunk] = [Chunk(model=data.get("model"), id=data.get("id"))] if head else []
    try:
        for choice in data.get("choices") or ():
            index = choice.get("index") or 0
            delta = choice.get("delta")
            if delta:
                text = delta.get("content")
                if text and len(delta) == 1:  # the common case: a text delta and nothing else
                    out.append(Chunk(text, index))
                elif len(delta) == 1 and "tool_calls" in delta:  # an argument fragment
                    _tool_calls(delta["tool_calls"], index, out)
                else:
                    _rich_delta(delta, index, out)
            finish = choice.get("finish_reason")
            if finish:
                out.append(Chunk(index=index, finish_reason=finish_reason(finish)))
            logprobs = choice.get("logprobs")
            if logprobs:
                out.append(Chunk(index=index, logprobs=_logprobs(logprobs)))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedResponseError(
            f"could not read a stream event ({type(exc).__name__}: {exc}): {payload[:80]!r}",
            provider=provider,
        ) from exc
    usage = data.get("usage")
    if usage:
        out.append(Chunk(usage=parse_usage(usage)))
    return out


def _rich_delta(delta: Mapping[str, Any], index: int, out: list[Chunk]) -> None:
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning and type(reasoning) is str:
        out.append(Chunk(index=index, reasoning=reasoning))
    content = delta.get("content")
    if content:
        text, thoughts = _content(content)
        if thoughts:
            out.append(Chunk(index=index, reasoning=thoughts))
        if text:
            out.append(Chunk(text, index))
    refusal = delta.get("refusal")
    if refusal:
        out.append(Chunk(index=index, refusal=refusal))
    calls = delta.get("tool_calls")
    if calls:
        _tool_calls(calls, index, out)


def _tool_calls(calls: Any, index: int, out: list[Chunk]) -> None:
    for call in calls or ():
        function = call.get("function") or _NOTHING
        arguments = function.get("arguments")
        if type(arguments) is not str:
            arguments = _arguments(arguments)
        # Positional: Chunk(text, index, reasoning, refusal, tool_call), the cheapest to build.
        delta = ToolCallDelta(call.get("index") or 0, call.get("id"), function.get("name"), arguments)
        out.append(Chunk("", index, "", "", delta))
