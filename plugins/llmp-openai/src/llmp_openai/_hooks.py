"""llmp-openai's hook implementations: the entry point module (imports only llmp).

The ``"openai"`` wire API is Chat Completions as OpenAI speaks it; every OpenAI-compatible host
in the routing table (and a user's own ``llmp.add_route``) uses it. The factory imports the
client module, and with it httpx2, only when the first client is built; the openai SDK only
when the batch API is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import llmp
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage
from llmp_openai import _prices, _routes

API = "openai"


def build_client(settings: ClientSettings) -> Client:
    """An `OpenAIClient` for `settings` (HTTP/2, the host's row of `llmp_openai._hosts`)."""
    from llmp_openai._client import OpenAIClient

    return OpenAIClient(settings)


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


@llmp.hookimpl
def llmp_apis() -> Mapping[str, ClientFactory]:
    return {API: build_client}


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
