"""Embeddings on OpenAI's wire: ``POST /embeddings`` (openai/types/create_embedding_response.py).

We ask for ``encoding_format: "float"`` (the SDK itself defaults to base64 and decodes it), so
the reply is plain JSON lists; vectors come back by ``index`` and are put in input order.
"""

from __future__ import annotations

import json
from typing import Any

from llmp.errors import MalformedResponseError
from llmp.types import Embeddings, EmbedRequest, Usage

__all__ = ["embed_body", "parse_embeddings"]


def embed_body(request: EmbedRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "input": request.inputs, "encoding_format": "float"}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    extra = request.params.get("extra_body")
    body.update({k: v for k, v in request.params.items() if k != "extra_body"})
    if extra:
        body.update(extra)
    return body


def parse_embeddings(raw: bytes, count: int, provider: str) -> Embeddings:
    try:
        data = json.loads(raw)
        items = sorted(data["data"], key=lambda item: item.get("index") or 0)
        vectors = [[float(x) for x in item["embedding"]] for item in items]
        usage = data.get("usage") or {}
        prompt = usage.get("prompt_tokens") or 0
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponseError(
            f"could not parse the embeddings body ({type(exc).__name__}: {exc})", provider=provider
        ) from exc
    if len(vectors) != count:
        raise MalformedResponseError(
            f"asked for {count} embeddings, the provider returned {len(vectors)}", provider=provider
        )
    model = data.get("model")
    return Embeddings(vectors, Usage(input_tokens=prompt), model if isinstance(model, str) else None)
