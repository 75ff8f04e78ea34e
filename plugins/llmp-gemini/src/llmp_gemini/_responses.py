"""Gemini's ``GenerateContentResponse`` JSON as llmp's responses and chunks.

We read the REST JSON (camelCase) ourselves rather than google-genai's pydantic objects: the SDK
parses each streamed event, dumps it back to JSON, parses it again and validates it into a
model, ~0.3 ms per event on the benchmark machine (bench/gemini.py), while the fields llmp needs
are a handful. Batch results, which the SDK hands over as objects, are dumped to the same JSON
first (`llmp_gemini._batch`), so one set of rules reads both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Chunk, Response, Usage
from llmp_gemini._errors import EmptyResponseError

# Gemini's finish reasons in OpenAI's words, so callers see one vocabulary across providers.
_FINISH: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# Finishes where the same request would end the same way: retrying an empty answer is useless.
_FINAL_EMPTY = frozenset(_FINISH) - {"STOP"}


def finish_reason(value: str | None) -> str | None:
    """OpenAI's word for a Gemini finish reason; unknown ones lower-cased."""
    if value is None:
        return None
    return _FINISH.get(value, value.lower())


def candidate_text(candidate: Mapping[str, Any]) -> str:
    """The answer text of one candidate: its text parts, without thought summaries."""
    content = candidate.get("content")
    parts = content.get("parts") if content else None
    if not parts:
        return ""
    texts = [p.get("text") for p in parts if not p.get("thought")]
    return "".join(t for t in texts if t)


def parse_usage(meta: Mapping[str, Any] | None) -> Usage:
    """``usageMetadata`` as llmp's `Usage`: thoughts are billed as output, and are its reasoning."""
    if not meta:
        return Usage()
    thoughts = meta.get("thoughtsTokenCount") or 0
    return Usage(
        input_tokens=meta.get("promptTokenCount") or 0,
        cached_input_tokens=meta.get("cachedContentTokenCount") or 0,
        output_tokens=(meta.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
    )


def empty_error(index: int, finish: str | None, usage: Usage, provider: str) -> EmptyResponseError:
    if finish == "MAX_TOKENS":
        why = (
            f"the output budget ran out first (finish reason MAX_TOKENS, {usage.reasoning_tokens} "
            "thinking tokens): raise max_tokens or lower the thinking budget"
        )
    elif finish in _FINAL_EMPTY:
        why = f"the answer was withheld (finish reason {finish})"
    else:
        why = f"finish reason {finish or 'none'}"
    return EmptyResponseError(
        f"Gemini returned no text for candidate {index}: {why}",
        provider=provider,
        finish_reason=finish,
        retryable=finish not in _FINAL_EMPTY,
        usage=usage,
    )


def _blocked(response: Mapping[str, Any], usage: Usage, provider: str) -> EmptyResponseError:
    reason = (response.get("promptFeedback") or {}).get("blockReason")
    if reason is not None:
        return EmptyResponseError(
            f"Gemini blocked the prompt (block reason {reason}) and returned no candidates",
            provider=provider,
            finish_reason=reason,
            retryable=False,
            usage=usage,
        )
    return EmptyResponseError(
        "Gemini returned no candidates", provider=provider, finish_reason=None, retryable=True, usage=usage
    )


def load(payload: bytes, provider: str) -> dict[str, Any]:
    """One response (or stream event) body; an ``error`` object inside it is the provider's error."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise MalformedResponseError(
            f"a Gemini response is not valid JSON: {payload[:80]!r}", provider=provider
        ) from exc
    if not isinstance(data, dict):
        message = f"a Gemini response is not an object: {payload[:80]!r}"
        raise MalformedResponseError(message, provider=provider)
    error = data.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ServerError(message or "Gemini reported an error mid-response", provider=provider, body=error)
    return data


def parse_response(response: Mapping[str, Any], n: int, provider: str) -> Response:
    """A finished `Response` from a ``GenerateContentResponse``; every candidate must have text."""
    try:
        usage = parse_usage(response.get("usageMetadata"))
        candidates = response.get("candidates") or []
        if not candidates:
            raise _blocked(response, usage, provider)
        by_index = {c.get("index") or 0: c for c in candidates}
    except (AttributeError, TypeError) as exc:
        message = f"a Gemini response has an unexpected shape: {exc}"
        raise MalformedResponseError(message, provider=provider) from exc
    texts: list[str] = []
    finishes: list[str | None] = []
    for i in range(max(n, len(by_index))):
        candidate = by_index.get(i)
        if candidate is None:
            raise MalformedResponseError(
                f"Gemini sent {len(by_index)} candidates for candidate_count={n}", provider=provider
            )
        text = candidate_text(candidate)
        finish = candidate.get("finishReason")
        if not text:
            raise empty_error(i, finish, usage, provider)
        texts.append(text)
        finishes.append(finish_reason(finish))
    return Response(texts, usage, finishes)


class StreamState:
    """What a stream has shown so far, to check at its end that every candidate finished."""

    __slots__ = ("blocked", "events", "finish", "texts", "usage_metadata")

    def __init__(self) -> None:
        self.events = 0
        self.finish: dict[int, str] = {}
        self.texts: set[int] = set()
        self.usage_metadata: Mapping[str, Any] | None = None
        self.blocked: Mapping[str, Any] | None = None

    def chunks(self, event: Mapping[str, Any]) -> list[Chunk]:
        """The text deltas of one streamed ``GenerateContentResponse``."""
        self.events += 1
        usage = event.get("usageMetadata")
        if usage:
            # Each event carries the running totals, so the last one is the answer's usage.
            self.usage_metadata = usage
        candidates = event.get("candidates")
        if not candidates:
            if event.get("promptFeedback") is not None:
                self.blocked = event
            return []
        out: list[Chunk] = []
        for candidate in candidates:
            index = candidate.get("index") or 0
            text = candidate_text(candidate)
            finish = candidate.get("finishReason")
            if finish is not None:
                self.finish[index] = finish
            if text:
                self.texts.add(index)
            if text or finish is not None:
                out.append(Chunk(text=text, index=index, finish_reason=finish_reason(finish)))
        return out

    def end(self, n: int, provider: str) -> Chunk:
        """The closing usage chunk, or the typed error for a stream that is not a whole answer."""
        usage = parse_usage(self.usage_metadata)
        if self.blocked is not None and not self.finish:
            raise _blocked(self.blocked, usage, provider)
        if not self.events:
            raise EmptyResponseError(
                "the Gemini stream ended without a single event (empty stream)",
                provider=provider,
                finish_reason=None,
                retryable=True,
                usage=usage,
            )
        for i in range(n):
            if i not in self.finish:
                raise MalformedResponseError(
                    f"the Gemini stream ended before candidate {i} finished (no finishReason): truncated",
                    provider=provider,
                )
            if i not in self.texts:
                raise empty_error(i, self.finish[i], usage, provider)
        return Chunk(usage=usage)


class SSEEvents:
    """The events of an SSE byte stream, fed as the bytes arrive (a plain object, not another
    async generator each event would pass through). An event is its ``data:`` lines joined, ended
    by a blank line; Gemini sends one JSON object per event and ends the stream by closing it."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if b"\n" not in data:
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        events: list[bytes] = []
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
            elif line[:5] == b"data:":
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
        return events

    def close(self) -> list[bytes]:
        """What is left when the stream ends (a last event without its blank line)."""
        if self._buffer.strip():
            self.feed(b"\n")
        return [b"\n".join(self._data)] if self._data else []
