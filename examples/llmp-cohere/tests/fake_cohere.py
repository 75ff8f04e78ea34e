"""A fake of Cohere's v2 Chat API, built on `llmp.testing.BackgroundServer` (TLS, HTTP/2 + 1.1).

Everything a provider plugin's tests need from a fake: the real wire format (JSON answers, the
SSE event stream, ``{"message": ...}`` error bodies, ``retry-after``), bearer-key checks, a
record of every request (with the negotiated HTTP version), and fault injection with
`llmp.testing.StatusError`, rendered in Cohere's error shape. The reply echoes the last user
message, so tests can predict it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from llmp.testing import BackgroundServer, StatusError

Send = Callable[[dict[str, Any]], Any]
# Cohere adds tokens of its own prompt template; it reports them in `tokens` but does not bill them.
TEMPLATE_TOKENS = 8


@dataclass(slots=True)
class Record:
    method: str
    path: str
    http_version: str
    headers: dict[str, str]
    body: Any


class FakeCohereServer:
    def __init__(self) -> None:
        self.api_key = "co-test-" + secrets.token_hex(12)
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._faults: list[list[Any]] = []  # [fault, remaining times or None]
        self._count = 0
        self._server = BackgroundServer(self)

    # -- what tests use ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.origin

    @property
    def ca_path(self) -> Path:
        return self._server.tls.ca_path

    @property
    def requests(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._count

    def inject(self, fault: StatusError, *, times: int | None = 1) -> None:
        """Answer the next `times` chat requests (None: all of them) with `fault`."""
        with self._lock:
            self._faults.append([fault, times])

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._faults.clear()
            self._count = 0

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.stop()

    # -- the ASGI app -----------------------------------------------------------------------

    def _take_fault(self) -> StatusError | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.pop(0)
            fault: StatusError = entry[0]
            return fault

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._records.append(Record(scope["method"], scope["path"], scope["http_version"], headers, body))
            self._count += 1
        await self._answer(scope, headers, body, send)

    async def _answer(self, scope: dict[str, Any], headers: dict[str, str], body: Any, send: Send) -> None:
        if scope["method"] != "POST" or scope["path"] != "/v2/chat":
            return await _json(send, 404, {"message": f"no route for {scope['method']} {scope['path']}"})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return await _json(send, 401, {"message": "invalid api token"})
        fault = self._take_fault()
        if fault is not None:
            extra = (
                [(b"retry-after", str(fault.retry_after).encode())] if fault.retry_after is not None else []
            )
            return await _json(send, fault.status, {"message": fault.error_fields()[0]}, extra)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body.get("messages"):
            return await _json(send, 400, {"message": "invalid request: model and messages are required"})
        last = body["messages"][-1]["content"]
        prompt = last if isinstance(last, str) else "".join(p.get("text", "") for p in last)
        reply = f"Echo: {prompt}"
        words_in = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        usage = {
            "billed_units": {"input_tokens": words_in, "output_tokens": len(reply.split())},
            "tokens": {"input_tokens": words_in + TEMPLATE_TOKENS, "output_tokens": len(reply.split())},
        }
        if body.get("stream"):
            return await _stream(send, reply, usage)
        answer = {
            "id": secrets.token_hex(8),
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": reply}]},
            "usage": usage,
        }
        return await _json(send, 200, answer)


async def _json(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


async def _stream(send: Send, reply: str, usage: dict[str, Any]) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    words = reply.split(" ")
    pieces = [words[0], *(" " + w for w in words[1:])]
    events = [
        _event("message-start", {"id": secrets.token_hex(8), "delta": {"message": {"role": "assistant"}}}),
        _event(
            "content-start", {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
        ),
        *(
            _event("content-delta", {"index": 0, "delta": {"message": {"content": {"text": p}}}})
            for p in pieces
        ),
        _event("content-end", {"index": 0}),
        _event("message-end", {"delta": {"finish_reason": "COMPLETE", "usage": usage}}),
    ]
    for chunk in events:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
