"""Streamed chunks joined into a `Response`, and a `Response` replayed as chunks.

One `Accumulator` per attempt (a failed attempt's text, tool-call fragments or usage never leak
into the next one's answer). Joining per sample: text, reasoning and refusal deltas are
concatenated; a tool call's id and name come once, its argument fragments are concatenated in
order; the last usage and finish reason win.
"""

from __future__ import annotations

from typing import Any

from llmp.types import (
    Choice,
    Chunk,
    FinishReason,
    RateLimitInfo,
    Response,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["Accumulator", "replay"]


class _Sample:
    __slots__ = ("calls", "extra", "finish", "logprobs", "reasoning", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] | None = None
        self.refusal: list[str] | None = None
        self.calls: dict[int, list[Any]] | None = None  # position -> [id, name, [fragments], extra]
        self.logprobs: list[TokenLogprob] | None = None
        self.extra: dict[str, Any] | None = None
        self.finish: FinishReason | None = None

    def tool_call(self, delta: ToolCallDelta) -> None:
        calls = self.calls
        if calls is None:
            calls = self.calls = {}
        call = calls.get(delta.position)
        if call is None:
            call = calls[delta.position] = [delta.id, delta.name, [], None]
        if delta.id and not call[0]:
            call[0] = delta.id
        if delta.name and not call[1]:
            call[1] = delta.name
        if delta.arguments:
            call[2].append(delta.arguments)
        if delta.extra:
            call[3] = {**(call[3] or {}), **delta.extra}

    def choice(self, index: int) -> Choice:
        calls = [
            ToolCall(call[0] or f"call_{index}_{position}", call[1] or "", "".join(call[2]) or "{}", call[3])
            for position, call in sorted((self.calls or {}).items())
        ]
        return Choice(
            text="".join(self.text),
            reasoning="".join(self.reasoning) if self.reasoning is not None else None,
            refusal="".join(self.refusal) if self.refusal is not None else None,
            tool_calls=calls,
            finish_reason=self.finish,
            logprobs=self.logprobs,
            extra=self.extra,
        )


class Accumulator:
    __slots__ = ("http_version", "id", "model", "rate_limit", "samples", "usage")

    def __init__(self) -> None:
        self.samples: dict[int, _Sample] = {}
        self.usage: Usage | None = None
        self.rate_limit: RateLimitInfo | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.http_version: str | None = None

    def add(self, chunk: Chunk) -> None:
        sample = self.samples.get(chunk.index)
        if sample is None:
            sample = self.samples[chunk.index] = _Sample()
        if chunk.text:
            sample.text.append(chunk.text)
        if chunk.finish_reason is not None:
            sample.finish = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.tool_call is not None:
            sample.tool_call(chunk.tool_call)
        if chunk.reasoning:
            if sample.reasoning is None:
                sample.reasoning = []
            sample.reasoning.append(chunk.reasoning)
        if chunk.refusal:
            if sample.refusal is None:
                sample.refusal = []
            sample.refusal.append(chunk.refusal)
        if chunk.rate_limit is not None:
            self.rate_limit = chunk.rate_limit
        if chunk.model is not None:
            self.model = chunk.model
        if chunk.id is not None:
            self.id = chunk.id
        if chunk.http_version is not None:
            self.http_version = chunk.http_version
        if chunk.logprobs:
            sample.logprobs = (sample.logprobs or []) + chunk.logprobs
        if chunk.extra:
            sample.extra = {**(sample.extra or {}), **chunk.extra}

    def response(self) -> Response:
        count = max(self.samples, default=-1) + 1
        empty = _Sample()
        # Samples that sent nothing at all stay out: the answer rules then see a short answer.
        choices = [self.samples.get(i, empty).choice(i) for i in range(count)]
        return Response(
            choices,
            self.usage or Usage(),
            model=self.model,
            id=self.id,
            http_version=self.http_version,
            rate_limit=self.rate_limit,
        )


def replay(response: Response) -> list[Chunk]:
    """A finished response (a cache hit) as the chunks a stream of it would have given."""
    out: list[Chunk] = []
    for index, choice in enumerate(response.choices):
        if choice.reasoning:
            out.append(Chunk(index=index, reasoning=choice.reasoning))
        if choice.text:
            out.append(Chunk(text=choice.text, index=index))
        if choice.refusal:
            out.append(Chunk(index=index, refusal=choice.refusal))
        for position, call in enumerate(choice.tool_calls):
            delta = ToolCallDelta(position, call.id, call.name, call.arguments, call.extra)
            out.append(Chunk(index=index, tool_call=delta))
        out.append(Chunk(index=index, finish_reason=choice.finish_reason, model=response.model))
    out.append(Chunk(usage=response.usage))
    return out
