"""From `LLM(...)`'s arguments to what it sends through: one `Engine`, or a `Router` of several.

Each deployment gets its own engine (its route, host, keys, windows, limits and usage); they
share the cache, the retry policy, the timeout and the budget. Rate limits are token buckets
named by deployment and key, so two LLMs of the same deployment share them (and, with
``LLMP_REDIS_URL``, every process does).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from llmp._admission import Admission
from llmp._budget import Budget
from llmp._cache import Cache
from llmp._deployments import STRATEGIES, Deployment, deployments_of
from llmp._engine import Engine
from llmp._health import Health
from llmp._keys import fingerprint, key_pool
from llmp._plugins import Registry
from llmp._retry import RetryPolicy
from llmp._router import Member, Router
from llmp._target import Target
from llmp._usage import UsageStats
from llmp.errors import ConfigurationError

__all__ = ["Built", "Common", "build"]


@dataclass(frozen=True, slots=True)
class Common:
    """What every deployment of one LLM shares."""

    registry: Registry
    cache: Cache | None
    retry: RetryPolicy
    timeout: float | None
    max_concurrent: int
    global_slots: Any
    output_retries: int
    base_url: str | None
    api_key: str | None
    redis_url: str | None = None


@dataclass(slots=True)
class Built:
    target: Target
    engines: list[Engine]
    router: Router | None
    budget: Budget | None


def _engine(deployment: Deployment, common: Common) -> Engine:
    registry = common.registry
    resolved = registry.resolve(deployment.model)
    route = resolved.route
    base_url = deployment.base_url or common.base_url
    if base_url is None and route.base_url_env:
        base_url = os.environ.get(route.base_url_env) or None
    base_url = (base_url or route.base_url or "").rstrip("/") or None
    key_env = deployment.key_env or route.key_env
    return Engine(
        registry,
        resolved,
        base_url=base_url,
        keys=key_pool(route.provider, key_env, deployment.api_key or common.api_key),
        max_concurrent=deployment.max_concurrent or common.max_concurrent,
        cache=common.cache,
        retry=common.retry,
        timeout=common.timeout,
        stats=UsageStats(),
        global_slots=common.global_slots,
        output_retries=common.output_retries,
    )


def _admission(
    deployment: Deployment, engine: Engine, budget: Budget | None, redis_url: str | None
) -> Admission | None:
    if budget is None and deployment.rpm is None and deployment.tpm is None:
        return None
    rpm = tpm = None
    if deployment.rpm is not None or deployment.tpm is not None:
        from llmp._buckets import rate_bucket

        key = fingerprint(deployment.api_key or deployment.key_env)
        who = f"{engine.provider}:{engine.base_url}:{engine.model}:{key}"
        if deployment.rpm is not None:
            rpm = rate_bucket(f"{who}:rpm", deployment.rpm, redis_url=redis_url)
        if deployment.tpm is not None:
            tpm = rate_bucket(f"{who}:tpm", deployment.tpm, redis_url=redis_url)
    return Admission(
        model=engine.model,
        capabilities=engine.capabilities,
        price=engine.price,
        budget=budget,
        rpm=rpm,
        tpm=tpm,
    )


def build(
    model: str | Sequence[Any],
    common: Common,
    *,
    strategy: str,
    max_cost: float | None,
    fallback_on_content_filter: bool,
    cache_across_models: bool,
    rpm: float | None = None,
    tpm: float | None = None,
) -> Built:
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"strategy={strategy!r} is not one of {', '.join(STRATEGIES)}")
    if max_cost is not None and (
        isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or not 0 < max_cost < math.inf
    ):
        raise ConfigurationError(f"max_cost must be a positive number of US dollars, got {max_cost!r}")
    single = isinstance(model, str)
    deployments = [Deployment(model)] if isinstance(model, str) else deployments_of(model)
    if rpm is not None or tpm is not None:
        # The LLM's own limits, for each deployment that sets none of its own.
        deployments = deployments_of(
            [
                replace(d, rpm=d.rpm if d.rpm is not None else rpm, tpm=d.tpm if d.tpm is not None else tpm)
                for d in deployments
            ]
        )
    budget = Budget(float(max_cost)) if max_cost is not None else None
    engines = [_engine(d, common) for d in deployments]
    for deployment, engine in zip(deployments, engines, strict=True):
        engine.sender.admission = _admission(deployment, engine, budget, common.redis_url)
    if single or len(engines) == 1:
        return Built(engines[0], engines, None, budget)
    members = [Member(d, e, Health()) for d, e in zip(deployments, engines, strict=True)]
    router = Router(
        members,
        strategy,
        fallback_on_content_filter=fallback_on_content_filter,
        cache_across_models=cache_across_models,
    )
    return Built(router, engines, router, budget)
