"""Server-sent events, decoded incrementally from the bytes of a streamed response.

The decoder follows the WHATWG rules (LF, CR and CRLF line ends, ``:`` comments, ``data:`` with or
without its space, ``event:``, ``id:``, ``retry:``, a leading BOM) and keeps every cost linear:
a line that arrives over many reads is kept as a list of pieces and joined once, when its end
arrives (joining on every read made one 32 MB line take ~20 s). It is a plain object fed from
the client's own read loop, not another async generator each event passes through, and it is on
the hot path of every streamed delta: reads of whole single-``data:``-line events (OpenAI's and
Gemini's shape, LF or CRLF) take a fast path, one event per read without splitting at all
(bench/sse.py: faster per event than the parsers it replaces).
"""

from __future__ import annotations

import sys
from itertools import repeat
from typing import NamedTuple

from llmp.errors import MalformedResponseError

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent(NamedTuple):
    """One event: its ``data`` (the ``data:`` lines joined with ``"\n"``), its ``event`` type
    (``"message"`` unless the stream named one) and ``id`` (the last ``id:`` the stream sent,
    which carries over to later events as the spec says, or None).

    A named tuple: the decoder builds one per streamed delta, and tuples are the cheapest object
    to build in bulk (bench/sse.py).
    """

    data: str
    event: str = "message"
    id: str | None = None


# Builds events without the named tuple's Python-level __new__ (a third of the cost per event).
_new = tuple.__new__


class SSEDecoder:
    """Feed it the body's bytes as they arrive; it returns the events each read completed.

    ``max_event_size`` (bytes) bounds one event (its data plus a line still being received):
    past it `feed` raises `MalformedResponseError` instead of buffering without end. ``sentinel``
    is a ``data`` value that ends the stream (OpenAI's ``"[DONE]"``): it is not returned, `done`
    becomes True, and everything after it is ignored. ``provider`` names the provider in errors.

    ```python
    decoder = SSEDecoder(sentinel="[DONE]")
    async for data in response.aiter_raw():
        for event in decoder.feed(data):
            handle(json.loads(event.data))
    events = decoder.close()  # a last event without its blank line
    if not decoder.done: ...  # the stream was cut before [DONE]
    ```
    """

    __slots__ = (
        "_clean",
        "_data",
        "_data_size",
        "_event",
        "_fast_max",
        "_last_id",
        "_max",
        "_pending",
        "_pending_size",
        "_sentinel",
        "_skip_lf",
        "_started",
        "done",
        "provider",
        "retry",
    )

    def __init__(
        self, *, max_event_size: int | None = None, sentinel: str | None = None, provider: str = ""
    ) -> None:
        if max_event_size is not None and max_event_size < 1:
            raise ValueError(f"max_event_size must be a positive number of bytes, not {max_event_size!r}")
        self.provider = provider
        #: True once the `sentinel` event arrived; everything after it is ignored.
        self.done = False
        #: The reconnection time (ms) the stream asked for with ``retry:``, if it did.
        self.retry: int | None = None
        self._max = max_event_size
        self._sentinel = sentinel
        self._pending: list[bytes] = []  # pieces of a line whose end has not arrived
        self._pending_size = 0
        self._data: list[bytes] = []  # the current event's data lines
        self._data_size = 0
        self._event: str | None = None
        self._last_id: str | None = None
        self._skip_lf = False  # the last read ended in CR: a LF first in the next one is its pair
        self._started = False  # the BOM check is done
        # Nothing carried over from earlier reads (no line, event, CR or BOM check pending): the
        # next read may take the fast path. Recomputed by every read that does not take it.
        self._clean = False
        # The longest single-event read the fast path takes: ``data: `` + max_event_size + LFLF.
        self._fast_max = max_event_size + 8 if max_event_size is not None else sys.maxsize

    # ----- feeding -----

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """The events completed by ``data`` (none once `done`)."""
        if self._clean and data[:6] == b"data: " and (size := len(data)) <= self._fast_max:
            # One whole single-line event per read, LF or CRLF: how a live stream arrives.
            value = None
            if data[-2:] == b"\n\n":
                if data.find(b"\n") == size - 2 and data.find(b"\r") < 0:
                    value = data[6:-2]
            elif data[-4:] == b"\r\n\r\n" and data.find(b"\r") == size - 4 and data.find(b"\n") == size - 3:
                value = data[6:-4]
            if value is not None:
                text = value.decode("utf-8", "replace")
                if text != self._sentinel:
                    return [_new(ServerSentEvent, (text, "message", self._last_id))]
                self.done = True
                self._clean = False
                return []
        try:
            return self._feed(data)
        finally:
            self._clean = self._started and not (
                self._pending or self._data or self._event or self._skip_lf or self.done
            )

    def _feed(self, data: bytes) -> list[ServerSentEvent]:
        if self.done or not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        # Everything up to the last line end is complete; what follows waits for its end.
        newline = data.rfind(b"\n")
        cr = data.rfind(b"\r", newline + 1)
        cut = (cr if cr > newline else newline) + 1
        if not cut:
            if data:
                self._hold(data)
            return []
        if cr == len(data) - 1:
            self._skip_lf = True  # a LF that starts the next read belongs to this CR
        chunk = self._complete(data if cut == len(data) else data[:cut])
        events = None
        if not self._data and self._event is None and chunk[:6] == b"data: ":
            events = self._whole_events(chunk)
        if events is None:
            events = self._lines(chunk)
        if cut != len(data) and not self.done:
            self._hold(data[cut:])
        return events

    def close(self) -> list[ServerSentEvent]:
        """The event the stream ended in the middle of (a last event without its blank line).

        Strict SSE drops it; providers that end streams by closing them (Gemini) need it.
        """
        if self.done:
            return []
        events: list[ServerSentEvent] = []
        if self._pending:
            events = self._lines(self._complete(b"\n"))
        if self._data and not self.done:
            event = self._dispatch()
            if event is not None:
                events.append(event)
        return events

    # ----- internals -----

    def _complete(self, chunk: bytes) -> bytes:
        """``chunk`` (ending in a line end) after the pending start of its first line, joined
        once; without the stream's leading BOM."""
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
        if not self._started:
            self._started = True
            chunk = chunk.removeprefix(_BOM)
        return chunk

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._max is not None and self._pending_size + self._data_size > self._max:
            self._too_big()

    def _too_big(self) -> None:
        self._pending = []
        self._data = []
        self._data_size = 0
        raise MalformedResponseError(
            f"a server-sent event is larger than max_event_size ({self._max} bytes)", provider=self.provider
        )

    def _whole_events(self, chunk: bytes) -> list[ServerSentEvent] | None:
        """The fast path: ``chunk`` is whole events of one ``data: `` line each (OpenAI's and
        Gemini's shape), LF or CRLF; None if it is anything else.

        One decode and one split for the whole chunk, and one check per event that its data
        holds no other line, instead of a pass over every line.
        """
        if chunk.endswith(b"\n\n") and chunk.find(b"\r") < 0:
            separator = "\n\ndata: "
            end = -2
        elif chunk.endswith(b"\r\n\r\n"):
            separator = "\r\n\r\ndata: "
            end = -4
        else:
            return None
        values = chunk.decode("utf-8", "replace").split(separator)
        values[0] = values[0][6:]
        values[-1] = values[-1][:end]
        joined = "".join(values)
        if "\n" in joined or (end == -4 and "\r" in joined):
            return None  # an event with more than its one data line
        if self._max is not None and max(map(len, values)) > self._max:
            self._too_big()
        sentinel = self._sentinel
        if sentinel is not None and sentinel in values:
            self.done = True
            del values[values.index(sentinel) :]
        return list(map(_new, repeat(ServerSentEvent), zip(values, repeat("message"), repeat(self._last_id))))

    def _lines(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events of ``chunk``, which ends with a line end (LF, CR or CRLF), line by line."""
        events: list[ServerSentEvent] = []
        for line in chunk.splitlines():  # bytes split on exactly SSE's three line ends
            if not line:
                if self._data:
                    event = self._dispatch()
                    if event is None:
                        return events  # the sentinel: the stream is over
                    events.append(event)
                else:
                    self._event = None
            elif line[:6] == b"data: ":
                self._add_data(line[6:])
            elif line[:1] != b":":  # a comment otherwise
                self._field(line)
        return events

    def _add_data(self, value: bytes) -> None:
        self._data.append(value)
        self._data_size += len(value) + 1
        if self._max is not None and self._data_size > self._max:
            self._too_big()

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self.retry = int(value)
        # Any other field (or an id with a NUL, a retry that is not digits) is ignored.

    def _dispatch(self) -> ServerSentEvent | None:
        """The event the blank line ends; None (and `done`) if it is the sentinel."""
        parts = self._data
        data = (parts[0] if len(parts) == 1 else b"\n".join(parts)).decode("utf-8", "replace")
        event = self._event or "message"
        self._data = []
        self._data_size = 0
        self._event = None
        if data == self._sentinel:
            self.done = True
            return None
        return _new(ServerSentEvent, (data, event, self._last_id))
