"""A machine-wide cap on requests in flight across processes: `LLMP_GLOBAL_CONCURRENCY=N`.

`llmp._global_slots` makes these (in `llmp._paths.default_slots_dir()`, one directory per user)
or the cluster-wide Redis slots, which stand on these while Redis is away.

N files `slot-<i>.lock` in one directory; holding slot i means holding an exclusive `flock` on
its file. The kernel drops a flock when its holder dies, so a crashed or SIGKILLed process never
leaks a slot.

A flock belongs to an open file description, and taking it twice through one descriptor succeeds
twice. This process's set of held indices is therefore authoritative within a `MachineSlots`
(checked and updated under one lock with the flock call), while separate instances, having
separate descriptors, exclude each other through the kernel exactly like separate processes.

Waiting: per event loop, tasks that find every slot taken queue FIFO behind a single poller task
that rescans the files with jittered exponential backoff and hands each slot it wins to the
longest waiter. One poller rather than one per waiting task keeps the cost at one scan per
interval however many tasks wait. Nothing is held while sleeping. A release deliberately does not
wake local waiters early: a busy process would then re-take its own slots before any other
process looked, and starve them.

Limits: not FIFO across processes; every process should use the same N (a process with a smaller
N only ever uses the first N files, so the machine-wide cap is the largest N in use).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import sys
import threading
import warnings
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["HeldSlot", "MachineSlot", "MachineSlots"]

# Descriptors kept open per instance (one per slot file) so a scan is one syscall per slot; slots
# beyond this are opened per probe, so a huge N cannot exhaust the process's descriptor limit.
_FD_CACHE_MAX = 256
# Poller backoff: the first rescan comes quickly, since a slot held for a short call frees soon;
# the cap bounds how long a slot freed by another process can sit idle before we notice.
_MIN_DELAY = 0.001
_MAX_DELAY = 0.05

if sys.platform == "win32":  # pragma: no cover - Linux is what CI runs
    import msvcrt

    def _try_lock(fd: int) -> bool:
        # Byte-range lock on byte 0 (the position never moves); released when the process dies.
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class HeldSlot:
    """What every held slot offers: `released`, and use as a (sync or async) context manager that
    calls its idempotent `release()` on the way out."""

    __slots__ = ()
    _released: bool

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class MachineSlot(HeldSlot):
    """One held slot. `release()` is idempotent; also a (sync or async) context manager."""

    __slots__ = ("_fd", "_gen", "_owner", "_released", "index")

    def __init__(self, owner: MachineSlots, index: int, fd: int, gen: int) -> None:
        self._owner = owner
        self.index = index
        self._fd = fd
        self._gen = gen
        self._released = False

    def release(self) -> None:
        self._owner._release(self)

    def __del__(self) -> None:
        if not self._released and self._gen == self._owner._gen:
            with contextlib.suppress(Exception):  # e.g. at interpreter shutdown
                self.release()
            warnings.warn(f"global slot {self.index} was never released", ResourceWarning, stacklevel=1)

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<MachineSlot {self.index} of {self._owner.limit} {state}>"


class _LoopWaiters:
    """The tasks of one event loop waiting for a slot, and the poller serving them."""

    __slots__ = ("poller", "queue")

    def __init__(self) -> None:
        self.queue: collections.deque[asyncio.Future[MachineSlot]] = collections.deque()
        self.poller: asyncio.Task[None] | None = None


class MachineSlots:
    """`limit` slots shared by every process using `directory`."""

    def __init__(self, limit: int, directory: Path | str) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"MachineSlots limit must be a positive integer, got {limit!r}")
        self.limit: int = limit
        self.directory: Path = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._paths = [str(self.directory / f"slot-{i}.lock") for i in range(limit)]
        self._gen = 0
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        # Guards _held, _fds and each flock/unlock that changes them. Reentrant because a leaked
        # Slot's __del__ (releasing) can run from a garbage collection inside try_acquire.
        self._lock = threading.RLock()
        self._held: set[int] = set()
        self._fds: list[int] = [-1] * min(self.limit, _FD_CACHE_MAX)
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaiters] = (
            weakref.WeakKeyDictionary()
        )
        # Bumped at fork and close: a Slot from an older generation has nothing left to unlock.
        self._gen += 1

    @property
    def held(self) -> int:
        """How many slots this instance holds right now."""
        return len(self._held)

    def try_acquire(self) -> MachineSlot | None:
        """A free slot, or None at once if all are taken."""
        limit = self.limit
        start = random.randrange(limit)  # processes start at different files, so fewer collisions
        with self._lock:
            held, fds = self._held, self._fds
            for offset in range(limit):
                i = start + offset
                if i >= limit:
                    i -= limit
                if i in held:
                    continue
                cached = i < len(fds)
                fd = fds[i] if cached else -1
                if fd < 0:
                    fd = os.open(self._paths[i], os.O_RDWR | os.O_CREAT, 0o666)  # close-on-exec
                    if cached:
                        fds[i] = fd
                if _try_lock(fd):
                    held.add(i)
                    return MachineSlot(self, i, fd, self._gen)
                if not cached:
                    os.close(fd)
        return None

    async def acquire(self) -> MachineSlot:
        """Wait for a slot without blocking the event loop, holding nothing while waiting."""
        loop = asyncio.get_running_loop()
        with self._lock:
            waiters = self._waiting.get(loop)
        if waiters is None or not waiters.queue:  # never overtake tasks already queued here
            slot = self.try_acquire()
            if slot is not None:
                return slot
        with self._lock:
            waiters = self._waiting.get(loop)
            if waiters is None:
                waiters = self._waiting[loop] = _LoopWaiters()
        fut: asyncio.Future[MachineSlot] = loop.create_future()
        waiters.queue.append(fut)
        if waiters.poller is None:
            waiters.poller = loop.create_task(self._poll(loop, waiters), name="llmp-global-slots")
        try:
            return await fut
        except asyncio.CancelledError:
            # Cancelled after the poller handed us a slot but before we resumed: give it back.
            if fut.done() and not fut.cancelled():
                fut.result().release()
            raise

    async def _poll(self, loop: asyncio.AbstractEventLoop, waiters: _LoopWaiters) -> None:
        queue = waiters.queue
        delay = _MIN_DELAY
        try:
            while True:
                won = False
                while queue:
                    if queue[0].done():  # that acquire() was cancelled
                        queue.popleft()
                        continue
                    slot = self.try_acquire()
                    if slot is None:
                        break
                    queue.popleft().set_result(slot)
                    won = True
                if not queue:
                    return
                delay = _MIN_DELAY if won else min(delay * 2, _MAX_DELAY)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        except asyncio.CancelledError:
            for fut in queue:  # the loop is shutting down: its waiters go too
                fut.cancel()
            queue.clear()
            raise
        except Exception as exc:
            # Waiters must not hang on a poller that died (e.g. the slot directory vanished);
            # each gets the error from its acquire(), so the task itself ends quietly.
            for fut in queue:
                if not fut.done():
                    fut.set_exception(exc)
            queue.clear()
        finally:
            waiters.poller = None
            with self._lock:
                if not queue and self._waiting.get(loop) is waiters:
                    del self._waiting[loop]

    def _release(self, slot: MachineSlot) -> None:
        with self._lock:
            if slot._released:
                return
            slot._released = True
            if slot._gen != self._gen:
                return  # inherited across fork (the parent's to release) or the instance was closed
            # Unlock before forgetting the index: once forgotten, a new acquisition through the
            # same descriptor could take it, and unlocking after that would drop its lock.
            _unlock(slot._fd)
            if slot.index >= len(self._fds):
                os.close(slot._fd)
            self._held.discard(slot.index)

    def close(self) -> None:
        """Close the slot files; this drops every slot still held through this instance."""
        with self._lock:
            fds, self._fds = self._fds, [-1] * len(self._fds)
            self._held.clear()
            self._gen += 1  # outstanding Slots now release nothing (their descriptors are gone)
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def __del__(self) -> None:
        # Only reached once no Slot refers to this instance (a Slot keeps its owner alive).
        with contextlib.suppress(Exception):
            self.close()

    def _forget_after_fork(self) -> None:
        # A forked child shares the parent's open file descriptions, and with them its locks.
        # Close our copies (the parent's locks stay: it still holds its own descriptors) so a
        # child that outlives its parent cannot keep the parent's slots taken.
        for fd in self._fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._reset()

    def __repr__(self) -> str:
        return f"MachineSlots(limit={self.limit}, directory={str(self.directory)!r})"


_LIVE: weakref.WeakSet[MachineSlots] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for slots in list(_LIVE):
        slots._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
