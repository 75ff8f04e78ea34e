"""Clients live as long as they are needed: closed with their LLM, their loop and the process."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llmp
from llmp.testing import FunctionClient

MakeLLM = Callable[..., Any]


def test_close_and_the_context_managers_close_the_client(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x")
    llm.chat("hi")
    assert client.closed == 0
    llm.close()
    assert client.closed == 1
    with make_llm(client)[0] as other:
        other.chat("hi")
    assert client.closed == 2

    async def main() -> None:
        async with make_llm(client)[0] as third:
            await third.achat("hi")

    asyncio.run(main())
    assert client.closed == 3


def test_a_client_shared_by_two_llms_is_closed_when_the_last_one_closes(make_llm: MakeLLM) -> None:
    client = FunctionClient(lambda r: "x")
    registry = client.registry()
    a = llmp.LLM("test/m", registry=registry, cache=False)
    b = llmp.LLM("test/m", registry=registry, cache=False)
    a.chat("hi")
    b.chat("hi")
    assert registry.clients.alive() == 1
    a.close()
    assert client.closed == 0
    b.chat("still works")
    b.close()
    assert client.closed == 1
    assert registry.clients.alive() == 0


def test_repeated_asyncio_run_closes_each_loop_s_client_and_keeps_nothing(make_llm: MakeLLM) -> None:
    # Issue 15 item 5: one socket and one event loop leaked per asyncio.run.
    client = FunctionClient(lambda r: "x")
    registry = client.registry()
    llm = llmp.LLM("test/m", registry=registry, cache=False)
    runs = 1000
    for _ in range(runs):
        asyncio.run(llm.agenerate(["hi"]))
    gc.collect()
    assert client.closed == runs, "every loop's client was closed when its loop ended"
    assert registry.clients.loops() <= 1
    assert len(llm._engine.sender._limiters) <= 1
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_closed()]
    assert len(loops) <= 2, f"{len(loops)} closed event loops are still alive"


def test_clients_on_llmp_s_own_loop_are_closed_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(
        textwrap.dedent(
            """
            import llmp
            from llmp.testing import FunctionClient

            class Noisy(FunctionClient):
                async def aclose(self):
                    print("closed at exit", flush=True)

            client = Noisy(lambda r: "x")
            llm = llmp.LLM("test/m", registry=client.registry(), cache=False)
            print(llm.chat("hi"), flush=True)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.split() == ["x", "closed", "at", "exit"], out.stdout + out.stderr
    assert out.returncode == 0
