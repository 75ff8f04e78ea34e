"""The commands that look at llmp itself: ``routes``, ``plugins``, ``cache``, ``config``.

None of them imports a provider SDK: listing routes and plugins loads only the plugins' entry
modules, which import nothing but llmp.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from llmp._cli._context import Context
from llmp._cli._errors import CLIError

__all__ = ["cache_clear", "cache_stats", "config", "plugins", "routes", "table"]

_T = TypeVar("_T")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@contextmanager
def _plugin_warnings(ctx: Context) -> Iterator[None]:
    # A plugin that fails to load is skipped with a PluginWarning; print it as one plain line
    # instead of Python's "file:line: PluginWarning:" format.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        ctx.info(f"llmp: warning: {warning.message}")


def _loading(ctx: Context, load: Callable[[], _T]) -> _T:
    with _plugin_warnings(ctx):
        return load()


# -- routes --------------------------------------------------------------------------------------


def _keys(route: Any) -> str:
    return f"{route.key_env}_API_KEY" if route.key_env else "-"


def _base_url(route: Any) -> str:
    url = route.base_url or "-"
    return f"${route.base_url_env} or {url}" if route.base_url_env else url


def routes(ctx: Context) -> int:
    import llmp

    ctx.apply_routes()
    if ctx.args.model:
        model = ctx.config.resolve(ctx.args.model)
        resolved = _loading(ctx, lambda: llmp.default_registry().resolve(model))
        route = resolved.route
        ctx.stdout.write(
            f"{model} -> provider {route.provider} (pattern {route.pattern!r}, plugin {route.plugin}), "
            f"sent as {resolved.api_model!r}; keys {_keys(route)}; base URL {_base_url(route)}\n"
        )
        return 0
    rows = _loading(ctx, llmp.routes)
    if ctx.args.json:
        data = [
            {
                "pattern": r.pattern,
                "provider": r.provider,
                "api": r.wire_api,
                "priority": r.priority,
                "base_url": r.base_url,
                "base_url_env": r.base_url_env,
                "key_env": r.key_env,
                "plugin": r.plugin,
            }
            for r in rows
        ]
        ctx.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    body = [(r.pattern, r.provider, _keys(r), _base_url(r), r.plugin) for r in rows]
    ctx.stdout.write(table(("PATTERN", "PROVIDER", "KEYS", "BASE URL", "PLUGIN"), body) + "\n")
    return 0


# -- plugins -------------------------------------------------------------------------------------


def plugins(ctx: Context) -> int:
    import llmp

    registry = llmp.default_registry()
    infos = _loading(ctx, registry.plugins)
    if ctx.args.json:
        data = [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "hooks": list(p.hooks),
                "apis": list(p.apis),
            }
            for p in infos
        ]
        ctx.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    excluded = sorted(set(registry.excluded.values()))
    if not infos:
        if excluded:
            allowed = os.environ.get("LLMP_PLUGINS", "")
            ctx.info(
                f"no llmp plugin is loaded: LLMP_PLUGINS={allowed} leaves out the installed "
                + ", ".join(excluded)
            )
        else:
            ctx.info("no llmp plugins are installed (try: pip install llmp-openai)")
        return 0
    body = [
        (
            p.distribution,
            p.version or "-",
            p.name,
            ", ".join(p.apis) or "-",
            ", ".join(h.removeprefix("llmp_") for h in p.hooks),
        )
        for p in infos
    ]
    ctx.stdout.write(table(("DISTRIBUTION", "VERSION", "ENTRY POINT", "APIS", "HOOKS"), body) + "\n")
    if excluded:
        ctx.info(f"not loaded (LLMP_PLUGINS): {', '.join(excluded)}")
    return 0


# -- cache ---------------------------------------------------------------------------------------


def _cache_file(ctx: Context) -> Path:
    from llmp._cache import FILENAME
    from llmp._paths import default_cache_dir

    directory = getattr(ctx.args, "dir", None)
    base = Path(directory).expanduser() if directory else default_cache_dir()
    return base / FILENAME


def _cache_url(ctx: Context) -> str | None:
    """--cache URL, else (without --dir) $LLMP_CACHE_URL: the Redis cache to look at."""
    import os

    from llmp._cache import CACHE_URL_ENV

    url = getattr(ctx.args, "cache", None)
    if url:
        return str(url)
    if getattr(ctx.args, "dir", None):
        return None
    return os.environ.get(CACHE_URL_ENV, "").strip() or None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _open(ctx: Context) -> tuple[Any, str]:
    """(the cache, where it is); the cache is None for a SQLite file not created yet (opening it
    would create the file just to count nothing)."""
    from llmp._cache import open_cache, shared_cache
    from llmp.errors import CacheError

    try:
        url = _cache_url(ctx)
        if url is not None:
            cache = open_cache(url, fallback=False)
            assert cache is not None
            return cache, cache.stats().location
        path = _cache_file(ctx)
        return (shared_cache(path.parent) if path.is_file() else None), str(path)
    except CacheError as exc:
        raise CLIError(str(exc), 1) from None


def _stats(ctx: Context) -> tuple[Any, dict[str, Any]]:
    cache, location = _open(ctx)
    if cache is None:
        return None, {"backend": "sqlite", "path": location, "location": location, "entries": 0, "bytes": 0}
    stats = cache.stats()
    data = {"backend": stats.backend, "location": stats.location, "entries": stats.entries}
    if stats.backend == "sqlite":
        data["path"] = stats.location
    data["bytes"] = stats.size_bytes
    return cache, data


def cache_stats(ctx: Context) -> int:
    _, data = _stats(ctx)
    if getattr(ctx.args, "json", False):
        ctx.stdout.write(json.dumps(data) + "\n")
        return 0
    entries = "unknown (the file is damaged)" if data["entries"] is None else f"{data['entries']:,}"
    size = "-" if data["bytes"] is None else _human(data["bytes"])
    where = f"path:    {data['path']}" if "path" in data else f"redis:   {data['location']}"
    ctx.stdout.write(f"{where}\nentries: {entries}\nsize:    {size}\n")
    return 0


def cache_clear(ctx: Context) -> int:
    cache, data = _stats(ctx)
    entries, location = data["entries"], data["location"]
    if cache is None or entries == 0:
        ctx.info(f"the cache at {location} is already empty")
        return 0
    count = "every" if entries is None else f"{entries:,}"
    if not ctx.args.yes:
        if not (ctx.stdin.isatty() and ctx.stdout.isatty()):
            raise CLIError(f"refusing to delete {count} cached responses without --yes", 2)
        ctx.stdout.write(f"Delete {count} cached responses from {location}? [y/N] ")
        ctx.stdout.flush()
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            ctx.info("nothing deleted")
            return 1
    cache.clear()
    cache.flush()
    ctx.info(f"deleted {count} cached responses from {location}")
    return 0


# -- config --------------------------------------------------------------------------------------


def config(ctx: Context) -> int:
    from llmp._cli._config import default_config_path
    from llmp._cli._context import MODEL_ENV

    cfg = ctx.config
    path = cfg.path or Path(getattr(ctx.args, "config", None) or default_config_path())
    if ctx.args.path:
        ctx.stdout.write(f"{path}\n")
        return 0
    out = [f"file:          {path}{'' if cfg.path else ' (not found: using defaults)'}"]
    out.append(f"default model: {ctx.model()}  (set by default_model or ${MODEL_ENV}; -m per command)")
    for name, target in sorted(cfg.aliases.items()):
        out.append(f"alias:         {name} = {target}")
    for route in cfg.routes:
        keys = f", key_env {route.key_env}" if route.key_env else ""
        out.append(f"route:         {route.pattern} -> {route.base_url} (api {route.api}{keys})")
    ctx.stdout.write("\n".join(out) + "\n")
    return 0
