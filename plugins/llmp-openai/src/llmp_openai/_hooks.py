"""llmp-openai's hook implementations: the entry point module (imports only llmp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any

import llmp
from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage
from llmp_openai import _prices, _routes


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
    if settings.api != "openai":
        return None
    from llmp_openai._client import OpenAIClient  # the SDK is imported only now

    return OpenAIClient(settings)


def _is_ours(client: object) -> bool:
    # Compare by name so that checking never imports the client module (and the SDK).
    return type(client).__name__ == "OpenAIClient" and type(client).__module__ == "llmp_openai._client"


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
    # Only OpenAI itself has the Batch API: SambaNova, OpenRouter and local servers share this
    # client but not that endpoint, so for them the core raises its "no batch API" error.
    if not _is_ours(client) or getattr(client, "provider", None) != "openai":
        return None
    from llmp_openai._batch import run

    return run(client, op, payload)  # type: ignore[arg-type]


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
