"""llmp's requests as Gemini ``generateContent`` bodies.

Two steps: messages and parameters become plain dicts with google-genai's field names
(``to_contents``, ``generation_config``: the shape its ``GenerateContentConfig`` takes, which the
batch API still hands to the SDK), and `rest_body` writes those as the JSON the SDK would put on
the wire (its ``_GenerateContentParameters_to_mldev``, checked field by field against it in the
tests). Live requests skip the SDK's pydantic validation and conversion, which cost more CPU than
the HTTP/2 exchange itself; the cheap type checks here keep its early, typed errors.

Parameters use OpenAI's vocabulary, which every llmp plugin accepts; one Gemini cannot honour
raises `UnsupportedParameterError` naming it, never silently dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError
from llmp.types import ChatMessage, Request
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
# What each field must be, checked before sending (the SDK's pydantic types, without pydantic).
_NUMBER = frozenset({"temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty"})
_INTEGER = frozenset({"seed", "max_output_tokens"})
# GenerateContentConfig field -> the request JSON's name inside ``generationConfig``.
_JSON_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "max_output_tokens": "maxOutputTokens",
    "stop_sequences": "stopSequences",
    "candidate_count": "candidateCount",
    "response_mime_type": "responseMimeType",
    "response_json_schema": "responseJsonSchema",
    "thinking_config": "thinkingConfig",
}
_ROLES = {"user": "user", "assistant": "model"}
_SYSTEM_ROLES = ("system", "developer")

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
        config[field] = _checked(name, field, value)
    thinking = thinking_config(request.model, request.params)
    if thinking is not None:
        config["thinking_config"] = thinking
    return config


def _checked(name: str, field: str, value: Any) -> Any:
    """`value` if it has the type Gemini takes for `field` (a lone stop string becomes a list)."""
    if field in _NUMBER:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        kind = "a number"
    elif field in _INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an integer"
    elif field == "stop_sequences":
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        kind = "a string or a list of strings"
    elif field == "safety_settings":
        ok = isinstance(value, list) and all(isinstance(v, Mapping) for v in value)
        kind = "a list of {'category': ..., 'threshold': ...} objects"
    else:  # pragma: no cover - every mapped field is listed above
        ok, kind = True, ""
    if not ok:
        raise UnsupportedParameterError(f"Gemini cannot take {name}={value!r}: it must be {kind}")
    return value


def rest_body(request: Request) -> dict[str, Any]:
    """The ``generateContent`` JSON body for `request`, as google-genai would send it.

    Field names as the SDK writes them: camelCase, except where it passes a dict through
    (``inlineData``'s ``mime_type``, ``thinkingConfig``'s contents), which the API accepts too.
    """
    contents, system = to_contents(request.messages)
    config = generation_config(request)
    body: dict[str, Any] = {"contents": [_json_content(content) for content in contents]}
    if system is not None:
        body["systemInstruction"] = {"parts": [{"text": system}], "role": "user"}
    safety = config.pop("safety_settings", None)
    if safety is not None:
        body["safetySettings"] = [dict(setting) for setting in safety]
    if config:
        generation = {_JSON_NAMES[name]: value for name, value in config.items()}
        if "topK" in generation:
            generation["topK"] = float(generation["topK"])  # a float in Gemini's schema
        body["generationConfig"] = generation
    return body


def _json_content(content: dict[str, Any]) -> dict[str, Any]:
    parts = []
    for part in content["parts"]:
        inline = part.get("inline_data")
        if inline is None:
            parts.append(part)
        else:
            data = base64.b64encode(inline["data"]).decode("ascii")
            parts.append({"inlineData": {"data": data, "mime_type": inline["mime_type"]}})
    return {"parts": parts, "role": content["role"]}
