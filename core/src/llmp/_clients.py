"""Plugin clients: one per (settings, event loop), reused, and closed when nobody needs them.

A client holds connection pools bound to the loop it first ran on, so each loop gets its own.
Three things end a client:

- its owners close: `LLM.close()` / `aclose()` (and leaving ``with LLM(...)``) release the
  clients that LLM used; one shared with another open LLM stays until that one closes too;
- its loop ends: ``asyncio.run`` (and any runner that calls ``loop.shutdown_asyncgens()``)
  closes every client of that loop before the loop closes. Without this, each
  ``asyncio.run(llm.agenerate(...))`` leaked a connection and kept the dead loop alive (the
  client referenced it), growing sockets and memory without bound;
- the interpreter exits: clients on loops still running (llmp's own sync loop) are closed.

How the loop's end is noticed: the pool parks one async generator on each loop. The loop
finalises its async generators when it shuts down, which runs the generator's ``finally`` on
that loop, while it can still await each client's `aclose`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncGenerator, Callable

from llmp.types import Client, ClientSettings

__all__ = ["ClientPool"]

_log = logging.getLogger("llmp.clients")
_EXIT_TIMEOUT = 5.0


class _LoopClients:
    """The clients of one loop, who uses each, and the generator that notices the loop's end."""

    __slots__ = ("clients", "loop", "owners", "watcher")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop: weakref.ref[asyncio.AbstractEventLoop] = weakref.ref(loop)
        self.clients: dict[ClientSettings, Client] = {}
        self.owners: dict[ClientSettings, set[int]] = {}
        self.watcher: AsyncGenerator[None, None] | None = None


async def _close(clients: list[Client]) -> None:
    for client in clients:
        try:
            await client.aclose()
        except Exception:  # a plugin bug in aclose must not stop the others from closing
            _log.warning("closing %r failed", client, exc_info=True)


class ClientPool:
    """Clients by (loop, settings); see the module docstring for when they are closed."""

    def __init__(self, factory: Callable[[ClientSettings], Client]) -> None:
        self._factory = factory
        self._loops: dict[int, _LoopClients] = {}
        self._probes: dict[ClientSettings, Client] = {}
        self._lock = threading.Lock()
        _POOLS.add(self)

    def get(self, settings: ClientSettings, owner: object | None = None) -> Client:
        """The client for `settings` on the running loop (built on first use)."""
        loop = asyncio.get_running_loop()
        record = self._loops.get(id(loop))
        if record is None or record.loop() is not loop:
            record = self._new_record(loop)
        client = record.clients.get(settings)
        if client is None:
            client = record.clients[settings] = self._factory(settings)
        if owner is not None:
            owners = record.owners.get(settings)
            if owners is None:
                owners = record.owners[settings] = set()
            owners.add(id(owner))
        return client

    def probe(self, settings: ClientSettings) -> Client:
        """A client for asking what it can do (`capabilities`, `effective_params`), with or
        without a running loop: one already built on any loop, else one kept for that alone
        (it never sends a request, so it holds no connection)."""
        for record in list(self._loops.values()):
            client = record.clients.get(settings)
            if client is not None:
                return client
        client = self._probes.get(settings)
        if client is None:
            with self._lock:
                client = self._probes.get(settings)
                if client is None:
                    client = self._probes[settings] = self._factory(settings)
        return client

    def _new_record(self, loop: asyncio.AbstractEventLoop) -> _LoopClients:
        with self._lock:
            self._sweep()
            record = self._loops[id(loop)] = _LoopClients(loop)
        watcher = self._watch(id(loop), record)
        # Step the generator to its `yield` now, synchronously: the first step registers it with
        # the running loop (asyncio's firstiter hook), which finalises it at shutdown.
        with contextlib.suppress(StopIteration):
            watcher.asend(None).send(None)
        record.watcher = watcher
        return record

    async def _watch(self, key: int, record: _LoopClients) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._loops.get(key) is record:
                    del self._loops[key]
            clients, record.clients, record.owners = list(record.clients.values()), {}, {}
            await _close(clients)

    def _sweep(self) -> None:
        # Loops closed without shutting down their async generators: nothing can be awaited on
        # them any more, so only drop the references (the sockets close as they are collected).
        for key, record in list(self._loops.items()):
            loop = record.loop()
            if loop is None or loop.is_closed():
                del self._loops[key]

    async def release(self, owner: object) -> None:
        """`owner` is done: close every client no other owner uses, each on its own loop."""
        me = id(owner)
        here = asyncio.get_running_loop()
        elsewhere: list[asyncio.Future[None]] = []
        for record in list(self._loops.values()):
            loop = record.loop()
            done = []
            for settings, owners in list(record.owners.items()):
                if me in owners:
                    owners.discard(me)
                    if not owners:
                        del record.owners[settings]
                        client = record.clients.pop(settings, None)
                        if client is not None:
                            done.append(client)
            if not done or loop is None or loop.is_closed():
                continue
            if loop is here:
                await _close(done)
            elif loop.is_running():
                elsewhere.append(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_close(done), loop)))
        if elsewhere:
            await asyncio.gather(*elsewhere, return_exceptions=True)

    def close_running(self) -> None:
        """At exit: close the clients of loops still running in other threads (llmp's sync loop)."""
        for record in list(self._loops.values()):
            loop = record.loop()
            if loop is None or loop.is_closed() or not loop.is_running() or not record.clients:
                continue
            clients, record.clients = list(record.clients.values()), {}
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_close(clients), loop).result(_EXIT_TIMEOUT)

    def alive(self, provider: str | None = None) -> int:
        """Clients alive on every loop, of `provider` or of all (for tests and diagnostics)."""
        return sum(
            1
            for record in list(self._loops.values())
            for settings in list(record.clients)
            if provider is None or settings.provider == provider
        )

    def count(self) -> int:
        """Clients alive, on every loop (for tests and diagnostics)."""
        return sum(len(record.clients) for record in self._loops.values())

    def loops(self) -> int:
        """Loops this pool holds clients for."""
        return len(self._loops)


_POOLS: weakref.WeakSet[ClientPool] = weakref.WeakSet()


def _close_at_exit() -> None:
    for pool in list(_POOLS):
        pool.close_running()


atexit.register(_close_at_exit)
