"""llmp-gemini's hook implementations: the entry point module (imports only llmp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any

import llmp
from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage
from llmp_gemini import _prices, _routes


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
    if settings.api != "gemini":
        return None
    from llmp_gemini._client import GeminiClient  # google-genai is imported only now

    return GeminiClient(settings)


def _is_ours(client: object) -> bool:
    # Compare by name so that checking never imports the client module (and the SDK).
    return type(client).__name__ == "GeminiClient" and type(client).__module__ == "llmp_gemini._client"


@llmp.hookimpl
def llmp_call(client: object, request: Request) -> Awaitable[Response] | None:
    if not _is_ours(client):
        return None
    return client.call(request)  # type: ignore[attr-defined, no-any-return]


@llmp.hookimpl
def llmp_stream(client: object, request: Request) -> AsyncIterator[Chunk] | None:
    if not _is_ours(client):
        return None
    return client.stream(request)  # type: ignore[attr-defined, no-any-return]


@llmp.hookimpl
def llmp_batch(client: object, op: str, payload: Mapping[str, Any]) -> Awaitable[Mapping[str, Any]] | None:
    if not _is_ours(client):
        return None
    from llmp_gemini import _batch  # imports only llmp and this plugin's pure modules

    return _batch.run(client, op, payload)  # type: ignore[arg-type]


@llmp.hookimpl
def llmp_request_params(provider: str, model: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    if provider != "gemini":
        return None
    from llmp_gemini._thinking import effective_params  # pure Python: no SDK import

    # The default thinking budget is part of what is sent, so it is part of the cache key.
    return effective_params(model, params)


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
