"""`_runner`: sync calls on the private loop, and what Ctrl-C does to them.

A real SIGINT is sent to the main thread (`signal.pthread_kill`) from the coroutine itself, at the
moment the caller is blocked waiting for it: exactly where a user's Ctrl-C lands.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from collections.abc import AsyncIterator

import pytest

from llmp import _runner
from llmp._runner import iterate_sync, run_sync


@pytest.fixture(autouse=True)
def on_the_main_thread() -> None:
    assert threading.current_thread() is threading.main_thread(), "SIGINT lands on the main thread"


def ctrl_c() -> None:
    """Ctrl-C in the main thread, which is blocked in `run_sync` or `iterate_sync`."""
    ident = threading.main_thread().ident
    assert ident is not None
    signal.pthread_kill(ident, signal.SIGINT)


def test_run_sync_returns_and_raises_what_the_coroutine_does() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def fail() -> None:
        raise LookupError("from the loop")

    assert run_sync(double(21)) == 42
    with pytest.raises(LookupError, match="from the loop"):
        run_sync(fail())


def test_an_interrupted_run_sync_waits_for_the_task_to_unwind() -> None:
    # Item 1 (issue 14): the old run_sync re-raised at once, while the task was still unwinding.
    unwound = threading.Event()

    async def job() -> None:
        try:
            ctrl_c()
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # clean-up that awaits (a checkpoint close, a slot release)
            unwound.set()

    with pytest.raises(KeyboardInterrupt):
        run_sync(job())
    assert unwound.is_set(), "KeyboardInterrupt came before the task's clean-up finished"


def test_interrupting_a_running_step_of_iterate_sync_closes_the_generator_cleanly() -> None:
    # Item 1 (issue 14): this ended with "RuntimeError: aclose(): asynchronous generator is
    # already running" instead of KeyboardInterrupt.
    closed = threading.Event()

    async def items() -> AsyncIterator[int]:
        try:
            yield 1
            ctrl_c()
            await asyncio.sleep(60)  # waiting for the next item when Ctrl-C comes
            yield 2
        finally:
            await asyncio.sleep(0.05)
            closed.set()

    iterator = iterate_sync(items())
    assert next(iterator) == 1
    with pytest.raises(KeyboardInterrupt):
        next(iterator)
    assert closed.is_set()


def test_breaking_out_of_iterate_sync_closes_the_generator() -> None:
    closed = threading.Event()

    async def items() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            closed.set()

    for item in iterate_sync(items()):
        if item == 3:
            break
    assert closed.is_set()


def test_a_task_that_ignores_cancellation_cannot_keep_ctrl_c_from_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_runner, "UNWIND_TIMEOUT", 0.2)
    release = asyncio.Event()
    loop = _runner._background_loop()

    async def stubborn() -> AsyncIterator[int]:
        ctrl_c()
        while True:
            try:
                await release.wait()
                break
            except asyncio.CancelledError:
                continue  # swallowed: a badly behaved library
        yield 1

    with pytest.raises(KeyboardInterrupt):  # not RuntimeError, and not a hang
        next(iterate_sync(stubborn()))
    loop.call_soon_threadsafe(release.set)  # let it go, so it does not outlive the test


def test_a_generator_collected_on_the_loop_thread_is_closed_there() -> None:
    # Garbage collection can finalise an abandoned iterator on the loop thread, which must not
    # block on itself (the old close waited on the loop from the loop: a deadlock).
    closed = threading.Event()

    async def items() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
        finally:
            closed.set()

    iterator = iterate_sync(items())
    assert next(iterator) == 0
    cycle: list[object] = [iterator]
    cycle.append(cycle)  # only the cycle collector frees it, wherever it runs next
    del iterator, cycle

    async def collect() -> None:
        gc.collect()
        await asyncio.sleep(0)

    run_sync(collect())
    assert closed.wait(5)
