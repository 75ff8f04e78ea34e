"""Several event loops in one process: repeated ``asyncio.run`` and the sync API, interleaved.

litellm binds process-wide state to the loop that used it last; llmp runs every litellm call on
one loop of its own, so callers' loops come and go without "bound to a different event loop"
errors, dropped log coroutines or orphaned tasks.
"""

import asyncio
import gc
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from llmp.testing import slow
from llmp_litellm import _loops
from llmp_litellm.testing import FakeAnthropicServer


async def _tasks_on_litellms_loop() -> list[str]:
    """Where each pending task's coroutine is defined (a file path)."""
    current = asyncio.current_task()
    coros = [task.get_coro() for task in asyncio.all_tasks() if task is not current]
    return [getattr(getattr(coro, "cr_code", None), "co_filename", repr(coro)) for coro in coros]


def test_repeated_asyncio_run_and_sync_calls(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    llm = make_llm()

    async def session(i: int) -> tuple[str, str, set[asyncio.Task[Any]]]:
        reply = await llm.achat(f"call {i}")
        streamed = "".join([piece async for piece in llm.astream(f"stream {i}")])
        # Nothing of litellm's (or ours) may be left running on the caller's loop.
        return reply, streamed, asyncio.all_tasks() - {asyncio.current_task()}

    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [asyncio.run(session(i)) for i in range(3)]
        sync_reply = llm.chat("sync")
        results += [asyncio.run(session(i)) for i in range(3, 5)]
        del session
        gc.collect()  # orphaned tasks and never-awaited coroutines report when collected

    assert [(reply, streamed) for reply, streamed, _ in results] == [
        (f"Echo: call {i}", f"Echo: stream {i}") for i in range(5)
    ]
    assert sync_reply == "Echo: sync"
    assert [leftover for _, _, leftover in results] == [set()] * 5
    assert fake_anthropic.request_count == 11
    bad = [w for w in caught if issubclass(w.category, RuntimeWarning | ResourceWarning)]
    assert not bad, [str(w.message) for w in bad]
    # "Task was destroyed but it is pending!" and unclosed sessions are logged by asyncio.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # litellm's own loop keeps only litellm's logging work; none of our coroutines linger there.
    left = asyncio.run_coroutine_threadsafe(_tasks_on_litellms_loop(), _loops.litellm_loop()).result(10)
    assert not [path for path in left if "llmp" in Path(path).parent.name], left


def test_cancelling_the_caller_cancels_the_call(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    arrived = threading.Event()

    def arrive(body: Any) -> bool:  # runs on the server when the request gets there
        arrived.set()
        return True

    fake_anthropic.inject(slow(30), when=arrive)
    llm = make_llm()

    async def cancel_once_at_the_server() -> None:
        task = asyncio.ensure_future(llm.achat("x"))
        assert await asyncio.to_thread(arrived.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_once_at_the_server())
    # The cancellation crossed over to litellm's loop, which dropped the connection: the server
    # sees the client leave long before the 30 s answer.
    assert fake_anthropic.wait_idle(10)
