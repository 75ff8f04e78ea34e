"""``POST /v1/embeddings`` of the fake OpenAI server (openai/types/create_embedding_response.py).

Vectors are deterministic (from the SHA-256 of model and text) and unit length, so a test can
compare them across calls; ``dimensions`` shortens them (text-embedding-3 models only, as on
OpenAI); ``encoding_format`` is ``"float"`` or ``"base64"`` (little-endian float32, the SDK's
default). The default size is small (16) so tests stay fast; OpenAI's are 1536 and 3072.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from llmp.testing._wire import count_tokens, dumps
from llmp_openai.testing._openai_wire import invalid

__all__ = ["DEFAULT_DIMENSIONS", "embeddings_body"]

DEFAULT_DIMENSIONS = 16


def vector(model: str, text: str, dimensions: int) -> list[float]:
    raw = b""
    counter = 0
    while len(raw) < 4 * dimensions:
        raw += hashlib.sha256(f"{model}\0{counter}\0{text}".encode()).digest()
        counter += 1
    values = [b / 255.0 - 0.5 for b in raw[:dimensions]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings_body(body: Any) -> bytes:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise invalid("you must provide a model parameter")
    model = body["model"]
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
        raise invalid(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
        )
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not model.startswith("text-embedding-3"):
            raise invalid("This model does not support specifying dimensions.", param="dimensions")
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            raise invalid("Invalid 'dimensions': expected an integer >= 1.", param="dimensions")
    size = dimensions or DEFAULT_DIMENSIONS
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid(
            f"Invalid value: {encoding!r}. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
        )
    data = []
    for index, text in enumerate(inputs):
        values = vector(model, text, size)
        embedding: Any = values
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{size}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(count_tokens(t) for t in inputs)
    return dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    ).encode()
