"""What the fake Gemini server answers: `plan_answer`'s rules rendered as Gemini candidates.

Per candidate: `llmp.testing.plan_answer` decides from the request's facts
(`llmp_gemini.testing._gemini_request`) whether the model calls functions, answers JSON for the
``responseJsonSchema``, reports tool results, or says the server's reply text; a thought summary
comes first when the request asked for thoughts (``includeThoughts``) and thinking is on.
Function calls carry the thought signature this server issues (`signature`) on the first call
of each candidate; a thinking Gemini 3 text answer carries one on its last part, as the real API
does. A refusal has no channel of its own on Gemini's wire: it is said as text.

`empty_reply` renders `llmp.testing.EmptyAnswer` in Gemini's shapes: ``"empty"`` (a part with
empty text), ``"null"`` (a content without parts), ``"no_choices"`` (no candidates: with
``promptFeedback.blockReason`` for a content filter) and ``"done_only"`` (a stream without a
single event: Gemini ends a stream by closing it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmp.testing._faults import EmptyAnswer
from llmp.testing._script import plan_answer
from llmp.testing._wire import count_tokens
from llmp_gemini.testing._gemini_request import GenerateRequest, signature
from llmp_gemini.testing._gemini_wire import FINISH_NAMES, Candidate, Reply, plan_candidate

__all__ = ["answer", "empty_reply"]

ReplyFn = Callable[[Mapping[str, Any], int], str]


def answer(
    request: GenerateRequest,
    *,
    reply_fn: ReplyFn,
    empty_text: bool,
    chunk_count: int | None,
    thoughts_tokens: int,
    cached_tokens: int,
    max_candidates: int | None,
    secret: bytes,
    response_id: str,
) -> Reply:
    """The reply to `request` (see the module docstring)."""
    body = request.body
    wants_thoughts = request.include_thoughts and request.thinks
    thoughts = 0 if request.thinking_budget == 0 else thoughts_tokens
    count = request.candidate_count
    if max_candidates is not None:
        count = min(count, max_candidates)
    candidates: list[Candidate] = []
    for i in range(count):
        plan = plan_answer(
            prompt=request.prompt,
            default_text="" if empty_text else reply_fn(body, i),
            last_role=request.last_role,
            tool_results=request.tool_results,
            tools=request.tools,
            tool_choice=request.tool_choice,
            schema=request.schema,
            reasoning=wants_thoughts,
            images=request.images,
        )
        text = plan.refusal or plan.text
        if plan.reasoning:
            thoughts = max(thoughts, count_tokens(plan.reasoning))
        candidate = plan_candidate(
            text,
            max_tokens=request.max_output_tokens,
            stop=request.stop,
            thoughts=thoughts,
            chunk_count=chunk_count,
            thought=plan.reasoning,
            calls=plan.tool_calls,
        )
        if candidate.calls and request.signs:
            name, args = candidate.calls[0]
            candidate.call_signature = signature(secret, request.model, name, args)
        elif candidate.pieces and request.signs and request.thinks:
            candidate.text_signature = signature(secret, request.model, "", candidate.text)
        candidates.append(candidate)
    return Reply(
        response_id=response_id,
        model_version=request.model,
        candidates=candidates,
        prompt_tokens=request.prompt_tokens,
        cached_tokens=min(cached_tokens, request.prompt_tokens),
        thoughts_tokens=thoughts,
    )


def empty_reply(request: GenerateRequest, fault: EmptyAnswer, *, response_id: str) -> Reply:
    """`fault` in Gemini's shapes (see the module docstring), with the prompt's billed usage."""
    finish = FINISH_NAMES.get(fault.finish, "STOP")
    reply = Reply(
        response_id=response_id,
        model_version=request.model,
        candidates=[],
        prompt_tokens=request.prompt_tokens,
        cached_tokens=0,
        thoughts_tokens=0,
    )
    if fault.shape in ("empty", "null"):
        empty = fault.shape == "empty"
        reply.candidates = [
            Candidate([], finish, 0, empty_text=empty) for _ in range(request.candidate_count)
        ]
    elif fault.shape == "no_choices":
        reply.block_reason = "SAFETY" if fault.finish == "content_filter" else None
    elif fault.shape == "done_only":
        reply.silent = True
    else:
        raise ValueError(f"unknown EmptyAnswer shape {fault.shape!r}")
    return reply
