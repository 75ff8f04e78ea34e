"""Between llmp's types and litellm's OpenAI-shaped ones (``ModelResponse``, ``ModelResponseStream``).

litellm already speaks OpenAI's vocabulary on both sides, so requests pass through almost as they
are; the work here is reading its usage (Anthropic's cache reads and writes included) and its
response headers into llmp's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from llmp.types import Chunk, RateLimitInfo, Response, Usage
from llmp_litellm._ratelimit import rate_limit_info

# litellm's own retries and its fallbacks stay off: the core retries, with its own backoff, key
# rotation and concurrency window.
_NO_RETRIES = {"num_retries": 0, "max_retries": 0}


@dataclass(slots=True, eq=False)
class LitellmUsage(Usage):
    """`Usage` plus the split of Anthropic's prompt-cache writes between its two caches.

    Anthropic bills cache writes (`cache_write_tokens`) above the input price: 1.25x for the
    default 5-minute cache, 2x for the 1-hour one, so the price hook needs the 1-hour part.
    Adding two `Usage` values gives a plain `Usage` (the core's totals).
    """

    #: The part of `cache_write_tokens` written to the 1-hour cache.
    cache_creation_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        """Anthropic's name for `cache_write_tokens`."""
        return self.cache_write_tokens

    def __eq__(self, other: object) -> bool:
        # Equal to a plain Usage with the same four counts, so code comparing against
        # Usage(...) keeps working; two LitellmUsage values also compare their cache writes.
        if not isinstance(other, Usage):
            return NotImplemented
        base = all(getattr(self, f.name) == getattr(other, f.name) for f in fields(Usage))
        if isinstance(other, LitellmUsage):
            return base and self.cache_creation_1h_input_tokens == other.cache_creation_1h_input_tokens
        return base

    __hash__ = None  # type: ignore[assignment]  # mutable, like Usage


def completion_kwargs(
    request: Any,
    *,
    model: str,
    api_base: str | None,
    api_key: str | None,
    client: object | None,
    n: int,
    stream: bool,
) -> dict[str, Any]:
    """Keyword arguments for ``litellm.acompletion``: the user's generation parameters, then ours
    (so a parameter named like one of ours cannot turn retries back on or redirect the call)."""
    kwargs: dict[str, Any] = dict(request.params)
    kwargs.update(_NO_RETRIES)
    kwargs["model"] = model
    kwargs["messages"] = request.messages
    if n != 1:
        kwargs["n"] = n
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


def _get(obj: Any, name: str) -> Any:
    # litellm's usage objects are pydantic models that also answer dict-style; read both.
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_usage(usage: Any) -> LitellmUsage:
    """llmp usage from litellm's (``litellm.types.utils.Usage``).

    litellm's ``prompt_tokens`` already includes Anthropic's cache reads and writes (it adds them
    to the API's uncached ``input_tokens``); ``prompt_tokens_details.cached_tokens`` is the reads
    and ``cache_creation_input_tokens`` the writes. ``completion_tokens`` includes reasoning.
    """
    if usage is None:
        return LitellmUsage()
    prompt_details = _get(usage, "prompt_tokens_details")
    completion_details = _get(usage, "completion_tokens_details")
    cached = _int(_get(prompt_details, "cached_tokens")) or _int(_get(usage, "cache_read_input_tokens"))
    created = _int(_get(usage, "cache_creation_input_tokens")) or _int(
        _get(prompt_details, "cache_creation_tokens")
    )
    creation_details = _get(prompt_details, "cache_creation_token_details")
    return LitellmUsage(
        input_tokens=_int(_get(usage, "prompt_tokens")),
        cached_input_tokens=cached,
        output_tokens=_int(_get(usage, "completion_tokens")),
        reasoning_tokens=_int(_get(completion_details, "reasoning_tokens")),
        cache_write_tokens=created,
        cache_creation_1h_input_tokens=_int(_get(creation_details, "ephemeral_1h_input_tokens")),
    )


def _headers(obj: Any) -> Mapping[str, str]:
    hidden = getattr(obj, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") if isinstance(hidden, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def response_rate_limit(obj: Any) -> RateLimitInfo | None:
    """The provider's rate-limit headers on a litellm response or stream, if it sent any."""
    return rate_limit_info(_headers(obj))


def _text(message: Any) -> str:
    content = _get(message, "content")
    return content if isinstance(content, str) else ""


def parse_response(raw: Any) -> Response:
    choices = sorted(_get(raw, "choices") or [], key=lambda c: _get(c, "index") or 0)
    return Response(
        [_text(_get(choice, "message")) for choice in choices],
        parse_usage(_get(raw, "usage")),
        [_get(choice, "finish_reason") for choice in choices],
        response_rate_limit(raw),
    )


def chunks_from(raw: Any, index_offset: int = 0) -> list[Chunk]:
    """llmp chunks for one litellm stream chunk: text deltas and finish reasons, then usage."""
    out: list[Chunk] = []
    for choice in _get(raw, "choices") or ():
        text = _text(_get(choice, "delta"))
        finish = _get(choice, "finish_reason") or None
        if text or finish:
            out.append(
                Chunk(text=text, index=(_get(choice, "index") or 0) + index_offset, finish_reason=finish)
            )
    usage = _get(raw, "usage")
    if usage is not None:
        out.append(Chunk(usage=parse_usage(usage)))
    return out


def add_usage(total: LitellmUsage, more: Usage) -> LitellmUsage:
    """Sum two usages keeping the 1-hour cache-write split (``Usage.__add__`` drops it)."""
    return LitellmUsage(
        input_tokens=total.input_tokens + more.input_tokens,
        cached_input_tokens=total.cached_input_tokens + more.cached_input_tokens,
        output_tokens=total.output_tokens + more.output_tokens,
        reasoning_tokens=total.reasoning_tokens + more.reasoning_tokens,
        cache_write_tokens=total.cache_write_tokens + more.cache_write_tokens,
        cache_creation_1h_input_tokens=total.cache_creation_1h_input_tokens
        + getattr(more, "cache_creation_1h_input_tokens", 0),
    )
