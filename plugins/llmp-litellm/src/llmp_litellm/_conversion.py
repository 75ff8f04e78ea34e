"""litellm's OpenAI-shaped answers (``ModelResponse``, ``ModelResponseStream``) as llmp's types.

litellm has already read the provider's wire; we read its objects by attribute (they are
pydantic models): text, tool calls (streamed as ``delta.tool_calls`` fragments, from Anthropic's
``input_json_delta``), ``reasoning_content``, Anthropic's ``thinking_blocks`` (kept, signatures
and all, in ``Choice.extra`` so the next turn can send them back), finish reasons in llmp's
vocabulary, usage with prompt-cache reads and writes (the 1-hour writes in ``Usage.details``),
and the response headers litellm kept (rate limits, request id).

An answer with nothing in it (Anthropic's ``content: []`` or one empty text block) is returned
as the empty choice it is: the core raises `EmptyResponseError` with the billed usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llmp.types import Choice, Chunk, FinishReason, RateLimitInfo, Response, ToolCall, ToolCallDelta, Usage
from llmp_litellm._prices import ONE_HOUR_WRITES
from llmp_litellm._ratelimit import original_headers, rate_limit_info

__all__ = ["REFUSAL", "StreamReader", "parse_response", "parse_usage", "response_rate_limit", "stream_usage"]

_FINISH: Final[dict[str | None, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
#: `Choice.refusal` when Anthropic stops with ``stop_reason: "refusal"`` (litellm: content_filter).
REFUSAL: Final = "Anthropic stopped the answer for safety reasons (stop_reason 'refusal')"


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _get(obj: Any, name: str) -> Any:
    # litellm's usage details are pydantic models that also answer dict-style; read both.
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def parse_usage(usage: Any, provider: str) -> Usage:
    """llmp usage from litellm's (``litellm.types.utils.Usage``).

    litellm's ``prompt_tokens`` already includes Anthropic's cache reads and writes (it adds them
    to the API's uncached ``input_tokens``); ``prompt_tokens_details.cached_tokens`` is the reads
    and ``cache_creation_input_tokens`` the writes, of which ``cache_creation_token_details``
    says how many went to the 1-hour cache. ``completion_tokens`` includes reasoning. Anthropic
    does not count reasoning tokens (litellm estimates them with another tokenizer, and only when
    not streaming), so for Anthropic they stay 0 rather than an estimate that differs by path.
    """
    if usage is None:
        return Usage()
    prompt = _get(usage, "prompt_tokens_details")
    cached = _int(_get(prompt, "cached_tokens")) or _int(_get(usage, "cache_read_input_tokens"))
    written = _int(_get(usage, "cache_creation_input_tokens")) or _int(_get(prompt, "cache_creation_tokens"))
    hour = _one_hour_writes(prompt)
    reasoning = 0
    if provider != "anthropic":
        reasoning = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    return Usage(
        _int(_get(usage, "prompt_tokens")),
        cached,
        _int(_get(usage, "completion_tokens")),
        reasoning,
        written,
        {ONE_HOUR_WRITES: hour} if hour else {},
    )


def _one_hour_writes(prompt_details: Any) -> int:
    return _int(_get(_get(prompt_details, "cache_creation_token_details"), "ephemeral_1h_input_tokens"))


def stream_usage(raw_usage: Any, provider: str, seen: Any) -> Usage:
    """A stream's usage. litellm 1.83 builds it from the last usage it saw (Anthropic's
    ``message_delta``, which has no 1-hour split); the split is in ``message_start``'s, which the
    stream wrapper keeps among its ``chunks``: read it from there."""
    usage = parse_usage(raw_usage, provider)
    if provider == "anthropic" and usage.cache_write_tokens and not usage.details:
        for chunk in seen or ():
            hour = _one_hour_writes(_get(getattr(chunk, "usage", None), "prompt_tokens_details"))
            if hour:
                usage.details[ONE_HOUR_WRITES] = hour
                break
    return usage


def _headers(obj: Any) -> Mapping[str, str]:
    hidden = getattr(obj, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") if isinstance(hidden, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def response_rate_limit(obj: Any) -> RateLimitInfo | None:
    """The provider's rate-limit headers on a litellm response or stream, if it sent any."""
    return rate_limit_info(_headers(obj))


def _request_id(obj: Any) -> str | None:
    headers = _headers(obj)
    if not headers:
        return None
    found = original_headers(headers)
    return found.get("request-id") or found.get("x-request-id")


def _thinking_extra(blocks: Any) -> dict[str, Any] | None:
    if not blocks:
        return None
    return {"thinking_blocks": [dict(block) for block in blocks]}


def _choice(raw: Any, provider: str) -> Choice:
    message = raw.message
    content = message.content
    text = content if isinstance(content, str) else ""
    calls = [
        ToolCall(call.id or "", call.function.name or "", call.function.arguments or "{}")
        for call in message.tool_calls or ()
    ]
    finish = _FINISH.get(raw.finish_reason)
    return Choice(
        text=text,
        reasoning=getattr(message, "reasoning_content", None) or None,
        refusal=REFUSAL if finish == "content_filter" and provider == "anthropic" else None,
        tool_calls=calls,
        finish_reason=finish,
        extra=_thinking_extra(getattr(message, "thinking_blocks", None)),
    )


def parse_response(raw: Any, provider: str) -> Response:
    """A `Response` from litellm's ``ModelResponse``: one choice per sample it holds."""
    choices = sorted(raw.choices or (), key=lambda c: c.index or 0)
    return Response(
        [_choice(choice, provider) for choice in choices],
        parse_usage(getattr(raw, "usage", None), provider),
        model=raw.model,
        id=raw.id,
        request_id=_request_id(raw),
        rate_limit=response_rate_limit(raw),
    )


class StreamReader:
    """Turns one litellm stream's chunks into llmp chunks.

    Anthropic's thinking arrives as ``thinking_blocks`` deltas: text pieces, then the block's
    signature in a delta of its own. A block is whole when its signature comes; each whole block
    is handed on as ``Chunk.extra["thinking_blocks"]`` (every whole block so far, as the core keeps
    the last ``extra`` value per key), so the joined stream carries what `parse_response` gives.
    """

    __slots__ = ("_blocks", "_head", "_parts", "_provider", "_rate_limit", "_wrapper")

    def __init__(self, provider: str, wrapper: Any) -> None:
        self._provider = provider
        self._wrapper = wrapper
        self._rate_limit = response_rate_limit(wrapper)
        self._head = True  # the first chunk handed on carries the model, id and rate limits
        self._parts: list[str] = []
        self._blocks: list[dict[str, Any]] = []

    def chunks(self, raw: Any) -> list[Chunk]:
        """llmp chunks for one litellm stream chunk: deltas and finish reasons, then usage."""
        out: list[Chunk] = []
        for choice in raw.choices or ():
            index = choice.index or 0
            delta = choice.delta
            text = delta.content
            if text:
                out.append(Chunk(text=text, index=index))
            reasoning = getattr(delta, "reasoning_content", None)
            if reasoning:
                out.append(Chunk(index=index, reasoning=reasoning))
            blocks = getattr(delta, "thinking_blocks", None)
            if blocks:
                extra = self._thinking(blocks)
                if extra is not None:
                    out.append(Chunk(index=index, extra=extra))
            for call in delta.tool_calls or ():
                function = call.function
                fragment = ToolCallDelta(call.index or 0, call.id, function.name, function.arguments or "")
                out.append(Chunk(index=index, tool_call=fragment))
            finish = _FINISH.get(choice.finish_reason) if choice.finish_reason else None
            if finish is not None:
                refused = finish == "content_filter" and self._provider == "anthropic"
                out.append(Chunk(index=index, finish_reason=finish, refusal=REFUSAL if refused else ""))
        usage = getattr(raw, "usage", None)
        if usage is not None:
            out.append(
                Chunk(usage=stream_usage(usage, self._provider, getattr(self._wrapper, "chunks", None)))
            )
        if self._head and out:
            head = out[0]
            head.model, head.id, head.rate_limit = raw.model, raw.id, self._rate_limit
            self._head = False
        return out

    def _thinking(self, blocks: Any) -> dict[str, Any] | None:
        done = False
        for block in blocks:
            kind = _get(block, "type")
            if kind == "redacted_thinking":
                self._blocks.append(dict(block))
                done = True
            elif kind == "thinking":
                self._parts.append(_get(block, "thinking") or "")
                signature = _get(block, "signature")
                if signature:
                    whole = {"type": "thinking", "thinking": "".join(self._parts), "signature": signature}
                    self._blocks.append(whole)
                    self._parts = []
                    done = True
        return {"thinking_blocks": list(self._blocks)} if done else None
