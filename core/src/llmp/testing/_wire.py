"""What every fake server's wire shares, whatever its provider: tokens, deltas, SSE, errors.

Each provider's fake (in that provider's plugin: ``llmp_openai.testing``, ``llmp_gemini.testing``,
``llmp_litellm.testing``) renders its own bodies and error shapes; these are the provider-neutral
pieces under them. Pure functions over plain data.

Tokens are whitespace-separated words: deterministic and easy for a test to predict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "WORD",
    "ErrorResponse",
    "ReplyFn",
    "count_tokens",
    "dumps",
    "load_json",
    "message_text",
    "retry_after_value",
    "split_events",
    "split_pieces",
]

#: ``reply_fn(body, index) -> str``: a fake's reply text for choice/candidate ``index`` of ``body``.
ReplyFn = Callable[[Mapping[str, Any], int], str]

WORD = re.compile(r"\s*\S+")
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def count_tokens(text: str) -> int:
    return len(text.split())


def message_text(content: Any) -> str:
    """The text of a chat message's ``content``: a string, or the text parts of a parts list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


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


def split_events(body: bytes, after: int) -> tuple[bytes, bytes]:
    """Split an SSE body after its first ``after`` events (events end with a blank line)."""
    cut = 0
    for _ in range(after):
        found = body.find(b"\n\n", cut)
        if found < 0:
            return body, b""
        cut = found + 2
    return body[:cut], body[cut:]


def retry_after_value(seconds: float) -> bytes:
    """A ``retry-after`` header value: ``2`` rather than ``2.0``, since some clients parse it as an
    integer, as HTTP specifies."""
    return b"%d" % seconds if seconds == int(seconds) else repr(seconds).encode()


class ErrorResponse(Exception):
    """An HTTP error answer, raised from request handling and rendered by the fake's app."""

    def __init__(self, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers)


def load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
