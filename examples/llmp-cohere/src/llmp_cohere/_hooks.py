"""llmp-cohere's hook implementations: the entry-point module.

It imports only llmp and this package's light modules: route discovery (``llmp routes``,
``import llmp``) must never import httpx2. The plugin registers one wire API, ``"cohere"``, with
the factory that builds its client; requests are then plain method calls on that client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import llmp
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage

from llmp_cohere import _prices, _routes


# --8<-- [start:hooks]
@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


def _factory(settings: ClientSettings) -> Client:
    from llmp_cohere._client import CohereClient  # imports httpx2: only when a client is built

    return CohereClient(settings)


@llmp.hookimpl
def llmp_apis() -> Mapping[str, ClientFactory]:
    return {_routes.API: _factory}


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)


# --8<-- [end:hooks]
