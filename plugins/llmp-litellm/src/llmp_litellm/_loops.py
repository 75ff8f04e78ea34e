"""litellm's own event loop: every litellm call runs there, whichever loop the caller is on.

litellm keeps process-wide state bound to the event loop that first used it: a logging worker
with a queue and a forever-running task, HTTP clients cached under ``id(loop)`` (which a later loop
can reuse), a module-level aiohttp session. llmp runs on several loops in one process by design
(its sync API has a private loop; users call ``asyncio.run`` as often as they like; pytest-asyncio
makes one per test), and each switch makes litellm re-bind: the other loop's queued log
coroutines are dropped ("never awaited"), its worker task is orphaned ("Task was destroyed but it
is pending"), and a cached client can outlive its loop ("Event loop is closed").

So litellm only ever sees one loop, in a daemon thread started on first use, and callers await
its results through thread-safe futures: cancelling the caller cancels the call, exceptions and
stream chunks cross over, and nothing of litellm's is ever scheduled on the caller's loop (no task
of it is left pending there). A hop costs tens of microseconds, small next to litellm's own
per-call work. At interpreter exit the loop's tasks are cancelled and its connections closed
before the thread is dropped, so exit is quiet.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_cleanups: list[Callable[[], Awaitable[None]]] = []
_DONE = object()
_EXIT_TIMEOUT = 5.0


def litellm_loop() -> asyncio.AbstractEventLoop:
    """The loop litellm runs on (started on first use)."""
    global _loop, _thread
    loop = _loop
    if loop is not None:
        return loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="llmp-litellm", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
            atexit.register(_shutdown)
        return _loop


def on_exit(cleanup: Callable[[], Awaitable[None]]) -> None:
    """Await ``cleanup()`` on litellm's loop at interpreter exit (to close connections)."""
    _cleanups.append(cleanup)


async def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on litellm's loop and await its result from the caller's loop."""
    loop = litellm_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


async def stream(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Iterate ``source`` on litellm's loop, yielding its items on the caller's loop.

    Items are handed over as they come (a stream is paced by the provider, so the queue stays
    short). Closing this iterator early cancels the producer, whose ``finally`` closes the stream.
    """
    loop = litellm_loop()
    caller = asyncio.get_running_loop()
    if caller is loop:
        async for item in source:
            yield item
        return
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def hand_over(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody to tell
            caller.call_soon_threadsafe(queue.put_nowait, item)

    async def produce() -> None:
        try:
            async for item in source:
                hand_over(item)
        except BaseException as exc:
            hand_over(exc)
            if not isinstance(exc, Exception):
                raise  # cancellation and the like end the producer as well
        else:
            hand_over(_DONE)

    producer = asyncio.run_coroutine_threadsafe(produce(), loop)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        producer.cancel()  # a no-op once it has finished


def _shutdown() -> None:
    loop, thread = _loop, _thread
    if loop is None or thread is None or not thread.is_alive():
        return

    async def close() -> None:
        for cleanup in _cleanups:
            with contextlib.suppress(Exception):
                await cleanup()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(close(), loop).result(_EXIT_TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(_EXIT_TIMEOUT)
