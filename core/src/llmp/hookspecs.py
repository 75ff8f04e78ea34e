"""The plugin contract: the hooks a provider plugin implements.

A plugin is a module registered under the entry-point group ``llmp``::

    [project.entry-points.llmp]
    myprovider = "llmp_myprovider._hooks"

and implements some of the hooks below with the `llmp.hookimpl` marker. The entry module must
import only `llmp` (never its SDK at module level), so that discovery stays cheap.

pluggy is synchronous. The request hooks (`llmp_create_client`, `llmp_call`, `llmp_stream`,
`llmp_batch`) are plain ``def`` functions that decide *synchronously* whether they own the
client and return None otherwise; the one that owns it returns a coroutine or an async
iterator. An ``async def`` implementation would always "win" a firstresult call, so the
registry rejects it at load time with a `llmp.errors.PluginError`.

Plugins never cache, never limit concurrency and never sleep for backoff: the core wraps every
call with those. Plugins translate their SDK's errors into `llmp.errors` and attach rate-limit
signals (``retry-after``, ``x-ratelimit-*``) as typed data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, Literal

import pluggy

from llmp.types import Chunk, ClientSettings, Cost, PriceMode, Request, Response, Route, Usage

__all__ = ["BatchOp", "LlmpSpec", "hookimpl", "hookspec"]

PROJECT_NAME = "llmp"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for plugin hook implementations: ``@llmp.hookimpl def llmp_routes(): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

BatchOp = Literal["submit", "status", "retrieve", "cancel"]


class LlmpSpec:
    """Hook specifications. Every hook is prefixed ``llmp_``."""

    @hookspec
    def llmp_routes(self) -> Iterable[Route]:  # type: ignore[empty-body]
        """Return the routing rows this plugin adds.

        Called for every plugin (all results are collected). Each row maps a model-name pattern
        to a provider; see `llmp.types.Route`. Two plugins claiming the same pattern at the same
        priority is an error that names both distributions.
        """

    @hookspec(firstresult=True)
    def llmp_create_client(self, provider: str, settings: ClientSettings) -> object | None:
        """Build a client for `provider` with `settings`, or return None if this plugin does not
        speak ``settings.api``.

        Stops at the first non-None result. Called once per (settings, event loop); the core
        keeps and reuses the returned object, so it should hold connection pools. It must not
        perform I/O: connect lazily on the first request.
        """

    @hookspec(firstresult=True)
    def llmp_call(self, client: object, request: Request) -> Awaitable[Response] | None:
        """Return an awaitable that performs `request` without streaming, or None if `client` is
        not this plugin's.

        Stops at the first non-None result. Must be a plain ``def`` returning a coroutine. The
        awaitable raises `llmp.errors.ProviderError` subclasses on failure.
        """

    @hookspec(firstresult=True)
    def llmp_stream(self, client: object, request: Request) -> AsyncIterator[Chunk] | None:
        """Return an async iterator of `Chunk` for a streamed `request`, or None if `client` is not
        this plugin's.

        Stops at the first non-None result. The iterator yields text deltas and, last, a chunk
        carrying `usage`. Joining its text per sample index must equal what `llmp_call` returns.
        """

    @hookspec(firstresult=True)
    def llmp_batch(
        self, client: object, op: BatchOp, payload: Mapping[str, Any]
    ) -> Awaitable[Mapping[str, Any]] | None:
        """Return an awaitable for one provider batch operation (submit, status, retrieve,
        cancel), or None if `client` is not this plugin's or its provider has no batch API.

        Stops at the first non-None result.
        """

    @hookspec(firstresult=True)
    def llmp_request_params(
        self, provider: str, model: str, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Return `params` as they will actually be sent to `model` (defaults the plugin fills in
        made explicit), or None to leave them as given.

        Stops at the first non-None result. The core keys its cache on the result, so a default
        that changes the answer (Gemini's thinking budget, say) is part of the key, and a later
        change of that default cannot serve stale answers. Called once per distinct params
        object, not per prompt.
        """

    @hookspec(firstresult=True)
    def llmp_price(self, provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
        """Return the cost in USD of `usage` on `model` (the provider's own model name), or None
        when this plugin has no price for it.

        Stops at the first non-None result. Never guess: an unknown model is None, and the user
        sees ``total_cost`` as None rather than a wrong number.
        """
