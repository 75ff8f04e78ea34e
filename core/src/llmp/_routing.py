"""The routing table: which provider serves a model name.

Resolution order: an exact name beats any pattern; among patterns the longest (most specific)
wins; then the higher priority. Two different plugins claiming the same pattern at the same
priority is a `PluginError` naming both, because which one wins would otherwise depend on
install order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from llmp.errors import PluginError, UnknownModelError
from llmp.types import Route

__all__ = ["ResolvedRoute", "RoutingTable", "install_dist", "install_hint"]

_GLOB_CHARS = frozenset("*?[")

# Where a model name that no installed plugin claims would be served, so the error can say
# what to install. Checked in order; the catch-all is litellm.
_INSTALL_HINTS: tuple[tuple[str, str], ...] = (
    ("gemini/", "llmp-gemini"),
    ("together_ai/", "llmp-together"),
    *(
        (prefix, "llmp-openai")
        for prefix in (
            "openai/",
            "gpt-",
            "chatgpt-",
            "o1",
            "o3",
            "o4",
            "text-embedding-",
            "local/",
            "ollama/",
            "dashscope/",
            "deepinfra/",
            "deepseek/",
            "fireworks_ai/",
            "groq/",
            "mistral/",
            "openrouter/",
            "sambanova/",
            "xai/",
            "zai/",
            "zhipu/",
        )
    ),
)


def install_dist(model: str) -> str:
    """The distribution that would serve `model`."""
    for prefix, dist in _INSTALL_HINTS:
        if model.startswith(prefix):
            return dist
    return "llmp-litellm"


def install_hint(model: str) -> str:
    dist = install_dist(model)
    if dist != "llmp-litellm":
        return f"Install its plugin: pip install {dist}"
    return (
        "Install the catch-all plugin (Anthropic and 100+ other providers through litellm): "
        "pip install llmp-litellm, or add a route with llmp.add_route(...)"
    )


@dataclass(frozen=True, slots=True)
class ResolvedRoute:
    """A model name resolved: the route and the name to send to the provider."""

    route: Route
    api_model: str


def _is_exact(pattern: str) -> bool:
    return not (_GLOB_CHARS & set(pattern))


def _api_model(pattern: str, model: str) -> str:
    # "sambanova/*" serves "sambanova/Llama-3" as "Llama-3": the prefix only selects the host.
    if pattern.endswith("/*") and _is_exact(pattern[:-1]):
        return model[len(pattern) - 1 :]
    return model


def _specificity(pattern: str) -> int:
    return sum(1 for ch in pattern if ch not in _GLOB_CHARS)


class RoutingTable:
    """An immutable, validated set of routes with a memo of resolved names."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[str, Route] = {}
        self._patterns: list[Route] = []
        seen: dict[tuple[str, int], Route] = {}
        for route in routes:
            clash = seen.get((route.pattern, route.priority))
            if clash is not None and clash.plugin != route.plugin:
                raise PluginError(
                    f"Route {route.pattern!r} is claimed by both {clash.plugin or 'user code'!r} and "
                    f"{route.plugin or 'user code'!r} at priority {route.priority}. Uninstall one, or "
                    "restrict loaded plugins with LLMP_PLUGINS."
                )
            seen[(route.pattern, route.priority)] = route
        for route in seen.values():
            if _is_exact(route.pattern):
                current = self._exact.get(route.pattern)
                if current is None or route.priority > current.priority:
                    self._exact[route.pattern] = route
            else:
                self._patterns.append(route)
        # Most specific first, then priority: the first match in this order is the winner.
        self._patterns.sort(key=lambda r: (_specificity(r.pattern), r.priority), reverse=True)
        self._memo: dict[str, ResolvedRoute] = {}

    @property
    def routes(self) -> list[Route]:
        return sorted([*self._exact.values(), *self._patterns], key=lambda r: (r.provider, r.pattern))

    def resolve(self, model: str) -> ResolvedRoute:
        hit = self._memo.get(model)
        if hit is not None:
            return hit
        route = self._exact.get(model)
        if route is None:
            route = next((r for r in self._patterns if fnmatch.fnmatchcase(model, r.pattern)), None)
        if route is None:
            raise UnknownModelError(model, install_hint(model))
        resolved = ResolvedRoute(route, _api_model(route.pattern, model))
        self._memo[model] = resolved
        return resolved
