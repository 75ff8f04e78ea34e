"""llmp-cohere's hook implementations: the entry-point module.

It imports only llmp and this package's light modules: route discovery (``llmp routes``,
``import llmp``) must never import httpx2. Request hooks are plain ``def`` functions that
return None for a client that is not theirs and a coroutine / async iterator otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable

import llmp
from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage

from llmp_cohere import _prices, _routes


# --8<-- [start:hooks]
@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
    if settings.api != _routes.API:
        return None  # another plugin's wire: firstresult moves on
    from llmp_cohere._client import CohereClient  # imports httpx2: only now

    return CohereClient(settings)


def _is_ours(client: object) -> bool:
    # By name, so that checking a foreign client never imports our client module (and httpx2).
    cls = type(client)
    return cls.__name__ == "CohereClient" and cls.__module__ == "llmp_cohere._client"


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


# --8<-- [end:hooks]
