"""llmp-gemini's hook implementations: the entry point module (imports only llmp)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import llmp
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage
from llmp_gemini import _prices, _routes


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return _routes.routes()


def gemini_client(settings: ClientSettings) -> Client:
    """The ``gemini`` wire API's factory: a `llmp_gemini._client.GeminiClient`."""
    from llmp_gemini._client import GeminiClient  # httpx2 is imported only now (google-genai never)

    return GeminiClient(settings)


@llmp.hookimpl
def llmp_apis() -> Mapping[str, ClientFactory]:
    return {"gemini": gemini_client}


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
