"""Between llmp's types and OpenAI's Chat Completions wire format.

We parse the JSON ourselves instead of building the SDK's pydantic objects: on the hot path of
a streamed request that is one model validation per chunk, which measured as most of the SDK's
CPU cost (bench/sdk_paths.py). The shapes follow openai/types/chat/chat_completion*.py.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from typing import Any

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Chunk, Request, Response, Usage

# o1/o3/o4 and the gpt-5 reasoning family take max_completion_tokens and only the default
# temperature / top_p. "gpt-5-chat-*" is a chat model and takes them.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5(?!-chat))")
_FIXED_SAMPLING = ("temperature", "top_p")
_warned: set[tuple[str, str]] = set()


def is_reasoning_model(model: str) -> bool:
    return _REASONING_MODEL.match(model) is not None


def request_body(
    request: Request, provider: str, extra_body: Mapping[str, Any] | None, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": request.messages}
    if request.n != 1:
        body["n"] = request.n
    params = request.params
    if params:
        if provider == "openai" and is_reasoning_model(request.model):
            params = _reasoning_params(request.model, params)
        body.update(params)
    if extra_body:
        for name, value in extra_body.items():
            body.setdefault(name, value)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _reasoning_params(model: str, params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    if "max_tokens" in params:
        params.setdefault("max_completion_tokens", params.pop("max_tokens"))
    for name in _FIXED_SAMPLING:
        if name in params and params[name] not in (None, 1, 1.0):
            value = params.pop(name)
            if (model, name) not in _warned:
                _warned.add((model, name))
                warnings.warn(
                    f"{model} is a reasoning model and accepts only the default {name}; "
                    f"{name}={value} is not sent.",
                    UserWarning,
                    stacklevel=2,
                )
    return params


def parse_usage(data: Mapping[str, Any] | None) -> Usage:
    if not data:
        return Usage()
    prompt_details = data.get("prompt_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=data.get("prompt_tokens") or 0,
        cached_input_tokens=prompt_details.get("cached_tokens") or 0,
        output_tokens=data.get("completion_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    refusal = message.get("refusal")
    return refusal if isinstance(refusal, str) else ""


def parse_completion(raw: bytes, provider: str) -> Response:
    try:
        data = json.loads(raw)
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        texts = [_message_text(choice.get("message") or {}) for choice in choices]
        finish = [choice.get("finish_reason") for choice in choices]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponseError(
            f"could not parse the chat completion body ({type(exc).__name__}: {exc})", provider=provider
        ) from exc
    return Response(texts, parse_usage(data.get("usage")), finish)


class SSEParser:
    """The ``data:`` payloads of an SSE byte stream, fed as the bytes arrive; ``done`` at ``[DONE]``.

    OpenAI sends one ``data:`` line per event, so an event is a line; comments and ``event:``
    lines are skipped. A plain object fed from the client's own read loop rather than an async
    generator: on a streamed request every event would otherwise pass through one more generator
    frame. A stream that ends before ``[DONE]`` is truncated, and the caller must say so.
    """

    __slots__ = ("_buffer", "done")

    def __init__(self) -> None:
        self._buffer = b""
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by ``data`` (none once ``done``)."""
        buffer = self._buffer + data if self._buffer else data
        if b"\n" not in data or self.done:
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        payloads = []
        for line in lines:
            if line[:5] != b"data:":
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            payloads.append(payload)
        return payloads


def chunks_from_event(payload: bytes, provider: str) -> list[Chunk]:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise MalformedResponseError(
            f"a stream event is not valid JSON: {payload[:80]!r}", provider=provider
        ) from exc
    if not isinstance(data, dict):
        raise MalformedResponseError(f"a stream event is not an object: {payload[:80]!r}", provider=provider)
    error = data.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ServerError(message or "an error occurred during streaming", provider=provider, body=error)
    out: list[Chunk] = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        text = delta.get("content") or delta.get("refusal") or ""
        finish = choice.get("finish_reason")
        if text or finish:
            out.append(Chunk(text=text, index=choice.get("index", 0), finish_reason=finish))
    usage = data.get("usage")
    if usage:
        out.append(Chunk(usage=parse_usage(usage)))
    return out
