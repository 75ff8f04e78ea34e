"""llmp-litellm's hook implementations: the entry point module (imports only llmp, never litellm)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any

import llmp
from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage
from llmp_litellm import _prices, _routes

API = "litellm"
# Providers this plugin has built a client for, besides its own two. A user route such as
# Route("mistral/*", "mistral", api="litellm") is priced here too, while other plugins' providers
# are never looked up (which would import litellm, seconds, for a price it does not own).
_served: set[str] = {"anthropic", "litellm"}


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
    if settings.api != API:
        return None
    from llmp_litellm._client import LitellmClient  # litellm itself is imported on the first request

    _served.add(settings.provider)
    return LitellmClient(settings)


def _is_ours(client: object) -> bool:
    # Compare by name so that checking never imports the client module.
    return type(client).__name__ == "LitellmClient" and type(client).__module__ == "llmp_litellm._client"


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
    # Of the providers this plugin serves, only Anthropic has a batch API here (its Message
    # Batches); the catch-all's providers get None, and the core names those that have one.
    if not _is_ours(client) or client.provider != "anthropic":  # type: ignore[attr-defined]
        return None
    from llmp_litellm import _batch  # no litellm import: that happens on litellm's loop

    return _batch.run(client, op, payload)


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider not in _served:
        return None
    return _prices.cost(provider, model, usage, mode)
