"""The fake Anthropic server's replies: content blocks planned from `llmp.testing.Plan`, the
message JSON and the SSE event stream, as the anthropic SDK's ``Message`` and
``RawMessageStreamEvent`` models read them.

Tokens are whitespace-separated words, as in the fake OpenAI server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmp.testing._script import Plan
from llmp.testing._wire import count_tokens, split_pieces
from llmp_litellm.testing._anthropic_content import sign

__all__ = ["Block", "Reply", "empty_reply", "make_usage", "message_body", "plan_reply", "stream_steps"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(slots=True)
class Block:
    """One content block of a reply: ``text``, ``thinking`` (signed) or ``tool_use``. `pieces`
    are its stream deltas (text, thinking, or the arguments' partial JSON)."""

    type: str
    pieces: list[str]
    id: str = ""
    name: str = ""
    input: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def content(self) -> dict[str, Any]:
        """The block as a message body holds it."""
        if self.type == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": sign(self.text)}
        if self.type == "tool_use":
            return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input or {}}
        return {"type": "text", "text": self.text}

    def start(self) -> dict[str, Any]:
        """The block as ``content_block_start`` opens it (empty, to be filled by deltas)."""
        if self.type == "thinking":
            return {"type": "thinking", "thinking": "", "signature": ""}
        if self.type == "tool_use":
            return {"type": "tool_use", "id": self.id, "name": self.name, "input": {}}
        return {"type": "text", "text": ""}

    def deltas(self) -> list[dict[str, Any]]:
        if self.type == "thinking":
            out = [{"type": "thinking_delta", "thinking": p} for p in self.pieces]
            return [*out, {"type": "signature_delta", "signature": sign(self.text)}]
        if self.type == "tool_use":
            return [{"type": "input_json_delta", "partial_json": p} for p in self.pieces]
        return [{"type": "text_delta", "text": p} for p in self.pieces]


@dataclass(slots=True)
class Reply:
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.blocks if block.type == "text")

    @property
    def pieces(self) -> list[str]:
        """Every streamed delta, in order (the server paces the stream by them)."""
        return [piece for block in self.blocks for piece in block.pieces]


#: llmp's finish reasons in Anthropic's words (for `EmptyAnswer`).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _fragments(text: str, chunk_count: int | None) -> list[str]:
    """Partial JSON as the API streams it: the arguments in a few fragments."""
    count = chunk_count or max(1, len(text) // 8)
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def plan_reply(
    plan: Plan, *, max_tokens: int, stop_sequences: list[str], chunk_count: int | None, tool_ids: str
) -> Reply:
    """The reply blocks for `plan`: thinking first, then the text (cut at the earliest stop
    sequence, not included, then at ``max_tokens`` words) or the tool calls."""
    blocks: list[Block] = []
    tokens = 0
    if plan.reasoning:
        blocks.append(Block("thinking", split_pieces(plan.reasoning, chunk_count)))
        tokens += count_tokens(plan.reasoning)
    if plan.refusal is not None:
        return Reply(blocks, "refusal", None, tokens)
    if plan.tool_calls:
        for i, ((name, arguments), text) in enumerate(zip(plan.tool_calls, plan.arguments, strict=True)):
            blocks.append(Block("tool_use", _fragments(text, chunk_count), f"{tool_ids}{i}", name, arguments))
            tokens += 1 + len(arguments)
        return Reply(blocks, "tool_use", None, tokens)
    text, stop_reason, matched = plan.text, "end_turn", None
    cuts = [(text.find(s), s) for s in stop_sequences if s and s in text]
    if cuts:
        cut, matched = min(cuts)
        text, stop_reason = text[:cut], "stop_sequence"
    pieces = split_pieces(text, None)
    if len(pieces) > max_tokens:
        text, stop_reason, matched = "".join(pieces[:max_tokens]), "max_tokens", None
    blocks.append(Block("text", split_pieces(text, chunk_count)))
    return Reply(blocks, stop_reason, matched, tokens + count_tokens(text))


def empty_reply(shape: str, finish: str) -> Reply:
    """`EmptyAnswer` in Anthropic's shapes: ``"empty"`` is one empty text block; ``"null"``,
    ``"no_choices"`` and ``"done_only"`` are ``content: []`` (a stream with no content block)."""
    blocks = [Block("text", [])] if shape == "empty" else []
    return Reply(blocks, STOP_REASONS.get(finish, "end_turn"), None, 0)


def make_usage(
    input_tokens: int, output_tokens: int, *, cache_read: int, cache_creation: int, cache_1h: int = 0
) -> dict[str, Any]:
    """Anthropic usage: ``input_tokens`` counts only the uncached part of the prompt."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_creation - cache_1h,
            "ephemeral_1h_input_tokens": cache_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(
    message_id: str, model: str, content: list[Any], stop: Reply | None, usage: Any
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop.stop_reason if stop else None,
        "stop_sequence": stop.stop_sequence if stop else None,
        "usage": usage,
    }


def message_body(message_id: str, model: str, reply: Reply, usage: dict[str, Any]) -> bytes:
    content = [block.content() for block in reply.blocks]
    return _dumps(_message(message_id, model, content, reply, usage)).encode()


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {_dumps(data)}\n\n"


def stream_steps(message_id: str, model: str, reply: Reply, usage: dict[str, Any]) -> list[bytes]:
    """The SSE body as delivery steps (the server pauses ``token_delay`` between them).

    ``message_start`` (usage so far: the input, one output token), then per block
    ``content_block_start``, its deltas (``thinking_delta`` and ``signature_delta``,
    ``text_delta``, ``input_json_delta``) and ``content_block_stop`` (a ``ping`` after the first
    start), then ``message_delta`` (stop reason and the output token count) and
    ``message_stop``. Each step holds one delta and the events up to the next one; each event
    ends with a blank line, so faults can cut after any event.
    """
    start_usage = {**usage, "output_tokens": 1}
    message = _message(message_id, model, [], None, start_usage)
    events: list[tuple[str, bool]] = [
        (_event("message_start", {"type": "message_start", "message": message}), False)
    ]
    for index, block in enumerate(reply.blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block.start()}
        events.append((_event("content_block_start", start), False))
        if index == 0:
            events.append((_event("ping", {"type": "ping"}), False))
        for delta in block.deltas():
            data = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append((_event("content_block_delta", data), True))
        events.append((_event("content_block_stop", {"type": "content_block_stop", "index": index}), False))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    events.append((_event("message_delta", delta), False))
    events.append((_event("message_stop", {"type": "message_stop"}), False))
    steps: list[list[str]] = [[]]
    seen_delta = False
    for text, is_delta in events:
        if is_delta and seen_delta:
            steps.append([])
        seen_delta = seen_delta or is_delta
        steps[-1].append(text)
    return ["".join(step).encode() for step in steps]
