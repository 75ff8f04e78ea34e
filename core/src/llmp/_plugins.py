"""Plugin discovery and the registry: one pluggy manager, the routing table and the wire APIs.

`import llmp` loads no plugin. The first route lookup loads the ``llmp`` entry points (all of
them, or those named in ``LLMP_PLUGINS=openai,gemini``). A plugin that fails to import, or that
breaks the contract (a v1 request hook, a misspelled hook), is skipped with a warning naming its
distribution, so one broken third-party plugin cannot take the others down. Plugins registered
explicitly (tests, user code) fail loudly instead.

The registry is an ordinary object: tests build their own with chosen plugins, and nothing leaks
between them. `default_registry()` is the process-wide one behind `llmp.LLM`.
"""

from __future__ import annotations

import difflib
import inspect
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import pluggy

from llmp import hookspecs
from llmp._clients import ClientPool
from llmp._routing import ResolvedRoute, RoutingTable, install_dist
from llmp.errors import PluginError, UnknownModelError
from llmp.types import Client, ClientFactory, ClientSettings, Cost, PriceMode, Route, Usage

__all__ = ["PluginInfo", "PluginWarning", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "llmp"
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
    apis: tuple[str, ...] = ()


def _validate(plugin: object, name: str) -> list[str]:
    """Return the plugin's hook names, or raise PluginError for a contract violation."""
    hooks: list[str] = []
    for attr in dir(plugin):
        if not attr.startswith("llmp_"):
            continue
        func = getattr(plugin, attr)
        if not callable(func):
            continue
        if attr in hookspecs.V1_HOOKS:
            raise PluginError(
                f"Plugin {name!r} implements {attr!r}, a hook of llmp's v1 plugin contract. In v2, "
                f"requests are method calls on client objects: {hookspecs.V1_HOOKS[attr]}. See "
                "'Writing a provider plugin' in the llmp docs."
            )
        if attr not in _SPEC_NAMES:
            close = difflib.get_close_matches(attr, _SPEC_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PluginError(f"Plugin {name!r} implements unknown hook {attr!r}.{hint}")
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise PluginError(
                f"Plugin {name!r}: hook {attr!r} is 'async def'. Hooks run at discovery and are plain "
                "'def' functions; only the client's methods are async."
            )
        hooks.append(attr)
    return hooks


class Registry:
    """A plugin manager plus the routing table and API factories derived from it.

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
        self._apis: dict[str, tuple[ClientFactory, str]] | None = None
        #: Installed entry points that LLMP_PLUGINS left out: {entry point name: distribution}.
        self.excluded: dict[str, str] = {}
        self.clients = ClientPool(self.factory)
        for plugin in plugins:
            self.register(plugin)

    @property
    def hook(self) -> Any:
        """The pluggy hook relay."""
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
            dist = distribution or name
            self._info[name] = PluginInfo(name, dist, version, tuple(sorted(hooks)))
            self._dist_of[id(plugin)] = dist
            self._table = None
            self._apis = None

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
                    chosen, self.excluded = _selected_entry_points()
                    for ep in chosen:
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

    def _impls(self, hook: str) -> list[tuple[str, Any]]:
        """(distribution, result) of one all-results hook, for every plugin implementing it."""
        self._ensure_loaded()
        out = []
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            dist = self._dist_of.get(id(impl.plugin), impl.plugin_name)
            out.append((dist, impl.function()))
        return out

    # -- routing -----------------------------------------------------------------------------

    @property
    def table(self) -> RoutingTable:
        table = self._table
        if table is None:
            with self._lock:
                rows: list[Route] = []
                for dist, contributed in self._impls("llmp_routes"):
                    rows.extend(
                        replace(route, plugin=dist) for route in cast(Iterable[Route], contributed or ())
                    )
                # User routes win ties: lift them just above any plugin row with the same pattern.
                rows.extend(replace(r, priority=r.priority + 1_000_000) for r in self._user_routes)
                table = self._table = RoutingTable(rows)
        return table

    def resolve(self, model: str) -> ResolvedRoute:
        try:
            return self.table.resolve(model)
        except UnknownModelError:
            excluded = self._excluded_hint(model)
            if excluded is None:
                raise
            raise UnknownModelError(model, excluded) from None

    def _excluded_hint(self, model: str) -> str | None:
        """Say so when the plugin the model needs is installed but left out by LLMP_PLUGINS."""
        wanted = install_dist(model)
        for ep_name, dist in self.excluded.items():
            if dist == wanted:
                allowed = os.environ.get("LLMP_PLUGINS", "")
                return (
                    f"Its plugin {dist} is installed but not loaded: LLMP_PLUGINS={allowed} excludes it "
                    f"(add {ep_name!r} to LLMP_PLUGINS, or unset it)."
                )
        return None

    # -- wire APIs and clients ---------------------------------------------------------------

    @property
    def apis(self) -> Mapping[str, tuple[ClientFactory, str]]:
        """``{api name: (factory, distribution)}`` from every plugin's ``llmp_apis``."""
        apis = self._apis
        if apis is None:
            with self._lock:
                apis = {}
                for dist, contributed in self._impls("llmp_apis"):
                    for api, factory in dict(contributed or {}).items():
                        if api in apis and apis[api][1] != dist:
                            raise PluginError(
                                f"Wire API {api!r} is registered by both {apis[api][1]!r} and {dist!r}; "
                                "each API name belongs to one plugin. Uninstall one, or restrict loaded "
                                "plugins with LLMP_PLUGINS."
                            )
                        if not callable(factory):
                            raise PluginError(f"Plugin {dist!r}: llmp_apis()[{api!r}] is not callable")
                        apis[api] = (factory, dist)
                for name, info in list(self._info.items()):
                    mine = tuple(sorted(a for a, (_, d) in apis.items() if d == info.distribution))
                    self._info[name] = replace(info, apis=mine)
                self._apis = apis
        return apis

    def factory(self, settings: ClientSettings) -> Client:
        """Build a client for `settings` with the factory registered for its API."""
        entry = self.apis.get(settings.api)
        if entry is None:
            known = ", ".join(sorted(self.apis)) or "none"
            raise PluginError(
                f"No loaded plugin speaks wire API {settings.api!r} (provider {settings.provider!r}; "
                f"loaded APIs: {known}). Install its plugin, or check LLMP_PLUGINS."
            )
        return entry[0](settings)

    def client_for(self, settings: ClientSettings, owner: object | None = None) -> Client:
        """The client for `settings` on the running event loop, built once and reused."""
        return self.clients.get(settings, owner)

    def price(self, provider: str, model: str, usage: Usage, mode: PriceMode = "standard") -> Cost | None:
        cost: Cost | None = self.hook.llmp_price(provider=provider, model=model, usage=usage, mode=mode)
        return cost

    def plugins(self) -> list[PluginInfo]:
        self._ensure_loaded()
        self.apis  # noqa: B018 - fills each PluginInfo's `apis`
        return sorted(self._info.values(), key=lambda p: p.name)


def _selected_entry_points() -> tuple[list[EntryPoint], dict[str, str]]:
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    allow = os.environ.get("LLMP_PLUGINS", "").strip()
    if not allow:
        return eps, {}
    wanted = {part.strip() for part in allow.split(",") if part.strip()}

    def dist(ep: EntryPoint) -> str:
        return ep.dist.name if ep.dist is not None else ep.name

    chosen = [ep for ep in eps if ep.name in wanted or dist(ep) in wanted]
    excluded = {ep.name: dist(ep) for ep in eps if ep not in chosen}
    missing = wanted - {ep.name for ep in chosen} - {dist(ep) for ep in chosen}
    if missing:
        available = ", ".join(sorted(ep.name for ep in eps)) or "none"
        close = [m for name in missing for m in difflib.get_close_matches(name, [ep.name for ep in eps], n=1)]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        warnings.warn(
            f"LLMP_PLUGINS names plugins that are not installed: {', '.join(sorted(missing))} "
            f"(installed: {available}).{hint}",
            PluginWarning,
            stacklevel=4,
        )
    return chosen, excluded


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
