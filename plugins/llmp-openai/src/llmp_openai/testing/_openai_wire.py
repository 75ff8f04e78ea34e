"""OpenAI's wire, the small parts its fake's modules share: replies, usage, errors, durations.

Requests are read in `_openai_request`, answers planned in `_openai_answer` and rendered (JSON
bodies and SSE streams) in `_openai_render`. Pure functions over plain data, so the ASGI app
stays small and these are easy to check against the openai SDK's types.

Tokens here are whitespace-separated words (`llmp.testing._wire`): deterministic and easy for a
test to predict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from llmp.testing._wire import ErrorResponse, count_tokens, dumps, message_text

SYSTEM_FINGERPRINT = "fp_llmpfake01"
DONE = b"data: [DONE]\n\n"


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


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ErrorResponse:
    return ErrorResponse(status, error_body(message, "invalid_request_error", param=param, code=code))
