"""The plugin contract (v2): the hooks a provider plugin implements.

A plugin is a module registered under the entry-point group ``llmp``::

    [project.entry-points.llmp]
    myprovider = "llmp_myprovider._hooks"

and implements some of the hooks below with the `llmp.hookimpl` marker. The entry module must
import only `llmp` (never its SDK at module level), so that discovery stays cheap.

Hooks run at discovery or once per client, never once per request. Requests are plain method
calls on the `llmp.types.Client` objects a plugin's factories build: the core resolves a model to
a `Route`, the route names its wire API (`Route.api`), and the factory registered under that name
builds the client. No hook is asked "is this client yours?".

Plugins never cache, never limit concurrency, never sleep for backoff and never retry: the core
wraps every call with those. They translate their wire's errors into `llmp.errors` and attach
rate-limit signals (``retry-after``, ``x-ratelimit-*``) as typed data; `llmp.wire` has the shared
helpers (SSE, HTTP/2 lanes, status and transport error mapping).

v1 plugins implemented request hooks (``llmp_create_client``, ``llmp_call``, ``llmp_stream``,
``llmp_batch``, ``llmp_request_params``); the registry refuses them with a `llmp.errors.PluginError`
saying what replaced each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pluggy

from llmp.types import ClientFactory, Cost, PriceMode, Route, Usage

__all__ = ["V1_HOOKS", "LlmpSpec", "hookimpl", "hookspec"]

PROJECT_NAME = "llmp"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for plugin hook implementations: ``@llmp.hookimpl def llmp_routes(): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The v1 request hooks and what replaced each in v2, for the error a v1 plugin gets.
V1_HOOKS: Mapping[str, str] = {
    "llmp_create_client": "register a factory per wire-API name with llmp_apis()",
    "llmp_call": "implement Client.complete(request) on the client your factory builds",
    "llmp_stream": "implement Client.stream(request) on the client your factory builds",
    "llmp_batch": "give the client a `batch` attribute implementing llmp.types.BatchApi",
    "llmp_request_params": "implement Client.effective_params(model, params)",
}


class LlmpSpec:
    """Hook specifications. Every hook is prefixed ``llmp_``."""

    @hookspec
    def llmp_routes(self) -> Iterable[Route]:  # type: ignore[empty-body]
        """Return the routing rows this plugin adds.

        Called once per registry for every plugin (all results are collected). Each row maps a
        model-name pattern to a provider and names its wire API; see `llmp.types.Route`. Two
        plugins claiming the same pattern at the same priority is an error naming both
        distributions.
        """

    @hookspec
    def llmp_apis(self) -> Mapping[str, ClientFactory]:  # type: ignore[empty-body]
        """Return the wire APIs this plugin speaks: ``{"openai": factory, ...}``.

        Called once per registry for every plugin. A factory is ``factory(settings) -> Client``
        (`llmp.types.ClientFactory`); it must do no I/O and should import its SDK/transport only
        when called. Each API name belongs to exactly one plugin: two plugins registering the
        same name is a `PluginError` naming both distributions.
        """

    @hookspec(firstresult=True)
    def llmp_price(self, provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
        """Return the cost in USD of `usage` on `model` (the provider's own model name), or None
        when this plugin has no price for it.

        Stops at the first non-None result; called after each request. Never guess: an unknown
        model is None, and the user sees ``total_cost`` as None rather than a wrong number.
        """
