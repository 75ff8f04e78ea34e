"""A Ray job's usage summed over its actors: from the output columns at the end, live in Redis.

Live: with ``job="name"`` every actor adds what its `LLM` spent on each batch (the change in
`LLM.usage` since it last reported: every billed request, retries and billed failures
included) to the hash ``llmp:job:<name>`` in one MULTI transaction, so readers never see half a
batch. `job_usage` reads it at any time, from any machine. A batch an actor did not finish (it
was killed) is not counted; what its in-flight requests cost is lost with the process.

At the end: `usage` adds up the usage columns of the output; only rows not served from the cache
count as paid.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from llmp._cache._redis_url import import_redis, is_redis_url, mask_url
from llmp._usage import UsageStats
from llmp.errors import ConfigurationError

__all__ = ["REDIS_URL_ENV", "JobCounter", "JobUsage", "check_job", "check_redis", "job_key", "read_job",
           "redis_url_for", "sum_columns"]  # fmt: skip

_log = logging.getLogger("llmp.ray")

REDIS_URL_ENV = "LLMP_REDIS_URL"
_CACHE_URL_ENV = "LLMP_CACHE_URL"
_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class JobUsage:
    """What a job spent, over every actor.

    `rows` answered and `errors` (rows that failed); `requests` billed; `cache_hits` (answers
    from the cache, at no cost); tokens as in `llmp.types.Usage`; `cost` in US dollars, None when
    some answer's price is unknown (never a partial sum that looks like a total).
    """

    rows: int = 0
    errors: int = 0
    requests: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __str__(self) -> str:
        cost = "unknown" if self.cost is None else f"${self.cost:.6f}"
        return (
            f"{self.rows} rows ({self.errors} failed), {self.requests} requests, {self.cache_hits} "
            f"cache hits, {self.input_tokens} input / {self.output_tokens} output tokens, cost {cost}"
        )


_INT_FIELDS = tuple(f.name for f in fields(JobUsage) if f.name != "cost")


def job_key(job: str) -> str:
    return f"llmp:job:{job}"


def check_job(job: object) -> str | None:
    if job is None:
        return None
    if not isinstance(job, str) or not job.strip():
        raise ConfigurationError(f"job must be a non-empty string naming the job, or None, got {job!r}")
    return job


def redis_url_for(redis_url: str | None, *, cache: Any = None, required: str | None = None) -> str | None:
    """`redis_url`, else ``LLMP_REDIS_URL``; with `required`, else the `cache` argument or
    ``LLMP_CACHE_URL`` when it is a Redis URL.

    `required` names what needs it: then no URL at all is a ConfigurationError saying so.
    """
    url = redis_url or os.environ.get(REDIS_URL_ENV, "").strip() or None
    for candidate in (cache, os.environ.get(_CACHE_URL_ENV, "")) if required is not None else ():
        if url is None and isinstance(candidate, str) and is_redis_url(candidate.strip()):
            url = candidate.strip()
    if url is not None and not is_redis_url(url):
        raise ConfigurationError(
            f"redis_url={mask_url(url)!r} is not a Redis URL: use redis://host:6379/0 or rediss://..."
        )
    if url is None and required is not None:
        raise ConfigurationError(
            f"{required} needs a Redis to keep the job's usage in: pass redis_url='redis://host:6379/0', "
            f"set {REDIS_URL_ENV}, or use a Redis cache"
        )
    return url


def _client(url: str) -> Any:
    redis, _ = import_redis()
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=_TIMEOUT, socket_timeout=_TIMEOUT)
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot reach the Redis for the job's usage at {mask_url(url)} ({type(exc).__name__}: {exc}): "
            f"start Redis or fix redis_url / {REDIS_URL_ENV}"
        ) from None
    return client


def check_redis(url: str) -> None:
    """Reach the Redis at `url` once (a clear error naming it, before any request)."""
    _client(url).close()


def read_job(url: str, job: str) -> JobUsage:
    client = _client(url)
    try:
        raw: Mapping[bytes, bytes] = client.hgetall(job_key(job))
    finally:
        client.close()
    data = {key.decode(): value.decode() for key, value in raw.items()}
    counts = {name: int(data.get(name, 0)) for name in _INT_FIELDS}
    cost = None if int(data.get("unpriced", 0)) else float(data.get("cost", 0.0))
    return JobUsage(**counts, cost=cost)


class JobCounter:
    """One actor's reports to ``llmp:job:<job>``: the usage of its `LLM` since the last report.

    A report that cannot reach Redis is logged and kept for the next one (usage is bookkeeping:
    it never fails a batch).
    """

    def __init__(self, url: str, job: str) -> None:
        self.location = mask_url(url)
        self._url, self._key = url, job_key(job)
        self._client: Any = None
        self._lock = threading.Lock()
        self._reported = UsageStats()
        self._rows = self._errors = 0

    def __repr__(self) -> str:
        return f"JobCounter({self.location!r}, {self._key!r})"

    def report(self, stats: UsageStats, *, rows: int, errors: int) -> None:
        with self._lock:
            self._rows += rows
            self._errors += errors
            now = replace(stats)
            before = self._reported
            delta = {
                "rows": self._rows,
                "errors": self._errors,
                **{
                    name: getattr(now, name) - getattr(before, name)
                    for name in _INT_FIELDS
                    if name not in ("rows", "errors")
                },
            }
            try:
                if self._client is None:
                    self._client = _client(self._url)
                pipe = self._client.pipeline(transaction=True)
                for name, value in delta.items():
                    if value:
                        pipe.hincrby(self._key, name, value)
                if now.cost is None:
                    if before.cost is not None:
                        pipe.hincrby(self._key, "unpriced", 1)
                elif before.cost is not None and now.cost != before.cost:
                    pipe.hincrbyfloat(self._key, "cost", now.cost - before.cost)
                pipe.execute()
            except Exception as exc:  # Redis down: keep the counts for the next report
                _log.warning("llmp.ray: could not add a batch's usage to %s: %s", self.location, exc)
                self._client = None
                return
            self._reported, self._rows, self._errors = now, 0, 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def sum_columns(batches: Iterable[Any], prefix: str = "") -> JobUsage:
    """The usage columns of pyarrow `batches` added up (see the module docstring)."""
    import pyarrow.compute as pc

    totals = dict.fromkeys(_INT_FIELDS, 0)
    cost: float | None = 0.0
    for batch in batches:
        error, cached = batch.column(prefix + "error"), batch.column(prefix + "cached")
        failed = pc.is_valid(error)
        paid = pc.and_(pc.invert(failed), pc.invert(pc.fill_null(cached, False)))
        billed = pc.or_(paid, failed)  # a failed answer's tokens were still billed, if any
        totals["rows"] += batch.num_rows
        totals["errors"] += pc.sum(failed).as_py() or 0
        totals["requests"] += pc.sum(paid).as_py() or 0
        totals["cache_hits"] += pc.sum(pc.fill_null(cached, False)).as_py() or 0
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"):
            totals[name] += pc.sum(pc.filter(batch.column(prefix + name), billed)).as_py() or 0
        costs = pc.filter(batch.column(prefix + "cost"), paid)
        if cost is not None:
            cost = None if costs.null_count else cost + (pc.sum(costs).as_py() or 0.0)
    return JobUsage(**totals, cost=cost)
