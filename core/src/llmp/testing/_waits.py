"""Waits inside a fake's request handler that end early when the client goes away.

A real server stops generating when its client leaves, and answering a connection that closed
during a wait would block in hypercorn's HTTP/2 code forever; every fake waits through these.
"""

from __future__ import annotations

import asyncio

from llmp.testing._server import Receive, Send, client_gone

__all__ = ["pause", "wait_unless_gone"]


async def pause(send: Send, seconds: float) -> bool:
    """Sleep, then say whether the client is still there to answer.

    Answering a connection that closed during the sleep would block in hypercorn's HTTP/2 code
    forever (the request would stay counted in flight), and a real server stops generating when
    the client leaves. A plain sleep plus an attribute check costs far less per request than a
    task watching for ``http.disconnect``, which matters at high concurrency.
    """
    await asyncio.sleep(seconds)
    return not client_gone(send)


async def wait_unless_gone(receive: Receive, seconds: float, wake: asyncio.Event) -> bool:
    """Wait ``seconds`` or until ``wake`` is set (a reset); False if the client left first."""

    async def disconnected() -> None:
        # The body has been read, so the only message left to come is the disconnect.
        while (await receive())["type"] != "http.disconnect":
            pass

    gone = asyncio.ensure_future(disconnected())
    woken = asyncio.ensure_future(wake.wait())
    try:
        done, _ = await asyncio.wait((gone, woken), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        woken.cancel()
    return gone not in done
