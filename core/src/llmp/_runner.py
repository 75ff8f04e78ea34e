"""Run coroutines from synchronous code, whether or not an event loop is already running.

Every sync method of llmp runs its coroutine on one private event loop in a daemon thread. That
works the same in a script, in Jupyter (whose loop is already running in the calling thread) and
in a thread pool, without patching asyncio (no nest_asyncio), and it keeps HTTP connections and
clients alive between sync calls. Ctrl-C in the caller cancels the coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


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


def _check_not_on_loop(loop: asyncio.AbstractEventLoop) -> None:
    if threading.current_thread() is _thread:
        raise RuntimeError(
            "A synchronous llmp method was called from inside llmp's own event loop (for example "
            "in a callback); use the async method (agenerate, achat, astream) there instead."
        )


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the private loop and block until it finishes."""
    loop = _background_loop()
    _check_not_on_loop(loop)
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except (KeyboardInterrupt, SystemExit):
        future.cancel()
        # Give the task a moment to unwind (release slots, flush checkpoints) before re-raising.
        with contextlib.suppress(Exception):
            future.result(timeout=5)
        raise


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator on the private loop, yielding its items synchronously."""
    loop = _background_loop()
    _check_not_on_loop(loop)

    async def step() -> tuple[bool, T | None]:
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    async def close() -> None:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()

    try:
        while True:
            more, item = run_sync(step())
            if not more:
                return
            yield item  # type: ignore[misc]
    finally:
        # Closing early (break, exception) must still release the stream's connection.
        asyncio.run_coroutine_threadsafe(close(), loop).result()
