"""The CLI's config file: a default model, aliases and OpenAI-compatible routes.

```toml
# ~/.config/llmp/config.toml  (or $XDG_CONFIG_HOME/llmp/config.toml, $LLMP_CONFIG, --config)
default_model = "fast"

[aliases]
fast = "gpt-4.1-mini"
smart = "anthropic/claude-sonnet-4-6"

[[routes]]
pattern = "myvllm/*"
base_url = "http://gpu-box:8000/v1"
key_env = "MYVLLM"          # optional: MYVLLM_API_KEY / MYVLLM_KEYS

[deployments.pool]          # `llmp run -m pool ...`: one name for a set of deployments
strategy = "least_busy"     # optional (default "fallback"); max_cost = 5.0 is optional too
models = [
  { model = "myvllm/qwen", base_url = "http://gpu1:8000/v1", max_concurrent = 64 },
  { model = "myvllm/qwen", base_url = "http://gpu2:8000/v1", max_concurrent = 64 },
  "gpt-4.1-mini",
]
```

A missing default file is an empty config; a file named by ``--config`` or ``LLMP_CONFIG`` must
exist. Unknown keys are errors (with a suggestion), not silently ignored: a typo in a config
file otherwise looks like a setting that does nothing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmp._cli._errors import CLIError

__all__ = [
    "CONFIG_ENV",
    "Config",
    "DeploymentSetConfig",
    "RouteConfig",
    "apply_routes",
    "default_config_path",
    "load_config",
]

CONFIG_ENV = "LLMP_CONFIG"
_TOP_KEYS = ("default_model", "aliases", "routes", "deployments")
_SET_KEYS = ("models", "strategy", "max_cost")
_ROUTE_KEYS = ("pattern", "base_url", "key_env", "provider", "api", "priority")


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One ``[[routes]]`` table: the arguments of `llmp.add_route`."""

    pattern: str
    base_url: str
    key_env: str | None = None
    provider: str | None = None
    api: str = "openai"
    priority: int = 0


@dataclass(frozen=True, slots=True)
class DeploymentSetConfig:
    """One ``[deployments.NAME]`` table: the arguments of ``llmp.LLM(models, strategy=, max_cost=)``."""

    models: tuple[Any, ...]
    strategy: str = "fallback"
    max_cost: float | None = None


@dataclass(frozen=True, slots=True)
class Config:
    #: The file the settings came from; None when there is none.
    path: Path | None = None
    default_model: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    deployments: Mapping[str, DeploymentSetConfig] = field(default_factory=dict)

    def resolve(self, model: str) -> str:
        """The model an alias stands for (one level: aliases do not chain, so cannot loop)."""
        return self.aliases.get(model, model)


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or "~/.config"
    return Path(base).expanduser() / "llmp" / "config.toml"


def load_config(explicit: str | None = None) -> Config:
    """Read the config file: `explicit` (``--config``), else ``$LLMP_CONFIG``, else the default."""
    named = explicit or os.environ.get(CONFIG_ENV, "").strip() or None
    path = Path(named).expanduser() if named else default_config_path()
    if not path.is_file():
        if named:
            source = "--config" if explicit else CONFIG_ENV
            raise CLIError(f"config file {path} (from {source}) does not exist")
        return Config()
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read config file {path}: {exc}") from exc
    return _parse(data, path)


def _unknown(keys: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CLIError(f"{where}: unknown setting {key!r}{hint}; known: {', '.join(allowed)}")


def _parse(data: Mapping[str, Any], path: Path) -> Config:
    _unknown(data, _TOP_KEYS, str(path))
    model = data.get("default_model")
    if model is not None and (not isinstance(model, str) or not model):
        raise CLIError(f"{path}: default_model must be a model name such as 'gpt-4.1-mini'")
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in aliases.items()
    ):
        raise CLIError(f'{path}: [aliases] must map names to model names, e.g. fast = "gpt-4.1-mini"')
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        raise CLIError(f"{path}: routes must be an array of tables ([[routes]])")
    routes = tuple(_route(raw, path, i) for i, raw in enumerate(raw_routes, 1))
    sets = data.get("deployments", {})
    if not isinstance(sets, dict):
        raise CLIError(f"{path}: [deployments.NAME] tables name sets of deployments")
    deployments = {name: _deployment_set(raw, path, name) for name, raw in sets.items()}
    return Config(path, model, dict(aliases), routes, deployments)


def _deployment_set(raw: Any, path: Path, name: str) -> DeploymentSetConfig:
    where = f"{path}: [deployments.{name}]"
    if not isinstance(raw, dict):
        raise CLIError(f"{where} must be a table")
    _unknown(raw, _SET_KEYS, where)
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise CLIError(f'{where} needs models = ["model", {{ model = "...", base_url = "..." }}, ...]')
    strategy = raw.get("strategy", "fallback")
    if not isinstance(strategy, str):
        raise CLIError(f"{where}: strategy must be a string")
    max_cost = raw.get("max_cost")
    if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float))):
        raise CLIError(f"{where}: max_cost must be a number of US dollars")
    return DeploymentSetConfig(tuple(models), strategy, float(max_cost) if max_cost is not None else None)


def _route(raw: Any, path: Path, number: int) -> RouteConfig:
    where = f"{path}: [[routes]] #{number}"
    if not isinstance(raw, dict):
        raise CLIError(f"{where} must be a table")
    _unknown(raw, _ROUTE_KEYS, where)
    for required in ("pattern", "base_url"):
        if not isinstance(raw.get(required), str) or not raw[required]:
            raise CLIError(f'{where} needs {required} = "..."')
    for optional in ("key_env", "provider", "api"):
        if optional in raw and not isinstance(raw[optional], str):
            raise CLIError(f"{where}: {optional} must be a string")
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise CLIError(f"{where}: priority must be an integer")
    return RouteConfig(
        raw["pattern"],
        raw["base_url"],
        key_env=raw.get("key_env"),
        provider=raw.get("provider"),
        api=raw.get("api", "openai"),
        priority=priority,
    )


def apply_routes(config: Config, add_route: Callable[..., object] | None = None) -> None:
    """Add the config's routes to the process-wide routing table, once per process."""
    if not config.routes:
        return
    if add_route is None:
        import llmp

        add_route = llmp.add_route
        # `main()` can run several times in one process (tests, embedding): a route already
        # added is not added again, which the table would reject as a clash.
        present = {(r.pattern, r.base_url, r.key_env) for r in llmp.routes() if r.plugin == "user"}
    else:
        present = set()
    for route in config.routes:
        if (route.pattern, route.base_url, route.key_env) in present:
            continue
        try:
            add_route(
                route.pattern,
                base_url=route.base_url,
                key_env=route.key_env,
                provider=route.provider,
                api=route.api,
                priority=route.priority,
            )
        except ValueError as exc:
            raise CLIError(f"{config.path}: route {route.pattern!r}: {exc}") from exc
