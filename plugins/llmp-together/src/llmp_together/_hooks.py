"""llmp-together's hooks: the route, an HTTP/1.1 OpenAI-wire client, and prices.

The entry module imports only llmp; the openai SDK loads when the first client is built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable

import llmp
from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage
from llmp_together import _prices

API = "together"


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
def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
    if settings.api != API:
        return None
    from llmp_openai import OpenAIClient

    # HTTP/1.1: HTTP/2 measurably hurt throughput against Together (one connection's stream
    # limit and head-of-line blocking); a pool of HTTP/1.1 connections does better.
    return OpenAIClient(settings, http2=False)


def _is_ours(client: object) -> bool:
    cls = type(client)
    return cls.__name__ == "OpenAIClient" and cls.__module__ == "llmp_openai._client"


# The request hooks delegate to the client: with LLMP_PLUGINS=together, llmp-openai's own hooks
# may not be loaded, and the client must still be served.
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
