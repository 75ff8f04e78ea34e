"""OpenAI's wire, the parts every fake shares: tokens, replies, usage, errors, durations.

Requests are read in `_openai_request`, answers planned in `_openai_answer` and rendered (JSON
bodies and SSE streams) in `_openai_render`. Pure functions over plain data, so the ASGI app
stays small and these are easy to check against the openai SDK's types.

Tokens here are whitespace-separated words: deterministic and easy for a test to predict.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ReplyFn = Callable[[Mapping[str, Any], int], str]

SYSTEM_FINGERPRINT = "fp_llmpfake01"
DONE = b"data: [DONE]\n\n"
WORD = re.compile(r"\s*\S+")
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
    words = WORD.findall(text)
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
    return dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


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


def load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
