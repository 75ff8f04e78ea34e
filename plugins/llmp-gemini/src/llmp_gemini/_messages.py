"""OpenAI-shaped chat messages as Gemini ``contents`` (and the one system instruction).

- ``system`` / ``developer`` messages: joined, in order, into ``systemInstruction``.
- ``user``: a ``user`` content; image parts become ``inlineData`` (``data:`` URLs) or
  ``fileData`` (``https://`` URLs, which the Gemini API fetches itself).
- ``assistant``: a ``model`` content: its text, then one ``functionCall`` part per tool call.
  Thought signatures go back on the parts they came with: a call's ``extra["thought_signature"]``
  on its ``functionCall`` part (Gemini 3 refuses a function-calling turn without them), the
  message's ``extra["thought_signature"]`` on its text. Reasoning text is not sent back: the
  signatures carry the model's state.
- ``tool``: a ``functionResponse`` part, ``{"name", "response": {"result": <content>}}`` as
  google-genai's automatic function calling sends it; consecutive tool messages (parallel calls)
  share one ``user`` content, as Gemini requires. Gemini names a response by its function, so the
  name is found from the assistant message that made the call (by ``tool_call_id``).

Shapes are google-genai's wire: camelCase part keys, and the nested objects it passes through as
it got them (``inlineData``'s ``mime_type``, ``fileData``'s ``file_uri``).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Iterable, Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError
from llmp.types import ChatMessage

__all__ = ["IMAGE_TYPES", "to_contents"]

#: What the Gemini API takes as an image; anything else is answered 400 "Unsupported MIME type".
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
_ALIASES = {"image/jpg": "image/jpeg"}
_SYSTEM_ROLES = ("system", "developer")
# Files API URIs carry no extension; the API knows their type from the upload.
_FILES_API = "https://generativelanguage.googleapis.com/"


def to_contents(messages: Iterable[ChatMessage]) -> tuple[list[dict[str, Any]], str | None]:
    """``(contents, system instruction or None)`` for `messages`."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, tuple[str, str | None]] = {}  # tool call id -> (function name, Gemini's id)
    responses: list[dict[str, Any]] | None = None  # the open user content of function responses
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            responses = None
            if type(content) is str:  # the common case, first
                contents.append({"parts": [{"text": content}], "role": "user"})
            else:
                contents.append({"parts": _parts(content, f"messages[{i}]"), "role": "user"})
        elif role == "assistant":
            responses = None
            contents.append({"parts": _model_parts(message, i, calls), "role": "model"})
        elif role == "tool":
            part = _function_response(message, i, calls)
            if responses is None:
                responses = []
                contents.append({"parts": responses, "role": "user"})
            responses.append(part)
        elif role in _SYSTEM_ROLES:
            for part in _parts(content, f"messages[{i}]"):
                if "text" not in part:
                    raise UnsupportedParameterError(
                        f"messages[{i}] is a {role} message with an image: Gemini's system instruction "
                        "takes text only; put the image in a user message"
                    )
                system.append(part["text"])
        else:
            raise UnsupportedParameterError(f"messages[{i}] has role {role!r}, which Gemini has no turn for")
    return contents, ("\n\n".join(system) if system else None)


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
                f"{where}.content[{j}] is a {kind!r} part: llmp-gemini sends text and image parts"
            )
    return parts


def _image(spec: Any, where: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        mime, _, data = url[5:].partition(";base64,")
        mime = _mime(mime.lower(), where)
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UnsupportedParameterError(f"{where}: the data: URL is not valid base64") from exc
        # The base64 text goes as it is: the API reads standard and URL-safe base64 alike.
        return {"inlineData": {"data": data, "mime_type": mime}}
    if isinstance(url, str) and url.startswith("https://"):
        guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
        if guessed is None and url.startswith(_FILES_API):
            return {"fileData": {"file_uri": url}}
        if guessed is None:
            raise UnsupportedParameterError(
                f"{where}: Gemini needs the image type of {url[:80]!r}, and the URL does not end in a "
                "known image extension; pass the image itself: llmp.image(bytes_or_path)"
            )
        return {"fileData": {"file_uri": url, "mime_type": _mime(guessed, where)}}
    raise UnsupportedParameterError(
        f"{where}: Gemini takes images as data: URLs (llmp.image(path_or_bytes)) or https:// URLs"
    )


def _mime(mime: str, where: str) -> str:
    mime = _ALIASES.get(mime, mime)
    if mime not in IMAGE_TYPES:
        raise UnsupportedParameterError(
            f"{where}: Gemini does not take {mime} images (it takes {', '.join(IMAGE_TYPES)}); "
            "convert the image first"
        )
    return mime


def _model_parts(
    message: ChatMessage, i: int, calls: dict[str, tuple[str, str | None]]
) -> list[dict[str, Any]]:
    content = message.get("content")
    parts = _parts(content, f"messages[{i}]") if content else []
    extra = message.get("extra")
    signature = extra.get("thought_signature") if isinstance(extra, Mapping) else None
    if signature:
        if parts and "text" in parts[-1]:
            parts[-1]["thoughtSignature"] = signature
        elif not message.get("tool_calls"):
            parts.append({"text": "", "thoughtSignature": signature})
    for j, call in enumerate(message.get("tool_calls") or ()):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise UnsupportedParameterError(f"{where} has no function name")
        name = function["name"]
        try:
            args = json.loads(function.get("arguments") or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise UnsupportedParameterError(
                f"{where}: its arguments are not a JSON object, and Gemini takes a call's arguments as one"
            )
        extra = call.get("extra")
        extra = extra if isinstance(extra, Mapping) else {}
        gemini_id = extra.get("id")
        function_call: dict[str, Any] = {"args": args, "name": name}
        if gemini_id:
            function_call["id"] = gemini_id
        part: dict[str, Any] = {"functionCall": function_call}
        if extra.get("thought_signature"):
            part["thoughtSignature"] = extra["thought_signature"]
        parts.append(part)
        calls[str(call.get("id"))] = (name, gemini_id)
    if not parts:
        parts.append({"text": ""})
    return parts


def _function_response(
    message: ChatMessage, i: int, calls: dict[str, tuple[str, str | None]]
) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    found = calls.get(str(call_id))
    if found is None:
        raise UnsupportedParameterError(
            f"messages[{i}] answers tool call {call_id!r}, which no earlier assistant message made: "
            "Gemini names a function response by its function, so keep the assistant turn with its "
            "tool_calls (Choice.message()) before the tool results"
        )
    name, gemini_id = found
    content = message.get("content")
    if not isinstance(content, str):
        parts = _parts(content, f"messages[{i}]")
        if any("text" not in part for part in parts):
            raise UnsupportedParameterError(
                f"messages[{i}] is a tool result with an image: llmp-gemini sends tool results as text"
            )
        content = "".join(part["text"] for part in parts)
    response: dict[str, Any] = {"name": name, "response": {"result": content}}
    if gemini_id:
        response["id"] = gemini_id
    return {"functionResponse": response}
