"""`llmp.Deployment`: one place a model runs (a host, a key, limits), and a checked list of them.

``llmp.LLM([...])`` takes model names, `Deployment` objects or the same as plain dicts
(``{"model": "local/qwen", "base_url": "http://gpu1:8000/v1"}``); every item is checked before
anything is sent, with an error naming it (``deployments[2].weight``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from llmp.errors import ConfigurationError

__all__ = ["STRATEGIES", "Deployment", "Strategy", "deployments_of"]

Strategy = Literal["fallback", "round_robin", "weighted", "least_busy", "lowest_latency", "cheapest"]
STRATEGIES: tuple[str, ...] = (
    "fallback",
    "round_robin",
    "weighted",
    "least_busy",
    "lowest_latency",
    "cheapest",
)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment of a model.

    Args:
        model: The model name, as the routing table knows it (``"gpt-4.1-mini"``, ``"local/qwen"``).
        base_url: The host, overriding the route's (the same model on several vLLM hosts).
        key_env: The environment prefix of its keys (``"OPENAI_B"`` reads ``OPENAI_B_API_KEY`` or
            ``OPENAI_B_KEYS``), overriding the route's.
        api_key: A key given directly (never shown in a repr or log).
        weight: Its share of the traffic under ``strategy="weighted"``.
        rpm: Requests per minute it may receive (a token bucket with a burst of one minute's worth).
        tpm: Tokens per minute it may receive (reserved from an estimate before sending).
        max_concurrent: Requests it may have in flight (default: the LLM's `max_concurrent`).
        name: How metrics and results call it (default: the model and host).
    """

    model: str
    base_url: str | None = None
    key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    weight: float = 1.0
    rpm: float | None = None
    tpm: float | None = None
    max_concurrent: int | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        host = urlsplit(self.base_url).netloc if self.base_url else ""
        return f"{self.model}@{host}" if host else self.model

    @property
    def identity(self) -> tuple[object, ...]:
        return (self.model, self.base_url, self.key_env, self.api_key)


_FIELDS = tuple(f.name for f in fields(Deployment))


def _positive(where: str, name: str, value: Any, *, integer: bool = False, optional: bool = True) -> None:
    if value is None and optional:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not 0 < value < math.inf:
        what = "a positive integer" if integer else "a positive number"
        raise ConfigurationError(f"{where}.{name} must be {what}, got {value!r}")


def _one(item: Any, where: str) -> Deployment:
    if isinstance(item, Deployment):
        deployment = item
    elif isinstance(item, str):
        deployment = Deployment(item)
    elif isinstance(item, Mapping):
        unknown = [k for k in item if k not in _FIELDS]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(
                f"{where} has an unknown field {unknown[0]!r}{hint}; fields: {', '.join(_FIELDS)}"
            )
        if "model" not in item:
            raise ConfigurationError(f"{where} needs a 'model'")
        deployment = Deployment(**item)
    else:
        raise ConfigurationError(
            f"{where} is {type(item).__name__}: a deployment is a model name, an llmp.Deployment or a dict"
        )
    if not isinstance(deployment.model, str) or not deployment.model:
        raise ConfigurationError(f"{where}.model must be a non-empty model name")
    if deployment.base_url is not None and not str(deployment.base_url).startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{where}.base_url must start with http:// or https://, got {deployment.base_url!r}"
        )
    _positive(where, "weight", deployment.weight, optional=False)
    _positive(where, "rpm", deployment.rpm)
    _positive(where, "tpm", deployment.tpm)
    _positive(where, "max_concurrent", deployment.max_concurrent, integer=True)
    return deployment


def deployments_of(items: Sequence[Any]) -> list[Deployment]:
    """Checked deployments, in order; no two the same."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise ConfigurationError(
            "deployments must be a list of model names, llmp.Deployment objects or dicts"
        )
    if not items:
        raise ConfigurationError("model=[] is an empty list of deployments: give at least one model")
    out: list[Deployment] = []
    for i, item in enumerate(items):
        deployment = _one(item, f"deployments[{i}]")
        for j, earlier in enumerate(out):
            if earlier.identity == deployment.identity:
                raise ConfigurationError(
                    f"deployments[{i}] is the same as deployments[{j}] ({deployment.label}): give each a "
                    "different base_url, key_env or api_key, or list it once"
                )
        out.append(deployment)
    return out
