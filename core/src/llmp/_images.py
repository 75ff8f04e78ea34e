"""`llmp.image`: a local file, bytes or a URL as an image content part of a message.

The part is OpenAI's ``{"type": "image_url", "image_url": {"url": ...}}``; local files and bytes
become a ``data:`` URL (base64) so the message carries the image itself: plugins convert it to
their wire (Gemini ``inlineData``, Anthropic ``image`` blocks) and the cache key covers the
bytes' hash, never a file path. The type is read from the bytes (PNG, JPEG, GIF, WebP), not from
the file name.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Literal

from llmp.errors import ConfigurationError

__all__ = ["IMAGE_TYPES", "image"]

#: The image types every provider with vision accepts.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image(
    source: str | os.PathLike[str] | bytes,
    *,
    mime_type: str | None = None,
    detail: Literal["auto", "low", "high"] | None = None,
) -> dict[str, Any]:
    """An image content part, to put in a message's ``content`` list::

        llm.complete([{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            llmp.image("photo.jpg"),
        ]}])

    `source` is a path, raw bytes, or an ``https://`` / ``data:`` URL (passed as it is).
    `mime_type` overrides the type read from the bytes; `detail` is OpenAI's resolution hint.
    """
    if isinstance(source, str) and source.startswith(("https://", "http://", "data:")):
        url = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data, where = bytes(source), "the image bytes"
        elif isinstance(source, (str, os.PathLike)):
            path = Path(source).expanduser()
            where = str(path)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise ConfigurationError(f"image file {where!r} does not exist") from None
            except OSError as exc:
                raise ConfigurationError(f"image file {where!r} cannot be read: {exc}") from None
        else:
            raise ConfigurationError(
                f"image() takes a path, bytes or an https:// / data: URL, got {type(source).__name__}"
            )
        kind = mime_type or _sniff(data)
        if kind is None:
            raise ConfigurationError(
                f"{where} is not a PNG, JPEG, GIF or WebP image (the types providers accept); convert "
                "it, or pass mime_type= if you know the provider takes it"
            )
        if mime_type is None and kind not in IMAGE_TYPES:  # pragma: no cover - _sniff returns only these
            raise ConfigurationError(f"{where}: unsupported image type {kind}")
        url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    spec: dict[str, Any] = {"url": url}
    if detail is not None:
        if detail not in ("auto", "low", "high"):
            raise ConfigurationError(f"detail must be 'auto', 'low' or 'high', got {detail!r}")
        spec["detail"] = detail
    return {"type": "image_url", "image_url": spec}
