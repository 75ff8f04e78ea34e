"""Gemini's ``GenerateContentResponse`` JSON as llmp's responses and chunks.

We read the REST JSON (camelCase) ourselves rather than google-genai's pydantic objects: the SDK
parses each streamed event, dumps it back to JSON, parses it again and validates it into a
model, ~0.3 ms per event on the benchmark machine (bench/gemini.py), while the fields llmp needs
are a handful. Batch results, which the SDK hands over as objects, are dumped to the same JSON
first (`llmp_gemini._batch`), so one set of rules reads both.

A candidate's parts: text, thought summaries (``"thought": true``: the reasoning), and
``functionCall`` parts (tool calls; Gemini streams each whole, in one event). Gemini gives a call
no id of its own (unless it does: then it is kept, in ``extra["id"]`` too, to be sent back), so
the id is made from the response id, the candidate and the call's position: the same answer
always has the same ids, streamed or not. A ``thoughtSignature`` is kept with the part it came
on (``ToolCall.extra`` / ``Choice.extra``), to be sent back in the next turn.

What came is returned as it came, for the core's answer rules (`llmp._answers`) to judge: a
candidate without text is an empty `Choice`, fewer candidates than asked are fewer choices, all
with the billed usage. A prompt Gemini blocked (``promptFeedback.blockReason``, no candidates) is
``n`` empty choices ended by ``content_filter``. Only what cannot be read (not JSON, a truncated
stream) is a `MalformedResponseError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Choice, Chunk, FinishReason, Response, ToolCall, ToolCallDelta, Usage

__all__ = ["StreamState", "finish_reason", "load", "parse_response", "parse_usage"]

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")  # fmt: skip
# Gemini's finish reasons in llmp's words; every other reason (OTHER, LANGUAGE,
# MALFORMED_FUNCTION_CALL, ...) is an error.
_FINISH: dict[str, FinishReason | None] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "FINISH_REASON_UNSPECIFIED": None,
    **{name: "content_filter" for name in _FILTERED},
}


def finish_reason(value: str | None, called: bool = False) -> FinishReason | None:
    """llmp's word for a Gemini finish reason: a STOP after function calls is ``tool_calls``."""
    if value is None:
        return None
    finish = _FINISH.get(value, "error")
    return "tool_calls" if called and finish == "stop" else finish


def parse_usage(meta: Mapping[str, Any] | None) -> Usage:
    """``usageMetadata`` as llmp's `Usage`: thoughts are billed as output, and are its reasoning;
    tool-use prompt tokens are billed as input (and named in `details`)."""
    if not meta:
        return Usage()
    thoughts = meta.get("thoughtsTokenCount") or 0
    tool_prompt = meta.get("toolUsePromptTokenCount") or 0
    usage = Usage(
        input_tokens=(meta.get("promptTokenCount") or 0) + tool_prompt,
        cached_input_tokens=meta.get("cachedContentTokenCount") or 0,
        output_tokens=(meta.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
    )
    if tool_prompt:
        usage.details["tool_use_prompt_tokens"] = tool_prompt
    return usage


def load(payload: str | bytes, provider: str) -> dict[str, Any]:
    """One response (or stream event) body; an ``error`` object inside it is the provider's error."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise MalformedResponseError(
            f"a Gemini response is not valid JSON: {payload[:80]!r}", provider=provider
        ) from exc
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"a Gemini response is not an object: {payload[:80]!r}", provider=provider
        )
    error = data.get("error")
    if error:
        said = error.get("message") if isinstance(error, dict) else str(error)
        raise ServerError(said or "Gemini reported an error mid-response", provider=provider, body=error)
    return data


def call_id(response_id: str | None, index: int, position: int) -> str:
    """A stable id for a call Gemini gave none: the same answer gets the same ids."""
    return f"call_{response_id or 'gemini'}_{index}_{position}"


def _call(part: Mapping[str, Any], response_id: str | None, index: int, position: int) -> ToolCall:
    function = part["functionCall"]
    gemini_id = function.get("id")
    extra: dict[str, Any] = {}
    if gemini_id:
        extra["id"] = gemini_id
    signature = part.get("thoughtSignature")
    if signature:
        extra["thought_signature"] = signature
    arguments = json.dumps(function.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
    return ToolCall(
        gemini_id or call_id(response_id, index, position),
        str(function.get("name") or ""),
        arguments,
        extra or None,
    )


def _choice(candidate: Mapping[str, Any], response_id: str | None, index: int) -> Choice:
    content = candidate.get("content")
    parts = content.get("parts") if content else None
    texts: list[str] = []
    thoughts: list[str] | None = None
    calls: list[ToolCall] = []
    signature = None
    for part in parts or ():
        if "functionCall" in part:
            calls.append(_call(part, response_id, index, len(calls)))
            continue
        text = part.get("text")
        if part.get("thought"):
            if text:
                thoughts = thoughts or []
                thoughts.append(text)
        elif text:
            texts.append(text)
        if part.get("thoughtSignature"):
            signature = part["thoughtSignature"]
    return Choice(
        text="".join(texts),
        reasoning="".join(thoughts) if thoughts is not None else None,
        tool_calls=calls,
        finish_reason=finish_reason(candidate.get("finishReason"), bool(calls)),
        extra={"thought_signature": signature} if signature else None,
    )


def parse_response(
    response: Mapping[str, Any], n: int, provider: str, http_version: str | None = None
) -> Response:
    """A `Response` from a ``GenerateContentResponse``, with what came (see the module docstring)."""
    try:
        usage = parse_usage(response.get("usageMetadata"))
        response_id = response.get("responseId")
        candidates: list[Any] = response.get("candidates") or []
        if len(candidates) == 1:
            choices = [_choice(candidates[0], response_id, candidates[0].get("index") or 0)]
        elif candidates:
            ordered = sorted(candidates, key=lambda c: c.get("index") or 0)
            choices = [_choice(c, response_id, c.get("index") or 0) for c in ordered]
        elif (response.get("promptFeedback") or {}).get("blockReason"):
            choices = [Choice(finish_reason="content_filter") for _ in range(n)]
        else:
            choices = []
    except (AttributeError, TypeError, KeyError) as exc:
        message = f"a Gemini response has an unexpected shape: {exc!r}"
        raise MalformedResponseError(message, provider=provider) from exc
    return Response(
        choices,
        usage,
        model=response.get("modelVersion"),
        id=response_id,
        http_version=http_version,
    )


class StreamState:
    """What a stream has shown so far: each candidate's calls (to number them and name the
    finish), which finished, and the latest usage."""

    __slots__ = ("blocked", "calls", "events", "finished", "http_version", "response_id", "usage_metadata")

    def __init__(self, http_version: str | None = None) -> None:
        self.events = 0
        self.calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self.finished: dict[int, bool] = {}  # candidate index -> finished
        self.usage_metadata: Mapping[str, Any] | None = None
        self.blocked = False
        self.response_id: str | None = None
        self.http_version = http_version

    def chunks(self, event: Mapping[str, Any]) -> list[Chunk]:
        """The deltas of one streamed ``GenerateContentResponse``."""
        out: list[Chunk] = []
        if not self.events:
            self.response_id = event.get("responseId")
            out.append(
                Chunk(model=event.get("modelVersion"), id=self.response_id, http_version=self.http_version)
            )
        self.events += 1
        usage = event.get("usageMetadata")
        if usage:
            # Each event carries the running totals, so the last one is the answer's usage.
            self.usage_metadata = usage
        candidates = event.get("candidates")
        if not candidates:
            if (event.get("promptFeedback") or {}).get("blockReason"):
                self.blocked = True
            return out
        finished = self.finished
        for candidate in candidates:
            index = candidate.get("index") or 0
            content = candidate.get("content")
            parts = content.get("parts") if content else None
            for part in parts or ():
                text = part.get("text")
                if text is not None and len(part) == 1:  # a plain text delta: the hot path
                    if text:
                        out.append(Chunk(text, index))
                else:
                    self._part(part, index, out)
            finish = candidate.get("finishReason")
            if finish is not None:
                finished[index] = True
                out.append(Chunk(index=index, finish_reason=finish_reason(finish, index in self.calls)))
            elif index not in finished:
                finished[index] = False
        return out

    def _part(self, part: Mapping[str, Any], index: int, out: list[Chunk]) -> None:
        if "functionCall" in part:
            position = self.calls.get(index, 0)
            self.calls[index] = position + 1
            call = _call(part, self.response_id, index, position)
            delta = ToolCallDelta(position, call.id, call.name, call.arguments, call.extra)
            out.append(Chunk(index=index, tool_call=delta))
            return
        text = part.get("text") or ""
        signature = part.get("thoughtSignature")
        extra = {"thought_signature": signature} if signature else None
        if part.get("thought"):
            if text or extra:
                out.append(Chunk(index=index, reasoning=text, extra=extra))
        elif text or extra:
            out.append(Chunk(text, index, extra=extra))

    def end(self, n: int, provider: str) -> list[Chunk]:
        """The closing chunks (a blocked prompt's finishes, the usage); a stream that stopped
        before a candidate finished is truncated: `MalformedResponseError`."""
        unfinished = [i for i, done in self.finished.items() if not done]
        if unfinished:
            raise MalformedResponseError(
                f"the Gemini stream ended before candidate {unfinished[0]} finished (no finishReason): "
                "truncated",
                provider=provider,
            )
        out = []
        if self.blocked and not self.finished:
            out = [Chunk(index=i, finish_reason="content_filter") for i in range(n)]
        out.append(Chunk(usage=parse_usage(self.usage_metadata)))
        return out
