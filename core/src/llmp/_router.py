"""A set of deployments behind the one `LLM` call shape: strategies, health, fallbacks.

Each deployment is an `Engine` of its own (its keys, limits, windows, retries and usage); the
router picks one per request (`llmp._strategies`) among those whose circuit is not open
(`llmp._health`), and moves a request to the next when the one it was on cannot answer:

- after the deployment's retries are spent on connection errors, 5xx, timeouts, a rejected key
  or an exhausted quota (and at once when its circuit opens meanwhile);
- on a 429 with a known wait (Retry-After, or the rate-limit headers) once its other keys are
  spent: the deployment steps aside for that long (new requests skip it; then one probe), and
  the request goes to another deployment, or, when none can take it now, waits (holding
  nothing) for the first one back, as one model alone would;
- on a context-length error: to the next deployment with a larger context (or one whose limit is
  unknown);
- on a content filter or a refusal, only with ``fallback_on_content_filter=True``.

A bad request (400) is not tried elsewhere: it would fail there too. A stream moves only before
its first delta. Which deployment answered is `Response.deployment`.

The cache: each deployment keys its answers by its own model and parameters; before asking, the
router looks for the request under the keys of every deployment of the same model (the same
model on several hosts or keys answers the same), so nothing another deployment already paid for
is paid again. Answers of a different model are served only with ``cache_across_models=True``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmp._answers import Parser
from llmp._cache import cache_key
from llmp._deployments import Deployment
from llmp._engine import Engine
from llmp._health import Health
from llmp._metrics import DeploymentMetrics, Recorder, total_of
from llmp._strategies import picker
from llmp._usage import UsageStats
from llmp.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RefusalError,
    ServerError,
)
from llmp.types import ChatMessage, Cost, PriceMode, Request, Response, Usage

if TYPE_CHECKING:
    from llmp._call import CallSpec

__all__ = ["Member", "Router"]

# Failures of a deployment, not of the request: another deployment may well answer.
_MOVE_ON = (ProviderConnectionError, ServerError, ProviderTimeoutError, AuthenticationError, RateLimitError)


class Member:
    """One deployment in a set: its engine, health, metrics and requests in flight."""

    __slots__ = ("_price", "deployment", "engine", "health", "in_flight")

    def __init__(self, deployment: Deployment, engine: Engine, health: Health) -> None:
        self.deployment = deployment
        self.engine = engine
        self.health = health
        self.in_flight = 0
        self._price: float | None = None
        engine.sender.health = health

    @property
    def recorder(self) -> Recorder:
        return self.engine.recorder

    @property
    def name(self) -> str:
        return self.deployment.label

    @property
    def capacity(self) -> int:
        return self.engine.max_concurrent

    def unit_price(self, usage: Usage) -> float:
        if self._price is None:
            cost = self.engine.price(usage)
            self._price = cost.total if cost is not None else float("inf")
        return self._price

    def context(self) -> int | None:
        return self.engine.capabilities().max_context_tokens

    def metrics(self) -> DeploymentMetrics:
        state = "open" if self.health.is_open else self.health.state
        return self.recorder.snapshot(
            name=self.name,
            model=self.engine.model,
            provider=self.engine.provider,
            health=state,
            in_flight=self.in_flight,
            stats=self.engine.stats,
        )


class Routed:
    """One call prepared for every deployment: its request on each (built at once, so that bad
    parameters for any deployment fail before anything is sent) and its cache key on each
    (computed when first needed: without a cache or a checkpoint, never)."""

    __slots__ = ("_engines", "_keys", "requests")

    def __init__(self, requests: list[Request], engines: list[Engine]) -> None:
        self.requests, self._engines = requests, engines
        self._keys: list[str] | None = None

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = [e.cache_key(r) for e, r in zip(self._engines, self.requests, strict=True)]
        return self._keys


class Router:
    def __init__(
        self,
        members: Sequence[Member],
        strategy: str,
        *,
        fallback_on_content_filter: bool = False,
        cache_across_models: bool = False,
    ) -> None:
        self.members = list(members)
        self.strategy = strategy
        self._picker = picker(strategy)
        self.fallback_on_content_filter = fallback_on_content_filter
        self.cache_across_models = cache_across_models
        first = self.members[0].engine
        self.cache = first.cache
        self.provider = first.provider
        self.model = " | ".join(dict.fromkeys(m.engine.model for m in self.members))

    @property
    def engines(self) -> list[Engine]:
        return [m.engine for m in self.members]

    # -- the target interface ----------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        if self.strategy == "fallback":
            return self.members[0].capacity
        return sum(m.capacity for m in self.members)

    def prepare(self, messages: list[ChatMessage], spec: CallSpec) -> Routed:
        engines = self.engines
        return Routed([e.prepare(messages, spec) for e in engines], engines)

    def item_key(self, prepared: Routed) -> str:
        return cache_key({"deployments": prepared.keys})

    def lookup_keys(self, prepared: Routed) -> list[str]:
        return prepared.keys

    def price(self, usage: Usage, mode: PriceMode = "standard") -> Cost | None:
        return self.members[0].engine.price(usage, mode)

    async def aclose(self) -> None:
        for member in self.members:
            await member.engine.aclose()

    # -- choosing ----------------------------------------------------------------------------

    def _choose(self, tried: set[int], smaller_than: int | None = None) -> Member | None:
        candidates = [m for i, m in enumerate(self.members) if i not in tried]
        if smaller_than is not None:
            candidates = [m for m in candidates if (m.context() or 1 << 62) > smaller_than]
        usable = [m for m in candidates if m.health.usable()]
        if usable:
            member = self._picker.pick(usable)
        elif candidates:
            # Every one is stepping aside: the one that recovers first (it takes a probe).
            member = min(candidates, key=lambda m: m.health.recovers_in())
        else:
            return None
        member.health.begin()
        return member

    def _same_model(self, member: Member) -> list[int]:
        if self.cache_across_models:
            return list(range(len(self.members)))
        return [i for i, m in enumerate(self.members) if m.engine.model == member.engine.model]

    async def _cached(
        self, prepared: Routed, member: Member, parser: Parser | None, prefetched: Mapping[str, Any] | None
    ) -> Response | None:
        if self.cache is None:
            return None
        for i in self._same_model(member):
            key = prepared.keys[i]
            value = prefetched.get(key) if prefetched is not None else await self.cache.aget(key)
            hit = self.members[i].engine._hit(key, value, parser)
            if hit is not None:
                hit.deployment = self.members[i].name
                return hit
        return None

    def _next_after(self, error: BaseException, member: Member) -> int | bool:
        """Whether `error` moves the request on (True), to a larger context (an int), or not (False)."""
        if isinstance(error, ContextWindowExceededError):
            return member.context() or 0
        if isinstance(error, RateLimitError) and error.retry_after and not member.health.is_open:
            member.health.step_aside(error.retry_after)  # longer than llmp waits: the sender did not
        if isinstance(error, _MOVE_ON):
            return True
        return self.fallback_on_content_filter and isinstance(error, RefusalError)

    def _may_wait(self, member: Member, rounds: int) -> bool:
        """Whether a request may wait for `member` to come back from a rate limit (as one model
        alone would wait out its 429s): retries allowed, not too many waits, not too long."""
        retry = member.engine.sender.retry
        wait = member.health.limited_for()
        return bool(retry.max_retries) and rounds < retry.rate_limit_retries and 0 < wait <= retry.max_wait

    async def _wait_for(self, member: Member, rounds: int, last: BaseException | None) -> None:
        """Every deployment left steps aside: wait (holding no slot) for `member`, the first back."""
        if not self._may_wait(member, rounds):
            if last is not None:
                raise last
            raise RateLimitError(
                f"every deployment steps aside after a 429; the first is back in "
                f"{member.health.limited_for():.1f} s",
                provider=member.engine.provider,
                retry_after=member.health.limited_for(),
            )
        retry = member.engine.sender.retry
        await asyncio.sleep(retry.jittered(member.health.limited_for()))

    def _again_later(self, error: ProviderError, member: Member, rounds: int) -> bool:
        """A 429 stepped `member` aside: it may take the request once it is back."""
        return isinstance(error, RateLimitError) and self._may_wait(member, rounds)

    def _filtered(self, response: Response) -> bool:
        return self.fallback_on_content_filter and any(
            c.finish_reason == "content_filter" or c.refusal is not None for c in response.choices
        )

    # -- answers -----------------------------------------------------------------------------

    async def answer(
        self, prepared: Routed, parser: Parser | None = None, prefetched: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Response:  # fmt: skip
        tried: set[int] = set()
        smaller: int | None = None
        last: BaseException | None = None
        rounds = 0  # waits for a deployment stepping aside after a 429
        while (member := self._choose(tried, smaller)) is not None:
            index = self.members.index(member)
            if member.health.limited_for() > 0:
                await self._wait_for(member, rounds, last)
                rounds += 1
                continue  # choose again: it is back (its probe), or another is
            tried.add(index)
            hit = await self._cached(prepared, member, parser, prefetched)
            if hit is not None:
                return hit
            member.in_flight += 1
            try:
                its_key = prepared.keys[index] if self.cache is not None else None
                response = await member.engine.complete(prepared.requests[index], its_key, parser, None)
            except ProviderError as error:
                verdict = self._next_after(error, member)
                if verdict is False:
                    raise
                member.recorder.fallbacks += 1
                smaller = verdict if isinstance(verdict, int) and not isinstance(verdict, bool) else smaller
                last = error
                if self._again_later(error, member, rounds):
                    tried.discard(index)
                continue
            finally:
                member.in_flight -= 1
            if self._filtered(response) and len(tried) < len(self.members):
                member.recorder.fallbacks += 1
                continue
            response.deployment = member.name
            return response
        assert last is not None
        raise last

    async def stream_prepared(
        self, prepared: Routed, *, text_only: bool, parser: Parser | None = None, out: Any = None
    ) -> AsyncIterator[Any]:
        if out is None:
            from llmp._streaming import _Result

            out = _Result()  # to learn which deployment answered, and how fast
        tried: set[int] = set()
        last: BaseException | None = None
        rounds = 0  # waits for a deployment stepping aside after a 429
        while (member := self._choose(tried)) is not None:
            index = self.members.index(member)
            if member.health.limited_for() > 0:
                await self._wait_for(member, rounds, last)
                rounds += 1
                continue  # choose again: it is back (its probe), or another is
            tried.add(index)
            yielded = False
            member.in_flight += 1
            try:
                async for item in member.engine.stream_prepared(
                    prepared.requests[index], text_only=text_only, parser=parser, out=out
                ):
                    yielded = True
                    yield item
            except ProviderError as error:
                if yielded or self._next_after(error, member) is False:
                    raise
                member.recorder.fallbacks += 1
                last = error
                if self._again_later(error, member, rounds):
                    tried.discard(index)
                continue
            finally:
                member.in_flight -= 1
            response = getattr(out, "response", None)
            if response is not None:
                response.deployment = member.name
            return
        assert last is not None
        raise last

    # -- metrics -----------------------------------------------------------------------------

    def job_note(self) -> Callable[[], str]:
        """The progress bar's note for a job starting now: what each deployment has done in this
        job and is doing (``A 30 ok 4 busy, B 2 ok 0 busy 3 failed OPEN``), not since the LLM
        was made (that is `metrics`)."""
        members = self.members
        start = [(m.recorder.successes, m.recorder.failures) for m in members]

        def note() -> str:
            parts = []
            for m, (ok, failed) in zip(members, start, strict=True):
                text = f"{m.name} {m.recorder.successes - ok} ok {m.in_flight} busy"
                if m.recorder.failures > failed:
                    text += f" {m.recorder.failures - failed} failed"
                parts.append(text + (" OPEN" if m.health.is_open else ""))
            return ", ".join(parts)

        return note

    @property
    def stats(self) -> UsageStats:
        """Every deployment's usage added up."""
        return UsageStats.total([m.engine.stats for m in self.members])

    def metrics(self) -> tuple[list[DeploymentMetrics], DeploymentMetrics]:
        parts = [m.metrics() for m in self.members]
        return parts, total_of(parts, self.stats, [m.recorder for m in self.members])
