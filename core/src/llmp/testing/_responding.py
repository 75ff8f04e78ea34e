"""Writing a fake's reply to the ASGI `send`: whole, step by step, or broken on purpose.

Every provider's fake renders its own bytes (JSON bodies, SSE events) and hands them here, so
how a reply is paced, how a client leaving mid-stream stops it, and what a broken stream looks
like on the wire are decided once for all of them.
"""

from __future__ import annotations

from typing import Protocol

from llmp.testing._faults import MalformedChunk, ResetMidStream, StreamFault, TruncatedStream
from llmp.testing._server import Send, reset_stream
from llmp.testing._waits import pause

__all__ = ["respond", "send_broken", "send_steps"]

Headers = list[tuple[bytes, bytes]]


class Answered(Protocol):
    """What a fake's request record needs here: the status it got and its HTTP version."""

    status: int | None
    http_version: str


async def respond(
    record: Answered, send: Send, status: int, headers: Headers, body: bytes, more_body: bool = False
) -> None:
    """The whole reply in one write (or its start, with ``more_body``)."""
    record.status = status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": more_body})


async def send_steps(
    record: Answered, send: Send, headers: Headers, steps: list[bytes], token_delay: float
) -> None:
    """One write per step, `token_delay` apart; stops when the client leaves, as a real server does."""
    record.status = 200
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    last = len(steps) - 1
    for i, step in enumerate(steps):
        if i and not await pause(send, token_delay):
            return  # the client left mid-stream: stop generating
        await send({"type": "http.response.body", "body": step, "more_body": i < last})


async def send_broken(
    record: Answered, send: Send, headers: Headers, head: bytes, fault: StreamFault, *, malformed: bytes
) -> None:
    """`head` (the reply's first part), then the break `fault` asks for: a reset, the end of the
    body too early, or `malformed` (the provider's broken event, or a body that is not JSON)."""
    if isinstance(fault, ResetMidStream):
        await respond(record, send, 200, headers, head, more_body=True)
        if record.http_version == "1.1":
            return  # returning mid-body makes hypercorn close the connection: the HTTP/1.1 "reset"
        await reset_stream(send)
    elif isinstance(fault, TruncatedStream):
        await respond(record, send, 200, headers, head)
    elif isinstance(fault, MalformedChunk):
        await respond(record, send, 200, headers, malformed)
