"""llmp-together's hooks: the route, the ``"together"`` wire API, and prices.

Together speaks OpenAI's Chat Completions wire; its client is llmp-openai's `OpenAIClient` over
HTTP/1.1 with Together's own `Host` row (`llmp_together._host`). The entry module imports only
llmp; the client (and the openai SDK) load when the first client is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import llmp
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage
from llmp_together import _prices

API = "together"


def build_client(settings: ClientSettings) -> Client:
    """An HTTP/1.1 `OpenAIClient` with Together's capabilities."""
    from llmp_openai import OpenAIClient
    from llmp_together._host import TOGETHER

    # HTTP/1.1: HTTP/2 measurably hurt throughput against Together (one connection's stream
    # limit and head-of-line blocking); a pool of HTTP/1.1 connections does better.
    return OpenAIClient(settings, http2=False, host=TOGETHER)


@llmp.hookimpl
def llmp_routes() -> Iterable[Route]:
    return [
        Route(
            "together_ai/*",
            "together",
            api=API,
            base_url="https://api.together.xyz/v1",
            base_url_env="TOGETHER_BASE_URL",
            key_env="TOGETHER",
        )
    ]


@llmp.hookimpl
def llmp_apis() -> Mapping[str, ClientFactory]:
    return {API: build_client}


@llmp.hookimpl
def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    return _prices.cost(provider, model, usage, mode)
