"""Plugin discovery and the registry: one pluggy manager, the routing table built from it.

`import llmp` loads no plugin. The first route lookup loads the ``llmp`` entry points (all of
them, or those named in ``LLMP_PLUGINS=openai,gemini``). A plugin that fails to import, or that
breaks the contract, is skipped with a warning naming its distribution, so one broken
third-party plugin cannot take the others down. Plugins registered explicitly (tests, user
code) fail loudly instead.

The registry is an ordinary object: tests build their own with chosen plugins, and nothing
leaks between them. `default_registry()` is the process-wide one behind `llmp.LLM`.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import os
import threading
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import pluggy

from llmp import hookspecs
from llmp._routing import ResolvedRoute, RoutingTable
from llmp.errors import PluginError
from llmp.types import ClientSettings, Cost, PriceMode, Route, Usage

__all__ = ["PluginInfo", "PluginWarning", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "llmp"
# Hooks that must decide synchronously and hand back an awaitable / async iterator.
_REQUEST_HOOKS = frozenset({"llmp_create_client", "llmp_call", "llmp_stream", "llmp_batch", "llmp_price"})
_SPEC_NAMES = frozenset(name for name in dir(hookspecs.LlmpSpec) if name.startswith("llmp_"))


class PluginWarning(UserWarning):
    """A plugin could not be loaded; llmp carries on without it."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One loaded plugin, as `llmp plugins` shows it."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


def _validate(plugin: object, name: str) -> list[str]:
    """Return the plugin's hook names, or raise PluginError for a contract violation."""
    hooks: list[str] = []
    for attr in dir(plugin):
        if not attr.startswith("llmp_"):
            continue
        func = getattr(plugin, attr)
        if not callable(func):
            continue
        if attr not in _SPEC_NAMES:
            close = difflib.get_close_matches(attr, _SPEC_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PluginError(f"Plugin {name!r} implements unknown hook {attr!r}.{hint}")
        if attr in _REQUEST_HOOKS and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
            raise PluginError(
                f"Plugin {name!r}: hook {attr!r} is 'async def'. Request hooks must be plain 'def' "
                "functions that return None when the client is not theirs, and otherwise return a "
                "coroutine or async iterator (an async hook would always win a firstresult call)."
            )
        hooks.append(attr)
    return hooks


class Registry:
    """A plugin manager plus the routing table derived from it.

    ``Registry(load_entry_points=False)`` gives an empty registry for tests; add plugins with
    `register`. User routes added with `add_route` take precedence over plugin routes.
    """

    def __init__(self, *, load_entry_points: bool = True, plugins: Iterable[object] = ()) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs.LlmpSpec)
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._lock = threading.RLock()
        self._info: dict[str, PluginInfo] = {}
        self._dist_of: dict[int, str] = {}
        self._user_routes: list[Route] = []
        self._table: RoutingTable | None = None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientSettings, object]] = (
            weakref.WeakKeyDictionary()
        )
        for plugin in plugins:
            self.register(plugin)

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``registry.hook.llmp_call(client=..., request=...)``)."""
        self._ensure_loaded()
        return self._pm.hook

    # -- registration ------------------------------------------------------------------------

    def register(
        self, plugin: object, name: str | None = None, *, distribution: str = "", version: str = ""
    ) -> None:
        """Register a plugin module or object. Raises PluginError if it breaks the contract."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        hooks = _validate(plugin, name)
        with self._lock:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
            self._info[name] = PluginInfo(name, distribution or name, version, tuple(sorted(hooks)))
            self._dist_of[id(plugin)] = distribution or name
            self._table = None

    def add_route(self, route: Route) -> None:
        """Add a user route (beats plugin routes for the same pattern at equal priority)."""
        with self._lock:
            self._user_routes.append(replace(route, plugin=route.plugin or "user"))
            self._table = None

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:  # another thread may have loaded them while we waited
                if self._load_entry_points:
                    for ep in _selected_entry_points():
                        self._load(ep)
                self._loaded = True

    def _load(self, ep: EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else ep.name
        version = ep.dist.version if ep.dist is not None else ""
        if ep.name in self._info:
            return
        try:
            plugin = ep.load()
            self.register(plugin, ep.name, distribution=dist, version=version)
        except Exception as exc:
            # One broken plugin must not take the others down; say which distribution to fix.
            warnings.warn(
                f"llmp plugin {ep.name!r} from distribution {dist!r} was not loaded: "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=3,
            )

    # -- routing -----------------------------------------------------------------------------

    @property
    def table(self) -> RoutingTable:
        table = self._table
        if table is None:
            self._ensure_loaded()
            with self._lock:
                rows: list[Route] = []
                for impl in self._pm.hook.llmp_routes.get_hookimpls():
                    dist = self._dist_of.get(id(impl.plugin), impl.plugin_name)
                    contributed = cast(Iterable[Route], impl.function() or ())
                    rows.extend(replace(route, plugin=dist) for route in contributed)
                # User routes win ties: lift them just above any plugin row with the same pattern.
                rows.extend(replace(r, priority=r.priority + 1_000_000) for r in self._user_routes)
                table = self._table = RoutingTable(rows)
        return table

    def resolve(self, model: str) -> ResolvedRoute:
        return self.table.resolve(model)

    # -- hooks the core calls ----------------------------------------------------------------

    def create_client(self, settings: ClientSettings) -> object:
        client = self.hook.llmp_create_client(provider=settings.provider, settings=settings)
        if client is None:
            raise PluginError(
                f"No installed plugin can build a client for api {settings.api!r} "
                f"(provider {settings.provider!r}). Is its plugin installed and loaded (LLMP_PLUGINS)?"
            )
        return client

    def client_for(self, settings: ClientSettings) -> object:
        """The client for `settings` on the running event loop, built once and reused.

        Clients hold connection pools bound to the loop they first ran on, so each loop gets its
        own; a loop that is garbage-collected takes its clients with it.
        """
        loop = asyncio.get_running_loop()
        per_loop = self._clients.get(loop)
        if per_loop is None:
            per_loop = self._clients[loop] = {}
        client = per_loop.get(settings)
        if client is None:
            client = per_loop[settings] = self.create_client(settings)
        return client

    def price(self, provider: str, model: str, usage: Usage, mode: PriceMode = "standard") -> Cost | None:
        cost: Cost | None = self.hook.llmp_price(provider=provider, model=model, usage=usage, mode=mode)
        return cost

    def plugins(self) -> list[PluginInfo]:
        self._ensure_loaded()
        return sorted(self._info.values(), key=lambda p: p.name)


def _selected_entry_points() -> list[EntryPoint]:
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    allow = os.environ.get("LLMP_PLUGINS", "").strip()
    if not allow:
        return eps
    wanted = {part.strip() for part in allow.split(",") if part.strip()}
    chosen = [ep for ep in eps if ep.name in wanted or (ep.dist is not None and ep.dist.name in wanted)]
    missing = wanted - {ep.name for ep in chosen} - {ep.dist.name for ep in chosen if ep.dist is not None}
    if missing:
        available = ", ".join(sorted(ep.name for ep in eps)) or "none"
        warnings.warn(
            f"LLMP_PLUGINS names plugins that are not installed: {', '.join(sorted(missing))} "
            f"(installed: {available}).",
            PluginWarning,
            stacklevel=4,
        )
    return chosen


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry used by `llmp.LLM` unless one is passed explicitly."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Registry()
    return _default
