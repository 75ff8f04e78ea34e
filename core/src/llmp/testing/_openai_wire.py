"""OpenAI chat-completions wire format: request reading, response bodies, SSE chunks, errors.

Pure functions over plain data, so the ASGI app stays small and these are easy to check against
the openai SDK's types (``openai.types.chat.ChatCompletion`` / ``ChatCompletionChunk``).

Tokens here are whitespace-separated words: deterministic and easy for a test to predict.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ReplyFn = Callable[[Mapping[str, Any], int], str]

SYSTEM_FINGERPRINT = "fp_llmpfake01"
_DONE = b"data: [DONE]\n\n"
_WORD = re.compile(r"\s*\S+")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def count_tokens(text: str) -> int:
    return len(text.split())


def message_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text parts of a parts list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    return sum(count_tokens(message_text(m.get("content"))) for m in messages if isinstance(m, dict))


def default_reply(body: Mapping[str, Any], index: int) -> str:
    """``"Echo: <last user message>"``, plus ``" [i]"`` for choice ``i > 0`` so samples differ."""
    last = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            last = message_text(message.get("content"))
            break
    text = f"Echo: {last}"
    return f"{text} [{index}]" if index else text


def split_pieces(text: str, chunk_count: int | None = None) -> list[str]:
    """Split ``text`` into stream deltas whose concatenation is exactly ``text``.

    One piece per word (with its leading whitespace) by default; with ``chunk_count``, that many
    roughly equal runs of words (fewer if there are fewer words).
    """
    words = _WORD.findall(text)
    tail = text[sum(map(len, words)) :]
    if tail:  # trailing whitespace belongs to the last delta so nothing is lost
        if words:
            words[-1] += tail
        else:
            words = [tail]
    if chunk_count is None or chunk_count >= len(words):
        return words
    size, extra = divmod(len(words), max(chunk_count, 1))
    pieces: list[str] = []
    start = 0
    for i in range(max(chunk_count, 1)):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(words[start:end]))
        start = end
    return pieces


@dataclass(slots=True)
class Choice:
    pieces: list[str]
    finish_reason: str
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def plan_choice(text: str, *, max_tokens: int | None, stop: list[str], chunk_count: int | None) -> Choice:
    """Apply ``stop`` sequences and the ``max_tokens`` word budget to a reply."""
    for sequence in stop:
        cut = text.find(sequence) if sequence else -1
        if cut >= 0:
            text = text[:cut]
    finish = "stop"
    words = _WORD.findall(text)
    if max_tokens is not None and len(words) > max_tokens:
        text = "".join(words[:max_tokens])
        finish = "length"
    return Choice(split_pieces(text, chunk_count), finish, count_tokens(text))


@dataclass(slots=True)
class Completion:
    """Everything needed to render one response, as JSON or as an SSE stream."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: dict[str, Any]

    def json_body(self) -> bytes:
        return _dumps(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {
                        "index": i,
                        "message": {
                            "role": "assistant",
                            "content": choice.text,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": choice.finish_reason,
                    }
                    for i, choice in enumerate(self.choices)
                ],
                "usage": self.usage,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        ).encode()


def make_usage(prompt: int, completion: int, *, cached: int, reasoning: int) -> dict[str, Any]:
    """OpenAI usage; reasoning tokens are part of ``completion_tokens``, as OpenAI bills them."""
    completion += reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def stream_steps(completion: Completion, *, include_usage: bool) -> list[bytes]:
    """The SSE body as delivery steps: the server pauses ``token_delay`` between steps.

    Step 0 carries each choice's role delta and first content delta; each later step the next
    delta of every choice that still has one; the last step adds the finish deltas, the usage
    chunk (``choices: []``) if requested, and ``[DONE]``. Each step is a list of whole events,
    joined, so a fault can cut the stream after any number of events (see :func:`split_events`).
    """
    # Every chunk shares this prefix; rendering it once keeps per-event cost to one small dumps.
    head = (
        f'data: {{"id":{_dumps(completion.id)},"object":"chat.completion.chunk",'
        f'"created":{completion.created},"model":{_dumps(completion.model)},"service_tier":"default",'
        f'"system_fingerprint":"{SYSTEM_FINGERPRINT}","choices":['
    )
    tail = ',"usage":null}\n\n' if include_usage else "}\n\n"
    n = len(completion.choices)
    steps: list[list[str]] = [
        [
            f'{head}{{"index":{i},"delta":{{"role":"assistant","content":"","refusal":null}},'
            f'"logprobs":null,"finish_reason":null}}]{tail}'
            for i in range(n)
        ]
    ]
    depth = max((len(c.pieces) for c in completion.choices), default=0)
    for k in range(depth):
        events = [
            f'{head}{{"index":{i},"delta":{{"content":{_dumps(c.pieces[k])}}},'
            f'"logprobs":null,"finish_reason":null}}]{tail}'
            for i, c in enumerate(completion.choices)
            if k < len(c.pieces)
        ]
        if k == 0:
            steps[0].extend(events)
        else:
            steps.append(events)
    final = [
        f'{head}{{"index":{i},"delta":{{}},"logprobs":null,"finish_reason":"{c.finish_reason}"}}]{tail}'
        for i, c in enumerate(completion.choices)
    ]
    if include_usage:
        final.append(f'{head}],"usage":{_dumps(completion.usage)}}}\n\n')
    steps[-1].extend(final)
    rendered = ["".join(step).encode() for step in steps]
    rendered[-1] += _DONE
    return rendered


def split_events(body: bytes, after: int) -> tuple[bytes, bytes]:
    """Split an SSE body after its first ``after`` events (events end with a blank line)."""
    cut = 0
    for _ in range(after):
        found = body.find(b"\n\n", cut)
        if found < 0:
            return body, b""
        cut = found + 2
    return body[:cut], body[cut:]


def error_body(
    message: str, type_: str | None, *, param: str | None = None, code: str | None = None
) -> bytes:
    return _dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


def format_duration(seconds: float) -> str:
    """OpenAI's rate-limit reset format (Go durations): ``"20ms"``, ``"1s"``, ``"8.64s"``, ``"6m0s"``."""
    ms = math.ceil(seconds * 1000 - 1e-6)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    out = f"{secs}s"
    if hours or minutes:
        out = f"{minutes}m{out}"
    if hours:
        out = f"{hours}h{out}"
    return out


class ErrorResponse(Exception):
    """An HTTP error answer, raised from request handling and rendered by the app."""

    def __init__(self, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers)


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ErrorResponse:
    return ErrorResponse(status, error_body(message, "invalid_request_error", param=param, code=code))


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[Any]
    n: int
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]


def load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a chat-completions body the way OpenAI does for the fields the fake uses."""
    if not isinstance(body, dict):
        raise invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)"
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise invalid(f"{json.dumps(messages)} is too short - 'messages'", param="messages")
    n = body.get("n")
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise invalid(f"Invalid 'n': expected an integer from 1 to 128, got {n!r}.", param="n")
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    param = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = body.get(param)
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise invalid(
            f"Invalid '{param}': integer below minimum value. "
            f"Expected a value >= 1, but got {max_tokens!r} instead.",
            param=param,
            code="integer_below_min_value",
        )
    stop = body.get("stop")
    stops = (
        [stop]
        if isinstance(stop, str)
        else [s for s in stop if isinstance(s, str)]
        if isinstance(stop, list)
        else []
    )
    return ChatRequest(body, model, messages, n, stream, include_usage, max_tokens, stops)
