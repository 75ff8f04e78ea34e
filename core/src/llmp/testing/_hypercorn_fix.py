"""Workaround for hypercorn 0.18: a closed HTTP/2 connection strands handlers waiting to send.

When a connection closes, hypercorn's ``H2Protocol`` closes its streams and stops its send task,
but leaves each stream's ``StreamBuffer`` open. A handler whose reply was still in a buffer (the
client had stopped reading, say a killed process with a full flow-control window) then waits in
``StreamBuffer.drain()`` (or ``push()``) forever: its task never ends, and the fake servers count
it "in flight" for the rest of the session. Closing those buffers is what hypercorn already does
for one stream that closes while sending (``_send_data``); this does it for all of them when the
connection goes. Regression test: core/tests/test_fake_server_vanished_client.py.
"""

from __future__ import annotations

from typing import Any

_PATCHED = "_llmp_closes_buffers"


def close_buffers_of_closed_connections() -> None:
    """Patch ``hypercorn.protocol.h2.H2Protocol.handle`` once (idempotent)."""
    from hypercorn.events import Closed
    from hypercorn.protocol.h2 import H2Protocol

    if getattr(H2Protocol.handle, _PATCHED, False):
        return
    handle = H2Protocol.handle

    async def handle_then_release(self: Any, event: Any) -> None:
        await handle(self, event)
        if isinstance(event, Closed):
            buffers = list(self.stream_buffers.values())
            self.stream_buffers.clear()
            for buffer in buffers:
                await buffer.close()  # wakes drain() and push(); later sends find no buffer

    setattr(handle_then_release, _PATCHED, True)
    H2Protocol.handle = handle_then_release  # type: ignore[method-assign]
