"""llmp-litellm's hook implementations: the entry point module (imports only llmp, never litellm).

One wire API, ``"litellm"``: its factory builds a `llmp_litellm._client.LitellmClient` (imported
then, without litellm itself, which loads on the first request, on litellm's own loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import llmp
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage
from llmp_litellm import _prices, _routes

API = "litellm"
# Providers this plugin has built a client for, besides its own two. A user route such as
# Route("mistral/*", "mistral", api="litellm") is priced here too, while other plugins' providers
# are never looked up (which would read litellm's price map for a price it does not own).
_served: set[str] = {"anthropic", "litellm"}


def _factory(settings: ClientSettings) -> Client:
    from llmp_litellm._client import LitellmClient

    _served.add(settings.provider)
    return LitellmClient(settings)


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_apis() -> Mapping[str, ClientFactory]:
    return {API: _factory}


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider not in _served:
        return None
    return _prices.cost(provider, model, usage, mode)
