"""Between llmp's types and google-genai's: messages and parameters in, responses and chunks out.

Requests are built as plain dicts with google-genai's field names (the SDK validates them into
its own types), so this module imports no SDK and its rules are easy to test. Responses are the
SDK's ``GenerateContentResponse`` objects, read by attribute.

Parameters use OpenAI's vocabulary, which every llmp plugin accepts; one Gemini cannot honour
raises `UnsupportedParameterError` naming it, never silently dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from llmp.errors import MalformedResponseError, UnsupportedParameterError
from llmp.types import ChatMessage, Chunk, Request, Response, Usage
from llmp_gemini._errors import EmptyResponseError
from llmp_gemini._thinking import THINKING_PARAMS, thinking_config

# OpenAI name (and Gemini's own, for people who know it) -> GenerateContentConfig field.
_SAME: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "stop_sequences": "stop_sequences",
    "safety_settings": "safety_settings",
}
_ROLES = {"user": "user", "assistant": "model"}
_SYSTEM_ROLES = ("system", "developer")

# Gemini's finish reasons in OpenAI's words, so callers see one vocabulary across providers.
_FINISH: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# Finishes where the same request would end the same way: retrying an empty answer is useless.
_FINAL_EMPTY = frozenset(_FINISH) - {"STOP"}


# ----- requests -----


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise UnsupportedParameterError(f"{where}.content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_image(part.get("image_url"), f"{where}.content[{j}]"))
        else:
            raise UnsupportedParameterError(
                f"{where}.content[{j}] is a {kind!r} part: llmp-gemini sends text and data: URL images"
            )
    return parts


def _image(spec: Any, where: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise UnsupportedParameterError(
            f"{where}: Gemini needs images inline; pass a data:<mime>;base64,... URL"
        )
    mime, _, data = url[5:].partition(";base64,")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnsupportedParameterError(f"{where}: the data: URL is not valid base64") from exc
    return {"inline_data": {"mime_type": mime, "data": raw}}


def to_contents(messages: Iterable[ChatMessage]) -> tuple[list[dict[str, Any]], str | None]:
    """OpenAI-style messages as Gemini ``contents`` plus the system instruction (or None).

    System (and developer) messages become the one system instruction Gemini has, joined in
    order; assistant turns are Gemini's ``model`` role.
    """
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in _SYSTEM_ROLES:
            system.extend(p["text"] for p in _parts(message.get("content"), where) if "text" in p)
            continue
        if role not in _ROLES or message.get("tool_calls") or message.get("function_call"):
            raise UnsupportedParameterError(
                f"{where} has role {role!r}{' with tool calls' if role in _ROLES else ''}: "
                "llmp-gemini sends system, user and assistant text messages only"
            )
        contents.append({"role": _ROLES[role], "parts": _parts(message.get("content"), where)})
    return contents, ("\n\n".join(system) if system else None)


def _response_format(value: Any) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"response_mime_type": "application/json"}
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if isinstance(schema, Mapping):
            return {"response_mime_type": "application/json", "response_json_schema": dict(schema)}
    raise UnsupportedParameterError(
        "response_format must be {'type': 'text'}, {'type': 'json_object'} or "
        f"{{'type': 'json_schema', 'json_schema': {{'schema': {{...}}}}}}, got {value!r}"
    )


def generation_config(request: Request) -> dict[str, Any]:
    """The ``GenerateContentConfig`` fields for `request`'s ``n`` and parameters."""
    config: dict[str, Any] = {}
    if request.n != 1:
        config["candidate_count"] = request.n
    for name, value in request.params.items():
        if value is None or name in THINKING_PARAMS:
            continue  # None is "not set", as in OpenAI's SDK; thinking is handled below
        if name == "response_format":
            config.update(_response_format(value))
            continue
        field = _SAME.get(name)
        if field is None:
            raise UnsupportedParameterError(
                f"llmp-gemini cannot send the parameter {name!r} to Gemini. Supported: "
                f"{', '.join(sorted({*_SAME, 'response_format', *THINKING_PARAMS}))}."
            )
        if field in config:
            raise UnsupportedParameterError(f"{name!r} repeats another parameter that sets {field}")
        config[field] = [value] if field == "stop_sequences" and isinstance(value, str) else value
    thinking = thinking_config(request.model, request.params)
    if thinking is not None:
        config["thinking_config"] = thinking
    return config


# ----- responses -----


def finish_reason(value: Any) -> str | None:
    """OpenAI's word for a Gemini finish reason (an SDK enum or a string); unknown ones lower-cased."""
    if value is None:
        return None
    name = str(getattr(value, "value", value))
    return _FINISH.get(name, name.lower())


def _finish_name(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def candidate_text(candidate: Any) -> str:
    """The answer text of one candidate: its text parts, without thought summaries."""
    content = candidate.content
    parts = content.parts if content is not None else None
    if not parts:
        return ""
    return "".join(p.text for p in parts if p.text and not p.thought)


def parse_usage(meta: Any) -> Usage:
    """``usage_metadata`` as llmp's `Usage`: thoughts are billed as output, and are its reasoning."""
    if meta is None:
        return Usage()
    thoughts = meta.thoughts_token_count or 0
    return Usage(
        input_tokens=meta.prompt_token_count or 0,
        cached_input_tokens=meta.cached_content_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + thoughts,
        reasoning_tokens=thoughts,
    )


def empty_error(index: int, finish: Any, usage: Usage, provider: str) -> EmptyResponseError:
    name = _finish_name(finish)
    if name == "MAX_TOKENS":
        why = (
            f"the output budget ran out first (finish reason MAX_TOKENS, {usage.reasoning_tokens} "
            "thinking tokens): raise max_tokens or lower the thinking budget"
        )
    elif name in _FINAL_EMPTY:
        why = f"the answer was withheld (finish reason {name})"
    else:
        why = f"finish reason {name or 'none'}"
    return EmptyResponseError(
        f"Gemini returned no text for candidate {index}: {why}",
        provider=provider,
        finish_reason=name,
        retryable=name not in _FINAL_EMPTY,
        usage=usage,
    )


def _blocked(response: Any, usage: Usage, provider: str) -> EmptyResponseError:
    feedback = response.prompt_feedback
    reason = _finish_name(getattr(feedback, "block_reason", None))
    if reason is not None:
        return EmptyResponseError(
            f"Gemini blocked the prompt (block reason {reason}) and returned no candidates",
            provider=provider,
            finish_reason=reason,
            retryable=False,
            usage=usage,
        )
    return EmptyResponseError(
        "Gemini returned no candidates", provider=provider, finish_reason=None, retryable=True, usage=usage
    )


def parse_response(response: Any, n: int, provider: str) -> Response:
    """A finished `Response` from a ``GenerateContentResponse``; every candidate must have text."""
    usage = parse_usage(response.usage_metadata)
    candidates = response.candidates or []
    if not candidates:
        raise _blocked(response, usage, provider)
    by_index = {c.index or 0: c for c in candidates}
    texts: list[str] = []
    finishes: list[str | None] = []
    for i in range(max(n, len(by_index))):
        candidate = by_index.get(i)
        if candidate is None:
            raise MalformedResponseError(
                f"Gemini sent {len(by_index)} candidates for candidate_count={n}", provider=provider
            )
        text = candidate_text(candidate)
        if not text:
            raise empty_error(i, candidate.finish_reason, usage, provider)
        texts.append(text)
        finishes.append(finish_reason(candidate.finish_reason))
    return Response(texts, usage, finishes)


class StreamState:
    """What a stream has shown so far, to check at its end that every candidate finished."""

    __slots__ = ("blocked", "events", "finish", "texts", "usage_metadata")

    def __init__(self) -> None:
        self.events = 0
        self.finish: dict[int, Any] = {}
        self.texts: set[int] = set()
        self.usage_metadata: Any = None
        self.blocked: Any = None

    def chunks(self, response: Any) -> list[Chunk]:
        """The text deltas of one streamed ``GenerateContentResponse``."""
        self.events += 1
        if response.usage_metadata is not None:
            # Each event carries the running totals, so the last one is the answer's usage.
            self.usage_metadata = response.usage_metadata
        if not response.candidates and response.prompt_feedback is not None:
            self.blocked = response
        out: list[Chunk] = []
        for candidate in response.candidates or ():
            index = candidate.index or 0
            text = candidate_text(candidate)
            finish = candidate.finish_reason
            if finish is not None:
                self.finish[index] = finish
            if text:
                self.texts.add(index)
            if text or finish is not None:
                out.append(Chunk(text=text, index=index, finish_reason=finish_reason(finish)))
        return out

    def end(self, n: int, provider: str) -> Chunk:
        """The closing usage chunk, or the typed error for a stream that is not a whole answer."""
        usage = parse_usage(self.usage_metadata)
        if self.blocked is not None and not self.finish:
            raise _blocked(self.blocked, usage, provider)
        if not self.events:
            raise EmptyResponseError(
                "the Gemini stream ended without a single event (empty stream)",
                provider=provider,
                finish_reason=None,
                retryable=True,
                usage=usage,
            )
        for i in range(n):
            if i not in self.finish:
                raise MalformedResponseError(
                    f"the Gemini stream ended before candidate {i} finished (no finishReason): truncated",
                    provider=provider,
                )
            if i not in self.texts:
                raise empty_error(i, self.finish[i], usage, provider)
        return Chunk(usage=usage)
