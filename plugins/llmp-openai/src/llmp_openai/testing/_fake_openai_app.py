"""The fake OpenAI API as an ASGI app: routing, auth, limits, faults and the chat wire.

The hot path (no faults, no delays) does one JSON parse, one render and one body send.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from llmp.testing import headers_of, read_body, serve_lifespan
from llmp.testing._fake_state import RequestRecord, TokenCount
from llmp.testing._faults import (
    EchoKey,
    EmptyAnswer,
    HugeLine,
    Slow,
    StatusError,
    StreamFault,
    Trickle,
)
from llmp.testing._responding import respond, send_broken, send_steps
from llmp.testing._server import CONTROL_PREFIX, Receive, Scope, Send, reset_stream
from llmp.testing._steering import ENDPOINTS, steer
from llmp.testing._waits import pause, wait_unless_gone
from llmp.testing._wire import ErrorResponse, load_json, split_events
from llmp_openai.testing import _openai_wire as wire
from llmp_openai.testing._fake_openai_batch import FakeBatches
from llmp_openai.testing._fake_openai_state import FakeOpenAIState
from llmp_openai.testing._openai_answer import empty_choices, plan_choices, reasoning_words
from llmp_openai.testing._openai_embeddings import embeddings_body
from llmp_openai.testing._openai_errors import (
    echo_key_error,
    rate_limit_headers,
    rate_limit_refusal,
    status_error,
)
from llmp_openai.testing._openai_render import Completion, open_events, stream_steps
from llmp_openai.testing._openai_request import ChatRequest, parse_chat_request

_JSON = (b"content-type", b"application/json")
# Only headers clients use: each one costs the server an HPACK encode and h2 validation per
# response, which adds up at high concurrency.
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_VERSION = (b"openai-version", b"2020-10-01")
_MALFORMED = b"data: {not json\n\n"
_log = logging.getLogger(__name__)


def _padding_event(completion: Completion, size: int) -> bytes:
    """A valid chunk of about ``size`` bytes that adds nothing to the answer (see `HugeLine`)."""
    event = {"id": completion.id, "object": "chat.completion.chunk", "created": completion.created}
    event.update(model=completion.model, choices=[], padding="x" * size)
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def _count(value: TokenCount, body: Mapping[str, Any]) -> int:
    return value(body) if callable(value) else value


class FakeOpenAIApp(FakeOpenAIState):
    """ASGI app speaking OpenAI's chat-completions wire. See ``FakeOpenAIServer`` for the knobs."""

    def __init__(self, **knobs: Any) -> None:
        #: The Files and Batch APIs' state and knobs (``step_seconds``, ``expire_after``...). Set
        #: before the shared state's constructor, which calls `reset`.
        self.batches = FakeBatches()
        super().__init__(**knobs)

    def reset(self) -> None:
        super().reset()
        self.batches.reset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await serve_lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        if raw is None:
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope["method"], path[len(CONTROL_PREFIX) :], raw, send)
            return
        started = time.monotonic()
        record = RequestRecord(
            scope["method"], path, scope["http_version"], headers_of(scope), None, raw, time.time()
        )
        client = scope.get("client")
        record.client_port = client[1] if client else None
        generation = self._begin(record)
        self._next_id += 1  # only the server's loop thread touches this
        request_id = f"{self._id_prefix}{self._next_id:010x}"
        try:
            await self._route(record, request_id, started, receive, send)
        except ErrorResponse as reply:
            headers_out = [
                *reply.headers,
                *self._common(request_id, started),
                *rate_limit_headers(self._limiter.peek()),
            ]
            if not any(name == b"content-type" for name, _ in headers_out):
                headers_out.append(_JSON)
            await respond(record, send, reply.status, headers_out, reply.body)
        except Exception as exc:
            # A broken reply_fn or predicate is a bug in the test: answer 500 saying so (unless the
            # response already started) and log the traceback where pytest shows it.
            _log.exception("fake OpenAI server failed on %s %s", record.method, record.path)
            if record.status is None:
                body = wire.error_body(f"fake server error: {exc!r}", "server_error")
                await respond(record, send, 500, [_JSON, *self._common(request_id, started)], body)
            elif record.http_version != "1.1":
                await reset_stream(send)  # else the client would wait forever for the rest
        finally:
            self._end(generation)

    def _common(self, request_id: str, started: float) -> list[tuple[bytes, bytes]]:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return [
            (b"x-request-id", b"req_" + request_id.encode()),
            (b"openai-processing-ms", b"%d" % elapsed_ms),
            _VERSION,
        ]

    async def _control(self, method: str, name: str, raw: bytes, send: Send) -> None:
        if name in ENDPOINTS:  # faults, knobs and the request log, for a fake in another process
            status, body = steer(self, method, name, raw)
            await send({"type": "http.response.start", "status": status, "headers": [_JSON]})
            await send({"type": "http.response.body", "body": body})
            return
        if name == "reset" and method == "POST":
            self.reset()
        elif not (name == "stats" and method == "GET"):
            await send({"type": "http.response.start", "status": 404, "headers": [_JSON]})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [_JSON]})
        await send({"type": "http.response.body", "body": json.dumps(self.stats()).encode()})

    # ----- the API -----

    def _check_auth(self, record: RequestRecord) -> None:
        if self.api_keys is None:
            return
        value = record.headers.get("authorization", "")
        key = value[7:].strip() if value[:7].lower() == "bearer " else ""
        if key in self.api_keys:
            return
        # The key is never echoed back: error bodies end up in logs.
        message = (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        raise wire.invalid(message, code="invalid_api_key", status=401)

    async def _route(
        self, record: RequestRecord, request_id: str, started: float, receive: Receive, send: Send
    ) -> None:
        if record.method == "POST" and record.path == "/v1/chat/completions":
            self._check_auth(record)
            await self._chat(record, request_id, started, receive, send)
        elif record.method == "GET" and record.path == "/v1/models":
            self._check_auth(record)
            data = [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
                for m in self.models
            ]
            body = json.dumps({"object": "list", "data": data}).encode()
            headers = [_JSON, *self._common(request_id, started), *rate_limit_headers(self._limiter.peek())]
            await respond(record, send, 200, headers, body)
        elif record.method == "POST" and record.path == "/v1/embeddings":
            self._check_auth(record)
            record.body = load_json(record.raw_body)
            fault = self._faults.take(record.body)
            record.fault = fault
            if isinstance(fault, StatusError):
                raise status_error(fault)
            body = embeddings_body(record.body)
            headers = [_JSON, *self._common(request_id, started), *rate_limit_headers(self._limiter.peek())]
            await respond(record, send, 200, headers, body)
        elif record.path.startswith(("/v1/files", "/v1/batches")):
            self._check_auth(record)
            status, content_type, body = self.batches.handle(record, self._complete)
            headers = [(b"content-type", content_type), *self._common(request_id, started)]
            await respond(record, send, status, headers, body)
        else:
            raise wire.invalid(f"Invalid URL ({record.method} {record.path})", status=404)

    async def _chat(
        self, record: RequestRecord, request_id: str, started: float, receive: Receive, send: Send
    ) -> None:
        record.body = load_json(record.raw_body)
        request = parse_chat_request(record.body, self.reasoning_field)
        if self.strict_models and request.model not in self.models:
            raise wire.invalid(
                f"The model `{request.model}` does not exist or you do not have access to it.",
                code="model_not_found",
                status=404,
            )
        fault = self._faults.take(request.body)
        record.fault = fault
        if isinstance(fault, StatusError):
            raise status_error(fault)
        if isinstance(fault, EchoKey):
            raise echo_key_error(fault, record.headers.get("authorization", ""))
        if isinstance(fault, Slow) and not await wait_unless_gone(receive, fault.seconds, self._wake_event()):
            return  # the client gave up; nobody is listening for an answer
        # Read the knobs once: a test may change them while this request is being answered.
        ttft, token_delay = self.ttft, self.token_delay
        completion = self._complete(request, request_id, fault if isinstance(fault, EmptyAnswer) else None)
        admission = self._limiter.admit(completion.usage["total_tokens"])
        if admission.refused is not None:
            raise rate_limit_refusal(admission, request.model, completion.usage["total_tokens"])
        stream_fault = fault if isinstance(fault, StreamFault) else None
        if request.stream:
            steps = stream_steps(completion, include_usage=request.include_usage)
            if ttft > 0 and not await pause(send, ttft):
                return
            headers = [_SSE, *self._common(request_id, started), *rate_limit_headers(admission.budgets)]
            if isinstance(fault, HugeLine):
                steps = [_padding_event(completion, fault.size), *steps]
            if isinstance(fault, Trickle):
                await self._trickle(record, send, headers, b"".join(steps), fault, streaming=True)
            elif stream_fault is not None:
                # A fault always lands before the finish chunks, however late it was asked for.
                cut = min(stream_fault.after_chunks, open_events(completion))
                head, _ = split_events(b"".join(steps), cut)
                await send_broken(record, send, headers, head, stream_fault, malformed=head + _MALFORMED)
            elif token_delay <= 0 or len(steps) == 1:
                # Same bytes as step by step, in one write: far cheaper at high concurrency.
                await respond(record, send, 200, headers, b"".join(steps))
            else:
                await send_steps(record, send, headers, steps, token_delay)
            return
        depth = max((len(c.pieces) for c in completion.choices), default=0)
        wait = ttft + token_delay * max(depth - 1, 0)
        if wait > 0 and not await pause(send, wait):
            return
        headers = [_JSON, *self._common(request_id, started), *rate_limit_headers(admission.budgets)]
        body = completion.json_body()
        if isinstance(fault, Trickle):
            await self._trickle(record, send, headers, body, fault, streaming=False)
        elif stream_fault is not None:
            half = body[: len(body) // 2]
            await send_broken(record, send, headers, half, stream_fault, malformed=b"{not json")
        else:
            await respond(record, send, 200, headers, body)

    def _complete(
        self, request: ChatRequest, request_id: str, empty: EmptyAnswer | None = None
    ) -> Completion:
        """The answer to `request` (`llmp.testing.plan_answer`'s), or the empty answer asked for."""
        reasoning_field = self.reasoning_field
        if empty is None:
            choices = plan_choices(request, self.reply_fn, self.chunk_count, reasoning_field, request_id)
        else:
            choices = empty_choices(empty, request.n)
        if self.max_choices is not None:
            del choices[self.max_choices :]
        thought = reasoning_words(choices) if reasoning_field else 0
        usage = wire.make_usage(
            wire.prompt_tokens(request.messages),
            sum(c.completion_tokens for c in choices),
            cached=_count(self.cached_tokens, request.body),
            reasoning=_count(self.reasoning_tokens, request.body) + thought,
        )
        return Completion(
            f"chatcmpl-{request_id}",
            int(time.time()),
            request.model,
            choices,
            usage,
            reasoning_field,
            request.logprobs,
            done_only=empty is not None and empty.shape == "done_only" and request.stream,
        )

    async def _trickle(
        self,
        record: RequestRecord,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        fault: Trickle,
        *,
        streaming: bool,
    ) -> None:
        record.status = 200
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        pieces: Iterator[bytes]
        if fault.keepalive:
            piece = b": keep-alive\n\n" if streaming else b" "  # JSON allows leading whitespace
            pieces = (
                itertools.repeat(piece, fault.count) if fault.count is not None else itertools.repeat(piece)
            )
        else:
            slow_part = body if fault.count is None else body[: fault.count]
            pieces = (slow_part[i : i + 1] for i in range(len(slow_part)))
            body = body[len(slow_part) :]
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if not await pause(send, fault.interval):
                return  # the client gave up, as it should
        await send({"type": "http.response.body", "body": body, "more_body": False})
