"""A ``generateContent`` request body as the fake Gemini server reads it: checked the way the
Gemini API checks it (400s with its messages), then reduced to the facts `plan_answer` decides on.

What is checked, as the API does: contents and their parts; ``inlineData`` (a MIME type the API
takes for images, base64 that decodes, bytes that are that image type) and ``fileData`` URIs;
function declarations, ``toolConfig`` modes; that a function-response turn follows a
function-call turn with as many responses as calls; a thinking level together with a budget;
``responseJsonSchema`` without JSON output; and, for Gemini 3 models, that the first
``functionCall`` part of each model turn of the current turn carries the ``thoughtSignature``
this server issued for it (`signature`), as the real API refuses multi-turn function calling
without them. Field names are accepted in both spellings (`field`), as Google's JSON parser does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from llmp.testing._wire import count_tokens
from llmp_gemini.testing._gemini_wire import error

__all__ = ["GenerateRequest", "field", "parse_generate_request", "signature"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/webp": (b"RIFF",)}
_MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_SIGNED_MODELS = re.compile(r"^gemini-([3-9]|\d{2,})")


@dataclass(slots=True)
class GenerateRequest:
    body: dict[str, Any]
    model: str
    candidate_count: int
    max_output_tokens: int | None
    stop: list[str]
    thinking_budget: int | None
    prompt_tokens: int
    thinking_level: str | None = None
    include_thoughts: bool = False
    prompt: str = ""
    last_role: str = "user"
    tool_results: list[str] = dataclass_field(default_factory=list)
    tools: list[tuple[str, Mapping[str, Any]]] = dataclass_field(default_factory=list)
    tool_choice: str | None = None
    schema: Mapping[str, Any] | None = None
    images: int = 0

    @property
    def thinks(self) -> bool:
        """Whether the model thinks for this request (not turned off with a zero budget)."""
        return self.thinking_budget != 0

    @property
    def signs(self) -> bool:
        """Whether answers carry thought signatures: Gemini 3 always, older models while thinking."""
        return bool(_SIGNED_MODELS.match(self.model)) or (self.thinks and self.model.startswith("gemini-2.5"))


def field(message: Mapping[str, Any], name: str) -> Any:
    """A field by its JSON name (``thinkingBudget``) or its proto name (``thinking_budget``).

    Google's JSON parser accepts both spellings, and google-genai sends both: most fields
    camelCase, the objects it passes through (``thinkingConfig``, ``inlineData``) snake_case.
    """
    value = message.get(name)
    return message.get(_snake(name)) if value is None else value


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def signature(secret: bytes, model: str, name: str, args: Any) -> str:
    """The thought signature this server issues for a function call (and checks when it returns)."""
    canonical = json.dumps([model, name, args], sort_keys=True, separators=(",", ":"))
    return base64.b64encode(hmac.new(secret, canonical.encode(), hashlib.sha256).digest()).decode()


def _int_field(message: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = field(message, name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
        bound = f"between {low} and {high}" if high else f">= {low}"
        raise error(400, f"* GenerateContentRequest.generation_config.{_snake(name)}: must be {bound}")
    return value


def _object(message: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = field(message, name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error(400, f"Invalid value at '{_snake(name)}': expected an object")
    return value


def _decode(data: Any, where: str) -> bytes:
    if not isinstance(data, str) or not data:
        raise error(400, f"* GenerateContentRequest.{where}.data: required field is not set")
    try:
        padded = data + "=" * (-len(data) % 4)
        alphabet = b"-_" if "-" in data or "_" in data else None
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise error(400, f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed") from None


def _media(part: Mapping[str, Any], where: str) -> int:
    """1 for an image part (checked), 0 for anything else."""
    inline = field(part, "inlineData")
    if inline is not None:
        mime = field(inline, "mimeType")
        if mime not in IMAGE_TYPES:
            raise error(400, f"Unsupported MIME type: {mime}")
        data = _decode(field(inline, "data"), f"{where}.inline_data")
        if not any(data.startswith(magic) for magic in _MAGIC.get(mime, (b"",))):
            raise error(400, "Unable to process input image. Please retry or report in "
                        "https://developers.generativeai.google/guide/troubleshooting")  # fmt: skip
        return 1
    file_data = field(part, "fileData")
    if file_data is not None:
        uri = field(file_data, "fileUri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise error(400, f"* GenerateContentRequest.{where}.file_data.file_uri: must be an https:// URI")
        mime = field(file_data, "mimeType")
        if mime is not None and mime not in IMAGE_TYPES:
            raise error(400, f"Unsupported MIME type: {mime}")
        return 1
    return 0


def _result_text(response: Any) -> str:
    if isinstance(response, Mapping):
        for key in ("result", "output"):
            if isinstance(response.get(key), str):
                return str(response[key])
    return json.dumps(response, separators=(",", ":"))


def _check_turns(contents: list[Any], model: str, secret: bytes) -> None:
    """Function calls and responses pair up; Gemini 3's signed calls come back signed."""
    calls_before = 0  # function calls of the model turn just before
    current = 0  # where the current turn starts: after the last user turn with ordinary parts
    for i, content in enumerate(contents):
        parts = content["parts"]
        responses = sum(1 for p in parts if field(p, "functionResponse") is not None)
        if content.get("role", "user") == "user" and _ordinary(content):
            current = i
        if responses:
            if not calls_before:
                raise error(400, "Please ensure that function response turn comes immediately after a "
                            "function call turn.")  # fmt: skip
            if responses != calls_before:
                raise error(400, "Please ensure that the number of function response parts is equal to the "
                            "number of function call parts of the function call turn.")  # fmt: skip
        calls_before = sum(1 for p in parts if field(p, "functionCall") is not None)
    if not _SIGNED_MODELS.match(model):
        return
    for i, content in enumerate(contents[current:], current):
        first = next((p for p in content["parts"] if field(p, "functionCall") is not None), None)
        if first is None:
            continue
        call = field(first, "functionCall")
        expected = signature(secret, model, str(call.get("name")), call.get("args") or {})
        given = field(first, "thoughtSignature")
        if given is None:
            raise error(
                400,
                "Function call is missing a thought_signature in functionCall parts. This is required for "
                "tools to work correctly, and missing thought_signature may lead to degraded model "
                f"performance. Additional data, function call `default_api:{call.get('name')}` , position "
                f"{i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                "details.",
            )
        if _decode(given, f"contents[{i}].parts") != base64.b64decode(expected):
            name = call.get("name")
            raise error(400, f"Thought signature is not valid (function call `{name}`, position {i + 1}).")


def _tools(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    tools: list[tuple[str, Mapping[str, Any]]] = []
    for tool in field(body, "tools") or ():
        for declaration in field(tool, "functionDeclarations") or ():
            name = declaration.get("name")
            if not isinstance(name, str) or not _NAME.match(name):
                raise error(400, f"* GenerateContentRequest.tools.function_declarations: bad name {name!r}")
            plain, schema = field(declaration, "parameters"), field(declaration, "parametersJsonSchema")
            if plain is not None and schema is not None:
                raise error(400, f"Function {name}: set either parameters or parameters_json_schema")
            tools.append((name, schema or plain or {"type": "object", "properties": {}}))
    return tools


def _tool_choice(body: Mapping[str, Any], names: list[str]) -> str | None:
    config = _object(_object(body, "toolConfig"), "functionCallingConfig")
    mode = config.get("mode")
    if mode is None:
        return None
    if mode not in _MODES:
        raise error(400, f"Invalid value at 'tool_config.function_calling_config.mode' ({mode!r})")
    allowed = field(config, "allowedFunctionNames")
    if allowed and mode not in ("ANY", "VALIDATED"):
        raise error(400, "allowed_function_names should be set only when the mode is ANY or VALIDATED.")
    for name in allowed or ():
        if name not in names:
            raise error(400, f"allowed_function_names has {name!r}, which no function declaration names")
    if mode == "NONE":
        return "none"
    if mode in ("ANY", "VALIDATED"):
        return allowed[0] if allowed and len(allowed) == 1 else "required"
    return "auto"


def parse_generate_request(model: str, body: Any, secret: bytes = b"") -> GenerateRequest:
    """Check a ``generateContent`` body as the Gemini API does, and read its facts."""
    if not isinstance(body, dict):
        raise error(400, "Invalid JSON payload received. Unexpected token.")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise error(400, "* GenerateContentRequest.contents: contents is not specified")
    images = 0
    prompt = ""
    results: list[str] = []
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise error(400, f"* GenerateContentRequest.contents[{i}].parts: must not be empty.")
        if content.get("role", "user") not in ("user", "model"):
            raise error(400, f"Please use a valid role: user, model. (contents[{i}])")
        texts = []
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise error(400, f"Invalid value at 'contents[{i}].parts[{j}]'")
            images += _media(part, f"contents[{i}].parts[{j}]")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
        if content.get("role", "user") == "user":
            responses = [field(p, "functionResponse") for p in parts]
            results = [_result_text(r.get("response")) for r in responses if r is not None]
            if texts:
                prompt = " ".join(texts)
    _check_turns(contents, model, secret)
    config = _object(body, "generationConfig")
    thinking = _object(config, "thinkingConfig")
    level = field(thinking, "thinkingLevel")
    if level is not None and field(thinking, "thinkingBudget") is not None:
        # The real API refuses this combination; the fake does too so clients are tested for it.
        raise error(400, "You can only set only one of thinking budget and thinking level.")
    schema = field(config, "responseJsonSchema") or field(config, "responseSchema")
    if schema is not None and field(config, "responseMimeType") != "application/json":
        raise error(400, "* GenerateContentRequest.generation_config.response_mime_type: must be "
                    "application/json when a response schema is set")  # fmt: skip
    tools = _tools(body)
    stop = field(config, "stopSequences") or []
    system = field(body, "systemInstruction")
    prompt_tokens = sum(count_tokens(_text(c)) for c in contents)
    if isinstance(system, dict):
        prompt_tokens += count_tokens(_text(system))
    last = contents[-1]
    last_role = "model" if last.get("role", "user") == "model" else "user" if _ordinary(last) else "tool"
    return GenerateRequest(
        body=body,
        model=model,
        candidate_count=_int_field(config, "candidateCount", 1, 8) or 1,
        max_output_tokens=_int_field(config, "maxOutputTokens", 1),
        stop=[s for s in stop if isinstance(s, str)],
        thinking_budget=_int_field(thinking, "thinkingBudget", -1),
        prompt_tokens=prompt_tokens,
        thinking_level=level,
        include_thoughts=bool(field(thinking, "includeThoughts")),
        prompt=prompt,
        last_role=last_role,
        tool_results=results if last_role == "tool" else [],
        tools=tools,
        tool_choice=_tool_choice(body, [name for name, _ in tools]),
        schema=schema,
        images=images,
    )


def _text(content: Mapping[str, Any]) -> str:
    return " ".join(p["text"] for p in content.get("parts") or () if isinstance(p.get("text"), str))


def _ordinary(content: Mapping[str, Any]) -> bool:
    """Whether a content has ordinary (not function-response) parts."""
    return any(field(p, "functionResponse") is None for p in content["parts"])
