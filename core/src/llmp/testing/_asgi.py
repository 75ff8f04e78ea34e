"""The ASGI plumbing every fake server needs before its own wire: lifespan, body, headers."""

from __future__ import annotations

from llmp.testing._server import Receive, Scope, Send

__all__ = ["headers_of", "read_body", "serve_lifespan"]


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer hypercorn's lifespan startup and shutdown (a fake has nothing to set up)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes | None:
    """The request's whole body, or None if the client left before sending it all."""
    message = await receive()
    if message["type"] == "http.disconnect":
        return None
    raw: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return raw  # one frame, the common case: no copy
    # Large bodies arrive in frames; collect them without quadratic concatenation.
    parts = bytearray(raw)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts += message.get("body", b"")
    return bytes(parts)


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case, as ASGI gives them) name; the last of repeats wins."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
