"""What every command gets: its parsed arguments, the config, and a way to build an `LLM`.

Commands never call `llmp.LLM` themselves: they ask the context, which resolves aliases, applies
the config's routes first, and goes through an injectable factory, so tests can hand the CLI a
stand-in for a provider operation no fake server offers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from llmp._cli._config import Config, apply_routes, load_config
from llmp._cli._errors import CLIError, UsageError
from llmp.errors import ConfigurationError

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "Context", "LLMFactory", "parse_params"]

#: Used when neither ``-m``, the config's ``default_model`` nor ``$LLMP_MODEL`` names a model.
DEFAULT_MODEL = "gpt-4.1-mini"
MODEL_ENV = "LLMP_MODEL"

LLMFactory = Callable[..., Any]


def _default_factory(model: Any, **kwargs: Any) -> Any:
    import llmp

    return llmp.LLM(model, **kwargs)


@dataclass
class Context:
    args: argparse.Namespace
    llm_factory: LLMFactory = _default_factory
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(getattr(self.args, "config", None))
        return self._config

    @property
    def verbose(self) -> bool:
        return bool(getattr(self.args, "verbose", False))

    def model(self) -> str:
        """``-m``, else the config's default, else ``$LLMP_MODEL``, else `DEFAULT_MODEL`; aliases resolved."""
        name = (
            getattr(self.args, "model", None)
            or self.config.default_model
            or os.environ.get(MODEL_ENV, "").strip()
            or DEFAULT_MODEL
        )
        return self.config.resolve(name)

    def apply_routes(self) -> None:
        apply_routes(self.config)

    def llm(self, **kwargs: Any) -> Any:
        """An `LLM` for `model()` with the command's cache choice, after the config's routes."""
        self.apply_routes()
        if getattr(self.args, "no_cache", False):
            kwargs.setdefault("cache", False)
        name = self.model()
        group = self.config.deployments.get(name)
        if group is None:
            return self.llm_factory(name, **kwargs)
        # A named set of deployments: the same LLM call shape, several hosts behind it.
        kwargs.setdefault("strategy", group.strategy)
        if group.max_cost is not None:
            kwargs.setdefault("max_cost", group.max_cost)
        try:
            return self.llm_factory(list(group.models), **kwargs)
        except ConfigurationError as exc:
            raise CLIError(f"{self.config.path}: [deployments.{name}]: {exc}") from exc

    def params(self) -> dict[str, Any]:
        return parse_params(getattr(self.args, "param", None) or [])

    def info(self, message: str) -> None:
        """A note for the person at the terminal: stderr, so stdout stays clean for pipes."""
        self.stderr.write(message + "\n")
        self.stderr.flush()


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["temperature=0", "stop=[\\"\\\\n\\"]", "user=bob"]`` -> generation parameters.

    A value is read as JSON when it parses (numbers, booleans, lists, objects) and kept as a
    string otherwise, so ``-p user=bob`` needs no quotes.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"-p/--param takes KEY=VALUE (e.g. -p temperature=0), got {pair!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params
