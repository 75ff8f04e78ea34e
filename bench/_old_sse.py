"""The two SSE parsers the plugins carried before `llmp.wire.SSEDecoder` replaced them, kept
as they were (llmp-openai's ``_sse.SSEParser``, llmp-gemini's ``_responses.SSEEvents``) so that
bench/sse.py can still compare against them."""

from __future__ import annotations

__all__ = ["SSEEvents", "SSEParser"]


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


class SSEEvents:
    """The events of an SSE byte stream, fed as the bytes arrive (a plain object, not another
    async generator each event would pass through). An event is its ``data:`` lines joined, ended
    by a blank line; Gemini sends one JSON object per event and ends the stream by closing it."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if b"\n" not in data:
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        events: list[bytes] = []
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
            elif line[:5] == b"data:":
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
        return events

    def close(self) -> list[bytes]:
        """What is left when the stream ends (a last event without its blank line)."""
        if self._buffer.strip():
            self.feed(b"\n")
        return [b"\n".join(self._data)] if self._data else []
