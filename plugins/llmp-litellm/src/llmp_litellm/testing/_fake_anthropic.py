"""``FakeAnthropicServer``: Anthropic's Messages API (``POST /v1/messages``) over TLS, HTTP/2 and HTTP/1.1.

It checks the ``x-api-key`` and ``anthropic-version`` headers and the request body the way the API
does, answers with Anthropic's message JSON or its SSE event stream, sends the
``anthropic-ratelimit-*`` and ``request-id`` headers, records every request and injects the faults of
`llmp.testing._faults` with errors in Anthropic's ``{"type": "error", "error": {...}}`` shape.

The knobs, fault schedule, records, counters and rate-limit buckets are the shared
`llmp.testing._fake_state.FakeServerState`, as the fake OpenAI server's are, so both fakes behave
the same way for a test; only the wire differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from llmp.testing import headers_of, read_body, serve_lifespan
from llmp.testing._fake_state import FakeServerState, RequestRecord, TokenCount
from llmp.testing._faults import (
    EmptyAnswer,
    Slow,
    StatusError,
    StreamFault,
)
from llmp.testing._responding import respond, send_broken, send_steps
from llmp.testing._script import plan_answer
from llmp.testing._served import BackgroundServed
from llmp.testing._server import BackgroundServer, Receive, Scope, Send, ServerOptions, reset_stream
from llmp.testing._waits import pause, wait_unless_gone
from llmp.testing._wire import ErrorResponse, ReplyFn, load_json, split_events
from llmp_litellm.testing import _anthropic_reply as replies
from llmp_litellm.testing import _anthropic_wire as wire
from llmp_litellm.testing._fake_anthropic_batch import FakeMessageBatches

__all__ = ["DEFAULT_ANTHROPIC_MODELS", "FakeAnthropicServer"]

DEFAULT_ANTHROPIC_MODELS = (
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
)
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_MALFORMED = b"event: content_block_delta\ndata: {not json\n\n"
_log = logging.getLogger(__name__)


def _count(value: TokenCount, body: Mapping[str, Any]) -> int:
    return value(body) if callable(value) else value


class FakeAnthropicServer(BackgroundServed, FakeServerState):
    """A local Anthropic Messages API for tests and demos.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Clients reach it at
    :attr:`base_url` (``https://127.0.0.1:<port>``, no ``/v1``: like the anthropic SDK's base URL
    and litellm's ``api_base``, it is the origin the client appends ``/v1/messages`` to) and trust it
    through ``SSL_CERT_FILE`` set to :attr:`ca_path`.

    Knobs (keyword-only; the first five and ``context_window`` can be changed on a running server
    and are restored by :meth:`reset`):

    - ``reply_fn(body, index) -> str``: the reply text. Default ``"Echo: <last user text>"``.
    - ``ttft`` / ``token_delay``: seconds before the first byte / between stream steps.
    - ``chunk_count``: ``text_delta`` events per reply (default: one per word).
    - ``cache_read_tokens`` / ``cache_creation_tokens`` (int, or a function of the request body):
      reported as ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` and carved out of
      the prompt's words, so ``input_tokens`` is the uncached rest (never below 0), as the API counts.
      ``cache_creation_1h_tokens`` of the writes go to the 1-hour cache (``usage.cache_creation``).
    - ``api_keys``: accepted ``x-api-key`` values; ``None`` accepts any. :attr:`api_key` always works.
    - ``rpm`` / ``tpm``: enforce per-minute budgets (429 ``rate_limit_error`` with ``retry-after``).
    - ``context_window``: prompts longer than this many words fail with "prompt is too long".
    - ``models`` / ``strict_models``: with ``strict_models``, other models are a 404.
    - ``record``: keep :class:`RequestRecord` s in :attr:`requests` (counters are always kept).

    What it answers is `llmp.testing.plan_answer`'s (tool_use blocks for tools, the schema's
    example for ``output_format``, a signed thinking block when thinking is on, ``stop_reason:
    "refusal"`` for a prompt with REFUSE, ``[saw N image(s)]``), and the requests are checked as
    the API checks them (`llmp_litellm.testing._anthropic_content`). `EmptyAnswer` faults answer one empty
    text block (``"empty"``) or ``content: []`` (the other shapes; streams without a content block).

    The Message Batches API (``/v1/messages/batches``) and its knobs are :attr:`message_batches`
    (`llmp_litellm.testing._fake_anthropic_batch`).
    """

    def __init__(
        self,
        *,
        reply_fn: ReplyFn | None = None,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cache_read_tokens: TokenCount = 0,
        cache_creation_tokens: TokenCount = 0,
        cache_creation_1h_tokens: TokenCount = 0,
        api_keys: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        context_window: int = 200_000,
        models: Iterable[str] | None = None,
        strict_models: bool = False,
        record: bool = True,
        options: ServerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.message_batches = FakeMessageBatches()  # before super().__init__, which calls reset()
        # Knobs of this fake that reset() restores, like the shared ones.
        self.cache_creation_tokens: TokenCount = cache_creation_tokens
        self.cache_creation_1h_tokens: TokenCount = cache_creation_1h_tokens
        self.context_window = context_window
        super().__init__(
            reply_fn=reply_fn or wire.default_reply,
            models=models if models is not None else DEFAULT_ANTHROPIC_MODELS,
            key_prefix="sk-ant-test-",
            ttft=ttft,
            token_delay=token_delay,
            chunk_count=chunk_count,
            cached_tokens=cache_read_tokens,
            knobs={
                "cache_creation_tokens": cache_creation_tokens,
                "cache_creation_1h_tokens": cache_creation_1h_tokens,
                "context_window": context_window,
            },
            api_keys=api_keys,
            rpm=rpm,
            tpm=tpm,
            strict_models=strict_models,
            record=record,
            clock=clock,
        )
        self._server = BackgroundServer(self, options=options)

    # The shared state calls the read knob ``cached_tokens``; Anthropic calls it a cache read.
    @property
    def cache_read_tokens(self) -> TokenCount:
        return self.cached_tokens

    @cache_read_tokens.setter
    def cache_read_tokens(self, value: TokenCount) -> None:
        self.cached_tokens = value

    def reset(self) -> None:
        super().reset()
        self.message_batches.reset()

    # ----- ASGI -----

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await serve_lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        if raw is None:
            return
        record = RequestRecord(
            scope["method"], scope["path"], scope["http_version"], headers_of(scope), None, raw, time.time()
        )
        generation = self._begin(record)
        self._next_id += 1  # only the server's loop thread touches this
        request_id = f"req_011{self._id_prefix}{self._next_id:010x}"
        try:
            await self._route(record, request_id, receive, send)
        except ErrorResponse as reply:
            await respond(record, send, reply.status, self._error_headers(reply, request_id), reply.body)
        except Exception as exc:
            # A broken reply_fn or predicate is a bug in the test: answer 500 saying so (unless the
            # response already started) and log the traceback where pytest shows it.
            _log.exception("fake Anthropic server failed on %s %s", record.method, record.path)
            if record.status is None:
                broken = wire.error(500, f"fake server error: {exc!r}", "api_error")
                await respond(record, send, 500, self._error_headers(broken, request_id), broken.body)
            elif record.http_version != "1.1":
                await reset_stream(send)  # else the client would wait forever for the rest
        finally:
            self._end(generation)

    def _error_headers(self, reply: ErrorResponse, request_id: str) -> list[tuple[bytes, bytes]]:
        headers = [*reply.headers, (b"request-id", request_id.encode())]
        if not any(name == b"content-type" for name, _ in headers):
            headers.append(wire.JSON)
        if any(name.startswith(b"anthropic-ratelimit-") for name, _ in headers):
            return headers  # a refusal by the rate limiter already reports the buckets
        return headers + wire.rate_limit_headers(self._limiter.peek(), time.time())

    # ----- the API -----

    async def _route(self, record: RequestRecord, request_id: str, receive: Receive, send: Send) -> None:
        if record.path.startswith("/v1/messages/batches"):
            self._check_headers(record)
            return await self.message_batches.handle(self, record, request_id, send)
        if record.path != "/v1/messages":
            raise wire.error(404, "Not Found", "not_found_error")
        if record.method != "POST":
            raise wire.error(405, "Method Not Allowed", "invalid_request_error")
        self._check_headers(record)
        await self._messages(record, request_id, receive, send)

    def _check_headers(self, record: RequestRecord) -> None:
        key = record.headers.get("x-api-key", "")
        if not key:
            raise wire.error(401, "x-api-key header is required", "authentication_error")
        if self.api_keys is not None and key not in self.api_keys:
            raise wire.error(401, "invalid x-api-key", "authentication_error")  # never echo the key
        if not record.headers.get("anthropic-version"):
            raise wire.invalid("anthropic-version: header is required")

    async def _messages(self, record: RequestRecord, request_id: str, receive: Receive, send: Send) -> None:
        record.body = load_json(record.raw_body)
        request = wire.parse_request(record.body, wire.betas_of(record.headers))
        if self.strict_models and request.model not in self.models:
            raise wire.error(404, f"model: {request.model}", "not_found_error")
        if request.input_tokens > self.context_window:
            raise wire.invalid(
                f"prompt is too long: {request.input_tokens} tokens > {self.context_window} maximum"
            )
        fault = self._faults.take(request.body)
        record.fault = fault
        if isinstance(fault, StatusError):
            raise wire.status_error(fault)
        if isinstance(fault, Slow) and not await wait_unless_gone(receive, fault.seconds, self._wake_event()):
            return  # the client gave up; nobody is listening for an answer
        ttft, token_delay = self.ttft, self.token_delay  # read once: a test may change them meanwhile
        empty = fault if isinstance(fault, EmptyAnswer) else None
        message_id, reply, usage = self._complete(request, request_id, empty)
        total = request.input_tokens + reply.output_tokens
        admission = self._limiter.admit(total)
        now = time.time()
        if admission.refused is not None:
            raise wire.refused(admission.refused, admission.retry_after, admission.budgets, now)
        headers = [(b"request-id", request_id.encode()), *wire.rate_limit_headers(admission.budgets, now)]
        stream_fault = fault if isinstance(fault, StreamFault) else None
        if request.stream:
            steps = replies.stream_steps(message_id, request.model, reply, usage)
            if ttft > 0 and not await pause(send, ttft):
                return
            headers.insert(0, _SSE)
            if stream_fault is not None:
                # Count the opening events too: after_chunks=1 cuts right after message_start.
                head, _ = split_events(b"".join(steps), stream_fault.after_chunks)
                await send_broken(record, send, headers, head, stream_fault, malformed=head + _MALFORMED)
            elif token_delay <= 0 or len(steps) == 1:
                await respond(record, send, 200, headers, b"".join(steps))
            else:
                await send_steps(record, send, headers, steps, token_delay)
            return
        wait = ttft + token_delay * max(len(reply.pieces) - 1, 0)
        if wait > 0 and not await pause(send, wait):
            return
        headers.insert(0, wire.JSON)
        body = replies.message_body(message_id, request.model, reply, usage)
        if stream_fault is not None:
            half = body[: len(body) // 2]
            await send_broken(record, send, headers, half, stream_fault, malformed=b"{not json")
        else:
            await respond(record, send, 200, headers, body)

    def _complete(
        self, request: wire.MessagesRequest, request_id: str, empty: EmptyAnswer | None = None
    ) -> tuple[str, replies.Reply, dict[str, Any]]:
        """The reply to a valid request, by `plan_answer`'s rules (or the empty answer asked for)."""
        suffix = request_id[7:]
        if empty is not None:
            reply = replies.empty_reply(empty.shape, empty.finish)
        else:
            facts = request.facts
            plan = plan_answer(
                prompt=facts.prompt,
                default_text=self.reply_fn(request.body, 0),
                last_role=facts.last_role,
                tool_results=facts.tool_results,
                tools=facts.tools,
                tool_choice=facts.tool_choice,
                parallel=facts.parallel,
                schema=facts.schema,
                reasoning=facts.reasoning,
                images=facts.images,
            )
            reply = replies.plan_reply(
                plan,
                max_tokens=request.max_tokens,
                stop_sequences=request.stop_sequences,
                chunk_count=self.chunk_count,
                tool_ids=f"toolu_01{suffix}",
            )
        read = _count(self.cached_tokens, request.body)
        creation = _count(self.cache_creation_tokens, request.body)
        hour = min(_count(self.cache_creation_1h_tokens, request.body), creation)
        uncached = max(request.input_tokens - read - creation, 0)
        usage = replies.make_usage(
            uncached, reply.output_tokens, cache_read=read, cache_creation=creation, cache_1h=hour
        )
        return f"msg_01{suffix}", reply, usage
