"""A whole-request deadline for streams, at a cost of two assignments per delta.

``timeout`` bounds a whole request, not each read: a server that trickles a byte (or an SSE
comment) every half second would otherwise hold a request forever. For a call, one
``asyncio.timeout`` around it does that. A stream cannot hold one open across its ``yield``s: the
timer would cancel the consumer's task while it runs the caller's own code between deltas. So a
`StreamDeadline` arms one timer per attempt and cancels the task only while it is waiting for the
next delta; if the deadline passes in between, the next wait fails at once.
"""

from __future__ import annotations

import asyncio

__all__ = ["StreamDeadline"]


class StreamDeadline:
    __slots__ = ("_handle", "_task", "expired", "waiting")

    def __init__(self, seconds: float | None) -> None:
        self.waiting = False
        self.expired = False
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        if seconds is not None:
            self._task = asyncio.current_task()
            self._handle = asyncio.get_running_loop().call_later(seconds, self._fire)

    def _fire(self) -> None:
        self.expired = True
        if self.waiting and self._task is not None:
            self._task.cancel()

    def owns(self, error: BaseException) -> bool:
        """Whether `error` is the cancellation this deadline caused (then un-cancel the task)."""
        if isinstance(error, asyncio.CancelledError) and self.expired and self._task is not None:
            self._task.uncancel()
            return True
        return False

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
