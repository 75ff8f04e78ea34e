"""The objects behind `ClusterSlots` (`_redis_slots`): a held slot, and one event loop's state."""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from typing import TYPE_CHECKING, Any

from llmp._machine_slots import HeldSlot, MachineSlot

if TYPE_CHECKING:
    from llmp._redis_slots import ClusterSlots

__all__ = ["ClusterSlot", "LoopState", "give_back", "renew_forever", "resolve"]


class ClusterSlot(HeldSlot):
    """One held slot: a Redis lease, a machine-wide slot taken while Redis was away, or both (once
    Redis came back and the local slot was registered). `release()` is idempotent."""

    __slots__ = ("__weakref__", "_local", "_owner", "_released", "_state", "lease_id")

    def __init__(
        self, owner: ClusterSlots, state: LoopState, lease_id: str | None, local: MachineSlot | None
    ) -> None:
        self._owner = owner
        self._state = state
        self.lease_id = lease_id
        self._local = local
        self._released = False

    def release(self) -> None:
        self._owner._release(self)

    def __repr__(self) -> str:
        where = "redis" if self._local is None else "local" if self.lease_id is None else "local+redis"
        state = "released" if self._released else "held"
        return f"<ClusterSlot {where} of {self._owner.limit} {state}>"


class LoopState:
    """What one event loop holds and waits for; touched only on that loop's thread."""

    __slots__ = (
        "closed",
        "counted_locally",
        "dirty",
        "held",
        "loop",
        "queue",
        "queued",
        "reassert",
        "recovered",
        "releases",
        "unadopted",
        "waiter_id",
        "wakeup",
        "worker",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, waiter_id: str) -> None:
        self.loop = loop
        self.waiter_id = waiter_id
        self.queue: collections.deque[asyncio.Future[ClusterSlot | None]] = collections.deque()
        self.held: dict[str, ClusterSlot] = {}  # lease id -> slot, renewed while held
        self.unadopted: weakref.WeakSet[ClusterSlot] = weakref.WeakSet()  # local-only slots
        self.releases: list[str] = []  # lease ids released, not yet told to Redis
        self.queued = False  # this loop has a place in Redis's waiting queue
        self.reassert = False  # renew everything at the next call (Redis lost its state)
        self.worker: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.dirty = False
        self.closed = False  # the loop shut down
        self.counted_locally = False  # held leases backed by machine-wide slots (Redis failed)
        self.recovered: asyncio.Future[None] | None = None  # set when Redis answers again

    def kick(self, owner: ClusterSlots) -> None:
        """Make the worker look again now (start it if it is not running)."""
        if self.closed:
            return
        if self.worker is None:
            self.worker = self.loop.create_task(owner._work(self), name="llmp-cluster-slots")
        elif self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)
        else:
            self.dirty = True

    async def sleep(self, delay: float | None) -> None:
        """Until kicked, or `delay` seconds (None: no limit)."""
        if self.dirty:
            self.dirty = False
            return
        fut = self.wakeup = self.loop.create_future()
        handle = self.loop.call_later(delay, resolve, fut) if delay is not None else None
        try:
            await fut
        finally:
            if handle is not None:
                handle.cancel()
            self.wakeup = None
            self.dirty = False


def resolve(fut: asyncio.Future[Any], value: Any = None) -> None:
    if not fut.done():
        fut.set_result(value)


def renew_forever(ref: weakref.ref[ClusterSlots]) -> None:
    """The renewer thread: `_renew()` every `lease / 4` for as long as the instance lives."""
    while True:
        slots = ref()
        if slots is None:
            return
        every = slots._renew_every
        del slots  # hold no reference while sleeping: the instance may go away
        time.sleep(every)
        slots = ref()
        if slots is None:
            return
        slots._renew()
        del slots


def give_back(taking: asyncio.Task[MachineSlot]) -> None:
    """Abandon a machine-wide acquisition; a slot it won (now or later) is released."""

    def release(task: asyncio.Task[MachineSlot]) -> None:
        if not task.cancelled() and task.exception() is None:
            task.result().release()

    taking.cancel()
    taking.add_done_callback(release)
