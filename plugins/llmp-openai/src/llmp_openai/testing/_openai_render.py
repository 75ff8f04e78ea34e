"""A planned completion in OpenAI's wire: the JSON body and the SSE stream, byte for byte the
shapes of ``openai.types.chat.ChatCompletion`` and ``ChatCompletionChunk``.

Streams are as OpenAI sends them: each sample's first delta carries the role (``content: ""``
for text, ``content: null`` for tool calls and refusals, with the first tool call's ``id``,
``type``, ``name`` and empty ``arguments``), then one delta per text piece, refusal piece or
argument fragment (a later tool call's first delta again with its id and name), then a delta
``{}`` with the finish reason, the usage chunk (``choices: []``) when asked for, and ``[DONE]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmp.testing._wire import WORD, dumps
from llmp_openai.testing._openai_wire import DONE, SYSTEM_FINGERPRINT

__all__ = ["Choice", "Completion", "ToolCallOut", "open_events", "stream_steps"]


@dataclass(slots=True)
class ToolCallOut:
    id: str
    name: str
    arguments: str
    fragments: list[str]


@dataclass(slots=True)
class Choice:
    pieces: list[str]
    finish_reason: str
    completion_tokens: int
    tool_calls: list[ToolCallOut] = field(default_factory=list)
    refusal: list[str] | None = None
    reasoning: list[str] | None = None
    #: ``content: null`` although there are no tool calls or refusal (an empty answer's shape).
    null_content: bool = False

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def content_null(self) -> bool:
        return self.null_content or bool(self.tool_calls) or self.refusal is not None


@dataclass(slots=True)
class Completion:
    """Everything needed to render one response, as JSON or as an SSE stream."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: dict[str, Any]
    #: Where reasoning text goes (``"reasoning_content"`` / ``"reasoning"``), None: not sent.
    reasoning_field: str | None = None
    #: Alternatives per token when logprobs were asked for, else None.
    logprobs: int | None = None
    #: A stream of nothing but ``[DONE]`` (the ``done_only`` empty answer).
    done_only: bool = False

    def json_body(self) -> bytes:
        return dumps(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [self._choice_json(i, choice) for i, choice in enumerate(self.choices)],
                "usage": self.usage,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        ).encode()

    def _choice_json(self, index: int, choice: Choice) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if choice.content_null else choice.text,
            "refusal": "".join(choice.refusal) if choice.refusal is not None else None,
            "annotations": [],
        }
        if choice.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in choice.tool_calls
            ]
        if choice.reasoning and self.reasoning_field:
            message[self.reasoning_field] = "".join(choice.reasoning)
        logprobs = None
        if self.logprobs is not None:
            logprobs = {"content": logprob_entries(choice.text, self.logprobs), "refusal": None}
        return {
            "index": index,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": choice.finish_reason,
        }


def logprob_entries(text: str, top: int) -> list[dict[str, Any]]:
    """Deterministic logprobs for the tokens (words) of `text`, with `top` alternatives each."""
    out = []
    for token in WORD.findall(text):
        # A function of the token alone, so a stream's pieces and the whole text agree.
        value = -round(0.05 * (len(token) % 7 + 1), 4)
        alternatives = [(token, value)] + [(f"{token}~{j}", value - j) for j in range(1, top)]
        out.append(
            {
                "token": token,
                "logprob": value,
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in alternatives[:top]
                ],
            }
        )
    return out


def _deltas(choice: Choice, reasoning_field: str | None) -> list[str]:
    """The sample's deltas after the first (role) one, as JSON objects."""
    out: list[str] = []
    if choice.reasoning and reasoning_field:
        out += [f'{{"{reasoning_field}":{dumps(piece)}}}' for piece in choice.reasoning]
    out += [f'{{"content":{dumps(piece)}}}' for piece in choice.pieces]
    if choice.refusal is not None:
        out += [f'{{"refusal":{dumps(piece)}}}' for piece in choice.refusal]
    for position, call in enumerate(choice.tool_calls):
        if position:
            out.append(f'{{"tool_calls":[{_call_head(position, call)}]}}')
        out += [
            f'{{"tool_calls":[{{"index":{position},"function":{{"arguments":{dumps(fragment)}}}}}]}}'
            for fragment in call.fragments
        ]
    return out


def _call_head(position: int, call: ToolCallOut) -> str:
    return (
        f'{{"index":{position},"id":{dumps(call.id)},"type":"function",'
        f'"function":{{"name":{dumps(call.name)},"arguments":""}}}}'
    )


def _role_delta(choice: Choice) -> str:
    if choice.tool_calls:
        head = _call_head(0, choice.tool_calls[0])
        return f'{{"role":"assistant","content":null,"tool_calls":[{head}],"refusal":null}}'
    if choice.refusal is not None:
        return '{"role":"assistant","content":null,"refusal":""}'
    if choice.null_content:
        return '{"role":"assistant","content":null,"refusal":null}'
    return '{"role":"assistant","content":"","refusal":null}'


def open_events(completion: Completion) -> int:
    """Events of a stream before its finish events (where a stream fault can cut it)."""
    return sum(1 + len(_deltas(c, completion.reasoning_field)) for c in completion.choices)


def stream_steps(completion: Completion, *, include_usage: bool) -> list[bytes]:
    """The SSE body as delivery steps: the server pauses ``token_delay`` between steps.

    Step 0 carries each choice's role delta and first delta; each later step the next delta of
    every choice that still has one; the last step adds the finish deltas, the usage chunk
    (``choices: []``) if requested, and ``[DONE]``. Each step is a list of whole events,
    joined, so a fault can cut the stream after any number of events (see ``split_events``).
    """
    if completion.done_only:
        return [DONE]
    # Every chunk shares this prefix; rendering it once keeps per-event cost to one small dumps.
    head = (
        f'data: {{"id":{dumps(completion.id)},"object":"chat.completion.chunk",'
        f'"created":{completion.created},"model":{dumps(completion.model)},"service_tier":"default",'
        f'"system_fingerprint":"{SYSTEM_FINGERPRINT}","choices":['
    )
    tail = ',"usage":null}\n\n' if include_usage else "}\n\n"
    top = completion.logprobs
    choices = completion.choices
    steps: list[list[str]] = [
        [
            f'{head}{{"index":{i},"delta":{_role_delta(c)},"logprobs":null,"finish_reason":null}}]{tail}'
            for i, c in enumerate(choices)
        ]
    ]
    field_ = completion.reasoning_field
    deltas = [_deltas(c, field_) for c in choices]
    # Where each sample's text pieces start among its deltas (after its reasoning pieces).
    starts = [len(c.reasoning) if c.reasoning and field_ else 0 for c in choices]
    depth = max((len(d) for d in deltas), default=0)
    for k in range(depth):
        events = []
        for i, mine in enumerate(deltas):
            if k >= len(mine):
                continue
            logprobs = "null"
            piece = k - starts[i]
            if top is not None and 0 <= piece < len(choices[i].pieces):
                entries = logprob_entries(choices[i].pieces[piece], top)
                logprobs = dumps({"content": entries, "refusal": None})
            events.append(
                f'{head}{{"index":{i},"delta":{mine[k]},"logprobs":{logprobs},"finish_reason":null}}]{tail}'
            )
        if k == 0:
            steps[0].extend(events)
        else:
            steps.append(events)
    final = [
        f'{head}{{"index":{i},"delta":{{}},"logprobs":null,"finish_reason":"{c.finish_reason}"}}]{tail}'
        for i, c in enumerate(choices)
    ]
    if include_usage or not choices:
        usage = f',"usage":{dumps(completion.usage)}}}\n\n' if include_usage else "}\n\n"
        final.append(f"{head}]{usage}")
    steps[-1].extend(final)
    rendered = ["".join(step).encode() for step in steps]
    rendered[-1] += DONE
    return rendered
