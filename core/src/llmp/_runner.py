"""Run coroutines from synchronous code, whether or not an event loop is already running.

Every sync method of llmp runs its coroutine on one private event loop in a daemon thread. That
works the same in a script, in Jupyter (whose loop is already running in the calling thread) and
in a thread pool, without patching asyncio (no nest_asyncio), and it keeps HTTP connections and
clients alive between sync calls.

Ctrl-C (KeyboardInterrupt, or SystemExit) arrives in the calling thread while the coroutine runs
on the loop thread. It cancels the coroutine's task and then waits, up to `UNWIND_TIMEOUT`
seconds, for the task to finish unwinding (its `finally` blocks release slots and connections and
close checkpoints) before re-raising. Only then is an async iterator closed: closing one that is
still running on the loop raises ``RuntimeError: aclose(): asynchronous generator is already
running``, which is what Ctrl-C used to end with.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["UNWIND_TIMEOUT", "iterate_sync", "run_sync"]

T = TypeVar("T")

#: Seconds an interrupted call waits for its cancelled task to unwind before re-raising anyway
#: (a task that ignores cancellation must not keep Ctrl-C from working).
UNWIND_TIMEOUT = 10.0

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()
# Closes scheduled on the loop by generators collected there (a strong reference until done).
_closing: set[asyncio.Task[None]] = set()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    loop = _loop
    if loop is not None and _thread is not None and _thread.is_alive():
        return loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="llmp-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def _check_not_on_loop() -> None:
    if threading.current_thread() is _thread:
        raise RuntimeError(
            "A synchronous llmp method was called from inside llmp's own event loop (for example "
            "in a callback); use the async method (agenerate, achat, astream) there instead."
        )


class _Call(Generic[T]):
    """A coroutine run as a task on the private loop, waited for by the calling thread.

    Unlike `asyncio.run_coroutine_threadsafe`, whose future counts as done the moment it is
    cancelled, the outcome here is set only once the task itself has finished, so an interrupted
    caller can wait for the task's clean-up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._loop = loop
        self._make = make  # called on the loop: no coroutine exists before it is scheduled
        self._outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._task: asyncio.Task[T] | None = None

    def _start(self) -> None:  # on the loop
        self._task = self._loop.create_task(self._make())
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:  # on the loop
        if task.cancelled():
            self._outcome.set_exception(asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            self._outcome.set_exception(error)
        else:
            self._outcome.set_result(task.result())

    def _cancel(self) -> None:  # on the loop
        # Callbacks from one thread run in order, so a scheduled `_start` has run by now: no task
        # means the interrupt came before the coroutine was even scheduled.
        if self._task is not None:
            self._task.cancel()
        else:
            self._make().close()  # closed unstarted: no "never awaited" warning
            self._outcome.set_exception(asyncio.CancelledError())

    def run(self) -> T:
        """Start the task and block until it finishes; on an interrupt, cancel it, let it unwind
        (up to `UNWIND_TIMEOUT` seconds), re-raise."""
        try:
            # Scheduled inside the `try`: an interrupt at any moment after it cancels the task.
            self._loop.call_soon_threadsafe(self._start)
            return self._outcome.result()
        except (KeyboardInterrupt, SystemExit):
            self._loop.call_soon_threadsafe(self._cancel)
            # A second Ctrl-C here ends the wait early: the user insists.
            concurrent.futures.wait([self._outcome], timeout=UNWIND_TIMEOUT)
            raise


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the private loop and block until it finishes."""
    try:
        loop = _background_loop()
        _check_not_on_loop()
    except BaseException:
        coro.close()
        raise
    return _Call(loop, lambda: coro).run()


def _run_made(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`run_sync` of ``make()``, with the coroutine created on the loop: an interrupt before it
    is scheduled leaves no coroutine behind (iterators run one such call per item)."""
    loop = _background_loop()
    _check_not_on_loop()
    return _Call(loop, make).run()


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator on the private loop, yielding its items synchronously."""
    stepping: asyncio.Task[Any] | None = None  # the task of the latest step (on the loop)

    async def step() -> tuple[bool, T | None]:
        nonlocal stepping
        stepping = asyncio.current_task()
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    async def close() -> None:
        # A step still running (it outlived the unwind wait, or nobody waited: the iterator was
        # collected) is cancelled and awaited first, since a generator cannot be closed while
        # it runs. Steps and this close start in the order they were scheduled: none is missed.
        if stepping is not None and not stepping.done():
            stepping.cancel()
            await asyncio.wait({stepping}, timeout=UNWIND_TIMEOUT)
            if not stepping.done():
                return  # it ignores cancellation: leave it to the loop rather than crash
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            # Bounded too: a generator whose clean-up hangs must not hang the caller's `break`.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(aclose(), UNWIND_TIMEOUT)

    try:
        while True:
            more, item = _run_made(step)
            if not more:
                return
            yield item  # type: ignore[misc]
    finally:
        # Closing early (break, an exception, Ctrl-C) must still release the stream's connection.
        if threading.current_thread() is _thread:
            # Garbage collection finalised this generator on the loop thread, which must not
            # block on itself: the close runs there as a task of its own.
            task = asyncio.get_event_loop().create_task(close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        else:
            _run_made(close)
