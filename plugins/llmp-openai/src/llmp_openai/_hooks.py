"""llmp-openai's hook implementations: the entry point module (imports only llmp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable

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
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
