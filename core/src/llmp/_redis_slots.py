"""A cluster-wide cap on requests in flight: `LLMP_GLOBAL_CONCURRENCY=N` with `LLMP_REDIS_URL`.

Each slot is a lease in Redis that expires `lease` seconds after it was last renewed, so a worker
killed with SIGKILL frees its slots within the lease time. A thread renews every lease the process
holds every `lease / 4` (a thread, so a loop blocked for seconds keeps its leases), so a request
longer than the lease keeps its slot. The rules (fair turns between processes, re-asserting leases
after Redis restarts) are in `_redis_slots_lua`.

Per event loop one worker task does the talking: each call releases what was released and asks
for as many slots as tasks wait on that loop, so a busy loop makes about one call per request.
Waiting tasks hold nothing; the worker polls with jittered backoff while they wait.
`Slot.release()` is synchronous (the engine calls it in `finally` blocks): it queues the lease for
the worker's next call.

Redis down, restarted or unreachable mid-job: the cap falls back to the machine-wide file-lock
slots (`MachineSlots`, same N) with one warning, never unlimited and never an error. The leases
held then are backed by local slots where free, so requests in flight count; those of other
processes on the machine cannot be (up to N more at the switch, for the rest of those requests).
A probe every `lease / 4` finds Redis again: slots taken locally meanwhile are registered as
leases, and after a restart nothing is granted for one lease, time for every holder to register,
so coming back is exact.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import os
import random
import secrets
import threading
import time
import weakref
from typing import Any

from llmp._machine_slots import MachineSlots
from llmp._redis_health import RedisHealth
from llmp._redis_link import RedisLink, Script
from llmp._redis_slot_state import ClusterSlot, LoopState, give_back, renew_forever, resolve
from llmp._redis_slots_lua import SLOTS_SCRIPT

__all__ = ["DEFAULT_LEASE", "ClusterSlot", "ClusterSlots"]

_log = logging.getLogger("llmp.limits")

DEFAULT_LEASE = 10.0
# Poll backoff while tasks wait: a slot freed elsewhere is noticed within _MAX_DELAY.
_MIN_DELAY = 0.002
_MAX_DELAY = 0.05
# A waiting loop's place in the queue outlives its last poll (every <= _MAX_DELAY) by a quarter
# of the lease, within these bounds: a dead waiter at the head of the queue holds back the free
# slots no longer than that, so a dead process's slots are back within the lease.
_WAITER_TTL_BOUNDS = (0.25, 2.0)
# A call that fails this quickly is not worth waiting on at exit.
_EXIT_TIMEOUT = 1.0


class ClusterSlots:
    """`limit` slots shared through Redis by every process using the same `name` on that server."""

    def __init__(
        self,
        link: RedisLink,
        limit: int,
        *,
        fallback: MachineSlots,
        name: str = "global",
        lease: float = DEFAULT_LEASE,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"ClusterSlots limit must be a positive integer, got {limit!r}")
        if not lease > 0.1:
            raise ValueError(f"ClusterSlots lease must be more than 0.1 seconds, got {lease!r}")
        self.limit: int = limit
        self.name = name
        self.lease = float(lease)
        self.link = link
        self.fallback = fallback
        tag = f"{{llmp:slots:{name}}}"
        self._keys = [f"{tag}:{part}".encode() for part in ("leases", "queue", "waiters", "epoch")]
        self._renew_every = self.lease / 4
        low, high = _WAITER_TTL_BOUNDS
        self._waiter_ttl_ms = int(1000 * min(max(self.lease / 4, low), high))
        lease_ms = int(self.lease * 1000)  # the grace after a restart is one lease too
        self._config = f"{limit} {lease_ms} {self._waiter_ttl_ms} {lease_ms}".encode()
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        self._token = secrets.token_hex(6)
        self._ids = itertools.count()
        self._states: dict[asyncio.AbstractEventLoop, LoopState] = {}
        self._lock = threading.Lock()
        self._health = RedisHealth(
            self.link.masked,
            fallback=f"the cluster-wide limit of {self.limit} requests in flight falls back to this "
            f"machine's slots ({self.fallback.directory})",
            back="the cluster-wide limit is back",
            probe_every=self._renew_every,
        )
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> int:
        """How many slots this instance holds right now (Redis leases and local ones)."""
        return sum(len(s.held) + len(s.unadopted) for s in list(self._states.values()))

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the machine-wide slots stand in for it."""
        return self._health.degraded

    async def acquire(self) -> ClusterSlot:
        """Wait for a slot without blocking the event loop, holding nothing while waiting."""
        state = self._state()
        while True:
            slot = await (self._acquire_local(state) if self._health.degraded else self._acquire_lease(state))
            if slot is not None:
                return slot
            # None: Redis failed while we waited (or came back while we waited locally): again

    async def _acquire_lease(self, state: LoopState) -> ClusterSlot | None:
        fut: asyncio.Future[ClusterSlot | None] = state.loop.create_future()
        state.queue.append(fut)
        state.kick(self)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and (slot := fut.result()) is not None:
                slot.release()  # handed a slot just as we were cancelled: give it back
            raise

    async def _acquire_local(self, state: LoopState) -> ClusterSlot | None:
        """A machine-wide slot, or None if Redis answers again before one is free."""
        self._count_locally(state)
        if self._health.probe_due():
            state.kick(self)  # the worker's next call is the probe (a failure delays the next)
        if state.recovered is None or state.recovered.done():
            state.recovered = state.loop.create_future()
        recovered = state.recovered
        taking = state.loop.create_task(self.fallback.acquire())
        try:
            await asyncio.wait((taking, recovered), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            give_back(taking)
            raise
        if not taking.done():
            give_back(taking)
            return None
        slot = ClusterSlot(self, state, None, taking.result())
        state.unadopted.add(slot)
        if not self._health.degraded:
            state.kick(self)  # Redis came back meanwhile: register this slot there
        return slot

    def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            with self._lock:
                for other in [lp for lp in self._states if lp.is_closed()]:
                    del self._states[other]
                state = self._states[loop] = LoopState(loop, f"{self._token}:w{next(self._ids)}")
        return state

    def _release(self, slot: ClusterSlot) -> None:
        if slot._released:
            return
        slot._released = True
        if slot._local is not None:
            slot._local.release()
        state = slot._state
        if slot.lease_id is None:
            state.unadopted.discard(slot)
            return
        if not state.waiter_id.startswith(self._token):
            return  # taken before a fork, by the parent: its lease is the parent's to release
        try:
            on_loop = asyncio.get_running_loop() is state.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._forget(state, slot)
        elif not state.loop.is_closed():  # else the lease expires by itself
            with contextlib.suppress(RuntimeError):
                state.loop.call_soon_threadsafe(self._forget, state, slot)

    def _forget(self, state: LoopState, slot: ClusterSlot) -> None:
        lease_id = slot.lease_id
        if lease_id is not None and state.held.pop(lease_id, None) is not None:
            state.releases.append(lease_id)
            state.kick(self)

    async def _work(self, state: LoopState) -> None:
        delay = _MIN_DELAY
        try:
            while True:
                queue = state.queue
                while queue and queue[0].done():  # cancelled acquire()s
                    queue.popleft()
                health = self._health
                if health.degraded and not health.probe_due():
                    for fut in queue:
                        resolve(fut, None)  # go to the machine-wide slots
                    queue.clear()
                    if not state.held and not state.unadopted:
                        return
                    await state.sleep(max(health.probe_at - time.monotonic(), 0.0))
                    continue
                want = sum(1 for fut in queue if not fut.done())
                renew = state.reassert or bool(state.unadopted)
                if not (want or state.releases or renew or state.queued or health.degraded):
                    if not state.held:
                        return
                    # Idle but holding (renewal is the renewer thread's): stay, so that the loop's
                    # shutdown finds this task and it can tell Redis what was held.
                    await state.sleep(None)
                    continue
                granted = await self._step(state, want, renew)
                if granted is None:
                    continue  # Redis failed: now degraded
                if want > granted:
                    await state.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, _MAX_DELAY)
                else:
                    delay = _MIN_DELAY
        except asyncio.CancelledError:
            # Only the loop's shutdown cancels the worker: tell Redis what this loop held (if it
            # answers quickly) and forget the loop; slots released after this expire by themselves.
            state.closed = True
            with self._lock:
                if self._states.get(state.loop) is state:
                    del self._states[state.loop]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._leave(state), _EXIT_TIMEOUT)
            raise
        finally:
            state.worker = None

    async def _step(self, state: LoopState, want: int, renew: bool) -> int | None:
        """One script call; hands out what it granted. None if Redis failed (now degraded)."""
        for slot in list(state.unadopted):  # taken locally while Redis was away: count them now
            slot.lease_id = f"{self._token}:{next(self._ids)}"
            state.held[slot.lease_id] = slot
            state.unadopted.discard(slot)
        renewing = list(state.held) if renew else []
        releases, state.releases = state.releases, []
        new_ids = [f"{self._token}:{next(self._ids)}" for _ in range(want)]
        args = self._args(state.waiter_id, want, releases, renewing, new_ids)
        if renew:
            state.reassert = False
        try:
            granted, epoch, lost = await self.link.run(_SCRIPT, self._keys, args)
            epoch_id, lost = epoch.decode().split(" ", 1)[0], int(lost)
        except BaseException as exc:
            # Not known to have reached Redis: release again later (ZREM is idempotent), and the
            # leases this call may have been granted too.
            state.releases = releases + new_ids + state.releases
            state.reassert = True
            if not isinstance(exc, Exception):
                raise  # cancelled: the loop is shutting down
            self._health.failed(exc)  # redis_errors(), or a reply no script of ours: never hang
            self._count_locally(state)
            return None
        if self._health.answered(epoch_id, lost, lease=self.lease):
            self._kick_all(reassert=True)
        state.queued = granted < want
        if granted:
            self._ensure_renewer()
        queue = state.queue
        for lease_id in new_ids[:granted]:
            while queue and queue[0].done():
                queue.popleft()
            if not queue:  # its waiter was cancelled meanwhile: give it back next call
                state.releases.append(lease_id)
                continue
            slot = ClusterSlot(self, state, lease_id, None)
            state.held[lease_id] = slot
            queue.popleft().set_result(slot)
        return int(granted)

    def _args(
        self,
        waiter: str,
        want: int,
        releases: list[str],
        renewing: list[str],
        new_ids: list[str],
        *,
        readd: bool = True,
    ) -> list[Any]:
        """ARGV for SLOTS_SCRIPT (see `_redis_slots_lua`)."""
        head = [self._config, waiter, want, self._health.epoch, b"add" if readd else b"xx"]
        return [*head, len(releases), len(renewing), *releases, *renewing, *new_ids]

    def _ensure_renewer(self) -> None:
        if self._renewer is None or not self._renewer.is_alive():
            with self._lock:
                if self._renewer is None or not self._renewer.is_alive():
                    self._renewer = threading.Thread(
                        target=renew_forever,
                        args=(weakref.ref(self),),
                        name="llmp-lease-renewer",
                        daemon=True,
                    )
                    self._renewer.start()

    def _renew(self) -> None:
        """One renewal of every lease held on a live loop (run in the renewer thread). A thread,
        not a task: an event loop blocked for seconds (an import, CPU-bound user code) must not
        let its leases expire while their requests are in flight."""
        ids: list[str] = []
        for state in list(self._states.values()):
            if not state.loop.is_closed():  # a closed loop's leases are left to expire
                ids += list(state.held)
        if not ids:
            return
        args = self._args(f"{self._token}:renewer", 0, [], ids, [], readd=False)
        try:
            _, epoch, missing = self.link.run_sync(_SCRIPT, self._keys, args)
        except Exception as exc:  # the loops see it too, on their next call, and fall back
            _log.debug("llmp: renewing leases at %s failed: %s", self.link.masked, exc)
            return
        # Missing leases were released meanwhile, or lost (expired, Redis restarted): the loops,
        # which know which they still hold, register those again.
        if self._health.answered(epoch.decode().split(" ", 1)[0], lease=self.lease) or missing:
            self._kick_all(reassert=True)

    def _count_locally(self, state: LoopState) -> None:
        """Back the leases this loop holds with machine-wide slots, where free, before any new
        slot is taken locally: requests already in flight then count against the local cap."""
        if state.counted_locally:
            return
        state.counted_locally = True
        for slot in state.held.values():
            if slot._local is None:
                slot._local = self.fallback.try_acquire()

    def _kick_all(self, *, reassert: bool) -> None:
        for state in list(self._states.values()):
            if state.loop.is_closed():
                continue

            def kick(state: LoopState = state) -> None:
                state.reassert = state.reassert or reassert
                state.counted_locally = False  # for the next time Redis fails
                if state.recovered is not None and not self._health.degraded:
                    resolve(state.recovered)  # local waiters take leases instead
                state.kick(self)

            with contextlib.suppress(RuntimeError):
                state.loop.call_soon_threadsafe(kick)

    async def _leave(self, state: LoopState) -> None:
        ids = [*state.releases, *state.held]
        state.releases = []
        client = self.link.client()
        if ids:
            await client.zrem(self._keys[0], *ids)
        if state.queued:
            await client.zrem(self._keys[1], state.waiter_id)

    def close(self) -> None:
        """Release, best effort and at once, every lease this instance holds (also run at exit)."""
        ids: list[str] = []
        waiters: list[str] = []
        for state in list(self._states.values()):
            ids += [*state.releases, *state.held]
            waiters.append(state.waiter_id)
        with contextlib.suppress(Exception):
            if ids:
                self.link.sync.zrem(self._keys[0], *ids)
            if any(state.queued for state in self._states.values()):
                self.link.sync.zrem(self._keys[1], *waiters)

    def _forget_after_fork(self) -> None:
        # The parent's leases are the parent's: the child starts with none, under a new token.
        _GRAVEYARD.append(self._states)
        self._reset()

    def __repr__(self) -> str:
        return f"ClusterSlots(limit={self.limit}, name={self.name!r}, redis={self.link.masked!r})"


_SCRIPT = Script(SLOTS_SCRIPT)
_LIVE: weakref.WeakSet[ClusterSlots] = weakref.WeakSet()
_GRAVEYARD: list[object] = []


@atexit.register
def _close_all() -> None:
    for slots in list(_LIVE):
        slots.close()


def _after_fork_in_child() -> None:
    for slots in list(_LIVE):
        slots._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
