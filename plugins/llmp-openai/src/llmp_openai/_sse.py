"""The ``data:`` payloads of OpenAI's SSE byte stream (to be replaced by `llmp.wire`'s decoder)."""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    """The ``data:`` payloads of an SSE byte stream, fed as the bytes arrive; ``done`` at ``[DONE]``.

    OpenAI sends one ``data:`` line per event, so an event is a line; comments and ``event:``
    lines are skipped. A plain object fed from the client's own read loop rather than an async
    generator: on a streamed request every event would otherwise pass through one more generator
    frame. A stream that ends before ``[DONE]`` is truncated, and the caller must say so.
    """

    __slots__ = ("_buffer", "done")

    def __init__(self) -> None:
        self._buffer = b""
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by ``data`` (none once ``done``)."""
        buffer = self._buffer + data if self._buffer else data
        if b"\n" not in data or self.done:
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        payloads = []
        for line in lines:
            if line[:5] != b"data:":
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            payloads.append(payload)
        return payloads
