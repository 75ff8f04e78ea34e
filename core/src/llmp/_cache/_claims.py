"""In-flight de-duplication inside one process: one owner per key, across threads and loops.

Every backend's `claim()` starts here, so identical prompts in one job (or in several `LLM`
instances sharing a cache) ask once; the Redis backend adds a cluster-wide claim on top for the
process that owns the key locally. Waiters may run on other event loops than the owner: each
waits on a future of its own loop, resolved thread-safely when the owner's block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["OWNER", "LocalClaims", "ReadyClaim", "WaitingClaim"]

Reader = Callable[[str], Awaitable[dict[str, Any] | None]]


class _OwnerClaim:
    """The claim of whoever asks the provider."""

    __slots__ = ()

    @property
    def owner(self) -> bool:
        return True

    async def wait(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109
        raise RuntimeError("the owner of a claim asks the provider itself; only other askers wait")


OWNER = _OwnerClaim()


class ReadyClaim:
    """The answer arrived while claiming: nothing to ask, `wait()` returns it at once."""

    __slots__ = ("_value",)

    def __init__(self, value: dict[str, Any]) -> None:
        self._value = value

    @property
    def owner(self) -> bool:
        return False

    async def wait(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109
        return self._value


class _Inflight:
    __slots__ = ("released", "waiters")

    def __init__(self) -> None:
        self.released = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class WaitingClaim:
    """Another task of this process owns the key: wait for its block to end, then read."""

    __slots__ = ("_claims", "_inflight", "_key", "_read")

    def __init__(self, claims: LocalClaims, inflight: _Inflight, key: str, read: Reader) -> None:
        self._claims = claims
        self._inflight = inflight
        self._key = key
        self._read = read

    @property
    def owner(self) -> bool:
        return False

    async def wait(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109
        if not await self._claims.wait_released(self._inflight, timeout):
            return None
        return await self._read(self._key)


class LocalClaims:
    """Keys being asked right now in this process, with who waits for each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[str, _Inflight] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, read: Reader) -> AsyncIterator[_OwnerClaim | WaitingClaim]:
        """OWNER for the first asker of key (until its block ends), a WaitingClaim for the rest."""
        with self._lock:
            inflight = self._inflight.get(key)
            mine = inflight is None
            if inflight is None:
                inflight = self._inflight[key] = _Inflight()
        if not mine:
            yield WaitingClaim(self, inflight, key, read)
            return
        try:
            yield OWNER
        finally:
            self._release(key, inflight)

    def _release(self, key: str, inflight: _Inflight) -> None:
        with self._lock:
            if self._inflight.get(key) is inflight:
                del self._inflight[key]
            inflight.released = True
            waiters, inflight.waiters = inflight.waiters, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)

    async def wait_released(self, inflight: _Inflight, timeout: float | None) -> bool:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if inflight.released:
                return True
            inflight.waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock, contextlib.suppress(ValueError):
                inflight.waiters.remove((loop, future))
            return False
        return True
