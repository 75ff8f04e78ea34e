"""Attempts: one request to the provider under every limit, with a deadline and retries.

```
instance bound (max_concurrent) -> key (rotated) -> that key's AIMD window -> global slot
  -> client.complete(request) within `timeout` -> answer rules (_answers.check)
on a ProviderError: release every slot, then back off (Retry-After first) and retry, or give up
```

`max_concurrent` bounds the whole `LLM` instance, however many keys it rotates through; each
key's adaptive window lives inside that bound. No slot is held while sleeping. Retries, back-offs,
keys stepping aside and rate-limit pauses are logged on ``llmp.retry`` (INFO; never a key: keys
appear by fingerprint).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from llmp._admission import Admission, Ticket
from llmp._answers import check
from llmp._health import Health
from llmp._keys import KeyPool, fingerprint
from llmp._limits import AIMDLimiter
from llmp._metrics import Recorder
from llmp._perloop import PerLoop
from llmp._retry import RetryPolicy
from llmp._usage import UsageStats
from llmp.errors import (
    AuthenticationError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from llmp.types import Client, Request, Response, Usage

__all__ = ["Attempt", "Sender", "Tries", "is_outage"]

_log = logging.getLogger("llmp.retry")
_now = time.monotonic


class Attempt:
    """The slots one attempt holds (released exactly once) and when it started."""

    __slots__ = ("bound", "key", "limiter", "sender", "slot", "started")

    def __init__(
        self,
        sender: Sender,
        bound: asyncio.Semaphore,
        key: str | None,
        limiter: AIMDLimiter,
        started: float,
        slot: Any,
    ) -> None:
        self.sender, self.bound, self.key, self.limiter = sender, bound, key, limiter
        self.started, self.slot = started, slot
        sender.in_flight += 1

    def release(self) -> None:
        self.sender.in_flight -= 1
        self.limiter.release()
        if self.slot is not None:
            self.slot.release()
        self.bound.release()


class Tries:
    """How many times one request has been tried, and how many 429s with a known wait it met."""

    __slots__ = ("count", "rate_limited")

    def __init__(self) -> None:
        self.count = 0
        self.rate_limited = 0


class Sender:
    def __init__(
        self,
        *,
        provider: str,
        keys: KeyPool | None,
        max_concurrent: int,
        retry: RetryPolicy,
        global_slots: Any,
        stats: UsageStats,
        client: Callable[[str | None], Client],
        record_usage: Callable[[Usage], None],
        recorder: Recorder | None = None,
    ) -> None:
        self.provider = provider
        self.keys = keys
        self.max_concurrent = max_concurrent
        self.retry = retry
        self.global_slots = global_slots
        self.stats = stats
        self.client = client
        self.record_usage = record_usage
        self.recorder = recorder or Recorder()
        #: Attempts holding slots right now.
        self.in_flight = 0
        self._limiters: PerLoop[dict[str, AIMDLimiter]] = PerLoop(dict)
        #: Budget and rate limits, checked before each attempt takes a slot (`llmp._admission`).
        self.admission: Admission | None = None
        #: The deployment's circuit breaker, when this engine is one of a set (`llmp._health`).
        self.health: Health | None = None
        self._bounds: PerLoop[asyncio.Semaphore] = PerLoop(lambda: asyncio.Semaphore(max_concurrent))

    def limiter(self, key: str | None) -> AIMDLimiter:
        per_key = self._limiters.get()
        tag = fingerprint(key)
        limiter = per_key.get(tag)
        if limiter is None:
            limiter = per_key[tag] = AIMDLimiter(self.max_concurrent)
        return limiter

    async def acquire(self) -> Attempt:
        """The instance bound, then a key and its window slot, then a machine-wide slot if capped."""
        bound = self._bounds.get()
        await bound.acquire()
        try:
            key = self.keys.pick() if self.keys is not None else None
            limiter = self.limiter(key)
            started = await limiter.acquire()
        except BaseException:
            bound.release()
            raise
        try:
            slot = await self.global_slots.acquire() if self.global_slots is not None else None
        except BaseException:
            limiter.release()  # cancelled while waiting for a global slot: give the slots back
            bound.release()
            raise
        return Attempt(self, bound, key, limiter, started, slot)

    async def acquire_for(self, ticket: Ticket | None, asides: int) -> Attempt:
        """`acquire`, giving the admission's `ticket` back if that fails (a cancelled wait).

        One of a set whose deployment stepped aside (a 429) since the request came (`asides`, the
        count it saw then) and still does: `RateLimitError` without sending, so that the set
        sends the request elsewhere rather than into the same 429.
        """
        try:
            attempt = await self.acquire()
        except BaseException:
            if ticket is not None and self.admission is not None:
                self.admission.done(ticket, None)
            raise
        health = self.health
        if health is not None and health.asides != asides and health.limited_for() > 0:
            attempt.release()
            if ticket is not None and self.admission is not None:
                self.admission.done(ticket, None)
            wait = health.limited_for()
            raise RateLimitError(
                f"this deployment steps aside for {wait:.1f} s more (it answered 429): not sent",
                provider=self.provider,
                retry_after=wait,
            )
        return attempt

    async def complete(self, request: Request) -> Response:
        """A checked response for `request` from the provider, retried as the policy allows."""
        tries = Tries()
        timeout = request.timeout
        admission = self.admission
        asides = self.health.asides if self.health is not None else 0
        while True:
            ticket = await admission.admit(request) if admission is not None else None
            attempt = await self.acquire_for(ticket, asides)
            begun = _now()
            try:
                client = self.client(attempt.key)
                if timeout is None:
                    response = await client.complete(request)
                else:
                    deadline = asyncio.timeout(timeout)
                    try:
                        async with deadline:
                            response = await client.complete(request)
                    except TimeoutError:
                        if not deadline.expired():
                            raise
                        raise ProviderTimeoutError(
                            f"no complete answer within timeout={timeout:g} s", provider=self.provider
                        ) from None
                check(response, request, self.provider)
            except ProviderError as error:
                attempt.release()
                if admission is not None and ticket is not None:
                    admission.done(ticket, error.usage)
                if await self.after_error(error, attempt, tries, timeout):
                    continue
                raise
            except BaseException:
                attempt.release()
                if admission is not None and ticket is not None:
                    admission.done(ticket, None)
                raise
            attempt.release()
            if admission is not None and ticket is not None:
                admission.done(ticket, response.usage)
            if self.health is not None:
                self.health.ok()
            usage = response.usage
            attempt.limiter.on_success(response.rate_limit, usage.input_tokens + usage.output_tokens)
            response.latency = _now() - begun
            response.attempts = tries.count + 1
            response.provider = self.provider
            self.recorder.success(response.latency, None)
            return response

    async def after_error(
        self, error: ProviderError, attempt: Attempt, tries: Tries, limit: float | None
    ) -> bool:
        """Account for a failed attempt (slots already released); back off and return True to
        try again, or count the failure and return False to give up. Raises a replacement error
        when the provider asks for a longer wait than llmp allows."""
        if error.usage is not None:
            self.record_usage(error.usage)  # the provider billed this attempt (an empty answer)
        health = self.health
        if health is not None and is_outage(error):
            health.failed()
            if health.is_open:  # the deployment is down: let its set send this elsewhere now
                self.stats.failures += 1
                self.recorder.failure(error)
                return False
        delay = self._decide(error, attempt, tries, limit)
        if delay is None:
            self.stats.failures += 1
            self.recorder.failure(error)
            return False
        self.stats.retries += 1
        if delay:
            _log.info(
                "%s: %s; retrying in %.2f s (attempt %d)",
                self.provider,
                _describe(error),
                delay,
                tries.count + tries.rate_limited + 1,
            )
            await asyncio.sleep(delay)  # holding no slot while we wait
        return True

    def _decide(
        self, error: ProviderError, attempt: Attempt, tries: Tries, timeout: float | None
    ) -> float | None:
        """The delay before retrying, or None to give up."""
        key, keys, retry = attempt.key, self.keys, self.retry
        if isinstance(error, RateLimitError):
            return self._rate_limited(error, attempt, tries, timeout)
        if isinstance(error, AuthenticationError) and keys is not None and key is not None:
            # A rejected key steps aside; try the next one at once (it is not the server's fault).
            if len(keys) > 1 and keys.rejected(key) and tries.count < retry.max_retries + 3:
                _log.warning(
                    "%s: key %s was rejected (%s); using the others", self.provider, fingerprint(key), error
                )
                tries.count += 1
                return 0.0
            return None
        if not retry.should_retry(error, tries.count):
            return None
        delay = retry.delay(tries.count, error.retry_after)
        tries.count += 1
        return delay

    def _rate_limited(
        self, error: RateLimitError, attempt: Attempt, tries: Tries, timeout: float | None
    ) -> float | None:
        retry, keys, key = self.retry, self.keys, attempt.key
        known = retry.rate_limit_wait(error)
        allowed = retry.max_wait if timeout is None else min(retry.max_wait, timeout)
        if known is not None and known > allowed:
            raise RateLimitError(
                f"the provider asked to wait {known:.0f} s before retrying, longer than llmp waits "
                f"({allowed:g} s: the smaller of max_retry_wait and timeout): {error.message}",
                provider=error.provider,
                status_code=error.status_code,
                retry_after=error.retry_after,
                rate_limit=error.rate_limit,
                body=error.body,
            ) from error
        # One of a set does not hold its queue for the wait: the set keeps requests away by its
        # step-aside below, sends those already queued here elsewhere, or waits itself.
        attempt.limiter.on_rate_limited(attempt.started, known if self.health is None else None)
        if keys is not None and key is not None:
            keys.rate_limited(key, known)
            if tries.count < retry.max_retries and keys.other_available(key):
                tries.count += 1
                return 0.0  # another key is ready: no need to wait out this one's cool-down
        if known is not None and self.health is not None:
            # One of a set of deployments: step aside for as long as asked, and let the set send
            # the request to another deployment now, or back here once the wait is over.
            self.health.step_aside(known)
            return None
        if known is not None and retry.max_retries and tries.rate_limited < retry.rate_limit_retries:
            tries.rate_limited += 1  # capacity returns at a known time: not a used-up retry
            return retry.jittered(known)
        if not retry.should_retry(error, tries.count):
            return None
        tries.count += 1
        return retry.jittered(retry.delay(tries.count - 1))


def is_outage(error: ProviderError) -> bool:
    """A failure of the deployment rather than of the request: it counts against its health."""
    return isinstance(
        error, (ProviderConnectionError, ServerError, ProviderTimeoutError, AuthenticationError)
    ) or (type(error) is MalformedResponseError)


def _describe(error: ProviderError) -> str:
    code = f" {error.status_code}" if error.status_code is not None else ""
    return f"{type(error).__name__}{code}: {error.message[:200]}"
