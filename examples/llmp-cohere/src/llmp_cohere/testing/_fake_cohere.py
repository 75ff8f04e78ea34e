"""A fake of Cohere's v2 Chat API, built on `llmp.testing.BackgroundServer` (TLS, HTTP/2 + 1.1).

It ships in the plugin (``llmp_cohere.testing``), as llmp's own plugins ship theirs, so the
plugin's users can test their code against Cohere's wire too.

Everything a provider plugin's tests need from a fake: the real wire format (JSON answers, the
SSE event stream, ``{"message": ...}`` error bodies, ``retry-after``), bearer-key checks, a
record of every request (with the negotiated HTTP version), and fault injection with
`llmp.testing.StatusError` (rendered in Cohere's error shape) and `llmp.testing.EmptyAnswer`.
What it answers follows the rules every llmp fake shares (`llmp.testing.plan_answer`): the last
user message echoed, tool calls when tools are offered, JSON for an output schema, thinking when
asked, rendered in Cohere's own JSON and SSE events.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmp.testing import (
    BackgroundServed,
    BackgroundServer,
    EmptyAnswer,
    Plan,
    StatusError,
    headers_of,
    plan_answer,
    read_body,
    serve_lifespan,
)

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


class FakeCohereServer(BackgroundServed):
    """The fake: `BackgroundServed` gives it ``start``/``stop``, the context manager, `base_url`
    (the origin: the plugin appends ``/v2/chat``) and `ca_path`."""

    def __init__(self) -> None:
        self.api_key = "co-test-" + secrets.token_hex(12)
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._faults: list[list[Any]] = []  # [fault, remaining times or None]
        self._count = 0
        self._server = BackgroundServer(self)

    # -- what tests use ---------------------------------------------------------------------

    @property
    def requests(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._count

    def inject(self, fault: StatusError | EmptyAnswer, *, times: int | None = 1) -> None:
        """Answer the next `times` chat requests (None: all of them) with `fault`."""
        with self._lock:
            self._faults.append([fault, times])

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._faults.clear()
            self._count = 0

    # -- the ASGI app -----------------------------------------------------------------------

    def _take_fault(self) -> StatusError | EmptyAnswer | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.pop(0)
            fault: StatusError | EmptyAnswer = entry[0]
            return fault

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        raw = await read_body(receive)
        if raw is None:
            return  # the client left before sending its request
        headers = headers_of(scope)
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
        if isinstance(fault, StatusError):
            extra = (
                [(b"retry-after", str(fault.retry_after).encode())] if fault.retry_after is not None else []
            )
            return await _json(send, fault.status, {"message": fault.error_fields()[0]}, extra)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body.get("messages"):
            return await _json(send, 400, {"message": "invalid request: model and messages are required"})
        plan = _plan(body)
        words_in = sum(len(_text(m.get("content")).split()) for m in body["messages"])
        words_out = len(plan.text.split()) + len(plan.tool_calls) + len((plan.reasoning or "").split())
        usage = {
            "billed_units": {"input_tokens": words_in, "output_tokens": words_out},
            "tokens": {"input_tokens": words_in + TEMPLATE_TOKENS, "output_tokens": words_out},
        }
        if isinstance(fault, EmptyAnswer):
            plan = Plan(text="")
        finish = "TOOL_CALL" if plan.tool_calls else "COMPLETE"
        if body.get("stream"):
            empty_stream = isinstance(fault, EmptyAnswer) and fault.shape == "done_only"
            return await _stream(send, plan, usage, finish, empty_stream)
        content: list[dict[str, Any]] = []
        if plan.reasoning:
            content.append({"type": "thinking", "thinking": plan.reasoning})
        if plan.text or (isinstance(fault, EmptyAnswer) and fault.shape == "empty"):
            content.append({"type": "text", "text": plan.text})
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if plan.tool_calls:
            message["tool_plan"] = "I will call the tools."
            message["tool_calls"] = _calls(plan)
        if isinstance(fault, EmptyAnswer) and fault.shape in ("null", "no_choices"):
            message.pop("content")
        answer = {"id": secrets.token_hex(8), "finish_reason": finish, "message": message, "usage": usage}
        return await _json(send, 200, answer)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(
        p.get("text", "") for p in content or () if isinstance(p, dict) and p.get("type") == "text"
    )


def _plan(body: dict[str, Any]) -> Plan:
    """What the fake answers, by the rules every llmp fake shares (`llmp.testing.plan_answer`)."""
    messages = body["messages"]
    last = messages[-1]
    users = [m for m in messages if m.get("role") == "user"]
    images = sum(
        1
        for p in (users[-1].get("content") if users else None) or ()
        if isinstance(p, dict) and p.get("type") == "image_url"
    )
    tools = [(t["function"]["name"], t["function"].get("parameters") or {}) for t in body.get("tools") or ()]
    choice = {"REQUIRED": "required", "NONE": "none"}.get(str(body.get("tool_choice")))
    schema = (body.get("response_format") or {}).get("json_schema")
    thinking = (body.get("thinking") or {}).get("type") == "enabled"
    results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
    trailing = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.append(_text(message.get("content")))
    prompt = _text(users[-1].get("content")) if users else ""
    return plan_answer(
        prompt=prompt,
        default_text=f"Echo: {prompt}",
        last_role=str(last.get("role")),
        tool_results=list(reversed(trailing)) or results,
        tools=tools,
        tool_choice=choice,
        schema=schema,
        reasoning=thinking,
        images=images,
    )


def _calls(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{secrets.token_hex(4)}",
            "type": "function",
            "function": {"name": name, "arguments": args},
        }
        for (name, _), args in zip(plan.tool_calls, plan.arguments, strict=True)
    ]


async def _json(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])] if text else []


def _content_events(index: int, kind: str, text: str) -> list[bytes]:
    return [
        _event(
            "content-start", {"index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
        ),
        *(
            _event("content-delta", {"index": index, "delta": {"message": {"content": {kind: p}}}})
            for p in _pieces(text)
        ),
        _event("content-end", {"index": index}),
    ]


async def _stream(send: Send, plan: Plan, usage: dict[str, Any], finish: str, empty: bool) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    events = [
        _event("message-start", {"id": secrets.token_hex(8), "delta": {"message": {"role": "assistant"}}})
    ]
    if not empty:
        if plan.reasoning:
            events += _content_events(0, "thinking", plan.reasoning)
        if plan.text:
            events += _content_events(1 if plan.reasoning else 0, "text", plan.text)
        for index, call in enumerate(_calls(plan)):
            arguments = call["function"]["arguments"]
            start = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append(
                _event("tool-call-start", {"index": index, "delta": {"message": {"tool_calls": start}}})
            )
            # Arguments in fragments of a few characters, as Cohere streams them.
            for i in range(0, len(arguments), 5):
                fragment = {"function": {"arguments": arguments[i : i + 5]}}
                events.append(
                    _event(
                        "tool-call-delta", {"index": index, "delta": {"message": {"tool_calls": fragment}}}
                    )
                )
            events.append(_event("tool-call-end", {"index": index}))
    events.append(_event("message-end", {"delta": {"finish_reason": finish, "usage": usage}}))
    for chunk in events:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
