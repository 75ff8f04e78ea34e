"""What OpenAI checks in a request's images and strict schemas, as the fake checks it.

Images: an ``http(s)`` URL, or a base64 ``data:`` URL of a PNG, JPEG, GIF or WebP; content parts
of OpenAI's types only. Strict mode (tools with ``strict: true``, ``json_schema`` with
``strict: true``): every object needs ``additionalProperties: false`` and all its properties
required, through properties, items, ``anyOf``, ``allOf`` and ``$defs``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from llmp_openai.testing._openai_wire import invalid

__all__ = ["check_strict", "count_images"]

_PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,(.+)$", re.DOTALL)


def count_images(parts: list[Any], i: int) -> int:
    """The images among message `i`'s content parts, each checked; a 400 for a bad part."""
    count = 0
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES:
            supported = ", ".join(f"'{t}'" for t in _PART_TYPES)
            raise invalid(
                f"Invalid value: {kind!r}. Supported values are: {supported}.",
                param=f"messages[{i}].content[{j}].type",
                code="invalid_value",
            )
        if kind != "image_url":
            continue
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else None
        where = f"messages[{i}].content[{j}].image_url.url"
        if not isinstance(url, str):
            raise invalid(
                "Missing required parameter: 'url'.", param=where, code="missing_required_parameter"
            )
        if url.startswith("data:"):
            match = _DATA_URL.match(url)
            if match is None:
                raise invalid(
                    "Invalid 'image_url'. Expected a base64-encoded data URL with an image MIME type "
                    "(e.g. 'data:image/png;base64,...'), but got unsupported MIME type.",
                    param=where,
                    code="invalid_image_format",
                )
            try:
                base64.b64decode(match[2], validate=True)
            except (binascii.Error, ValueError):
                raise invalid(
                    "You uploaded an unsupported image. Please make sure your image is valid.",
                    param=where,
                    code="invalid_image_format",
                ) from None
        elif not url.startswith(("https://", "http://")):
            raise invalid("Invalid image URL: the URL must be https:// or a data: URL.", param=where)
        count += 1
    return count


def check_strict(schema: Any, what: str, param: str, context: str = "()") -> None:
    """Strict mode's rules (what OpenAI reports first), through properties, items and $defs."""
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False:
            raise invalid(
                f"Invalid schema for {what}: In context={context}, 'additionalProperties' is required to "
                "be supplied and to be false.",
                param=param,
                code="invalid_function_parameters" if what.startswith("function") else None,
            )
        missing = [key for key in properties or {} if key not in (schema.get("required") or ())]
        if missing:
            raise invalid(
                f"Invalid schema for {what}: In context={context}, 'required' is required to be supplied "
                f"and to be an array including every key in properties. Missing '{missing[0]}'.",
                param=param,
            )
    for key, sub in (properties or {}).items():
        check_strict(sub, what, param, f"('properties', '{key}')")
    for key in ("items", "anyOf", "allOf", "$defs", "definitions"):
        value = schema.get(key)
        subs = (
            value.values()
            if isinstance(value, dict) and key in ("$defs", "definitions")
            else (value if isinstance(value, list) else [value])
        )
        for sub in subs:
            check_strict(sub, what, param, f"('{key}',)")
