"""`FunctionClient`: a `llmp.types.Client` whose answers come from a Python function.

The seam for testing the core (and code built on llmp) without TLS, servers or plugins, like
httpx's ``MockTransport`` or pydantic-ai's ``FunctionModel``::

    client = FunctionClient(lambda request: "4")
    llm = llmp.LLM("test/any", registry=client.registry(), cache=False)
    assert llm.generate(["What is 2+2?"]) == [["4"]]

The function gets each `Request` and returns (or, if it is ``async``, awaits to) one of: a string
(every sample's text), a list of strings (one per sample), a `Choice` or list of them, a whole
`Response`; or raises an `llmp.errors` error to play a failing provider. Streams are derived
from the answer (text and reasoning in small pieces, tool-call arguments in fragments, the usage
last) unless a `stream` function is given. The client records every request and counts
requests in flight, so tests can assert what was sent and how much at once.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from llmp.hookspecs import hookimpl
from llmp.types import (
    BatchFailure,
    BatchResults,
    BatchStatus,
    Capabilities,
    Choice,
    Chunk,
    ClientSettings,
    Cost,
    PriceMode,
    Request,
    Response,
    Route,
    ToolCallDelta,
    Usage,
)

__all__ = ["FULL_CAPABILITIES", "FunctionBatch", "FunctionClient", "Reply", "function_registry"]

Reply: TypeAlias = str | Sequence[str] | Choice | Sequence[Choice] | Response
ReplyFunction: TypeAlias = Callable[[Request], Reply | Awaitable[Reply]]
#: A client double that can do everything, the default.
FULL_CAPABILITIES = Capabilities(
    streaming=True,
    n=True,
    tools=True,
    parallel_tool_calls=True,
    json_schema=True,
    vision=True,
    reasoning=True,
    reasoning_text=True,
    logprobs=True,
    batch=True,
)
_ids = itertools.count(1)


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(part.get("text", "")) if isinstance(part, dict) else 0 for part in value)
    return 0


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


class FunctionBatch:
    """An in-memory batch API: a batch reports ``in_progress`` to its first `polls` status
    checks and completes at the next one (with ``polls=0``, at once: retrieve works straight
    away)."""

    def __init__(self, client: FunctionClient, polls: int = 0) -> None:
        self._client = client
        self.polls = polls
        self.batches: dict[str, dict[str, Any]] = {}

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        batch_id = f"fnbatch_{next(_ids)}"
        self.batches[batch_id] = {"requests": dict(zip(custom_ids, requests, strict=True)), "seen": 0}
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        batch = self.batches[batch_id]
        batch["seen"] += 1
        total = len(batch["requests"])
        if batch["seen"] > self.polls:
            batch["done"] = True
            return BatchStatus("completed", "ended", completed=total, total=total)
        return BatchStatus("in_progress", "in_progress", total=total)

    async def retrieve(self, batch_id: str) -> BatchResults:
        batch = self.batches[batch_id]
        if not (batch.get("done") or self.polls == 0):
            return BatchResults(done=False)
        results: dict[str, Response] = {}
        errors: dict[str, BatchFailure] = {}
        for custom_id, request in batch["requests"].items():
            try:
                results[custom_id] = await self._client._answer(request)
            except Exception as exc:
                errors[custom_id] = BatchFailure("errored", str(exc), getattr(exc, "status_code", None))
        return BatchResults(True, results, errors)

    async def cancel(self, batch_id: str) -> BatchStatus:
        return BatchStatus("cancelled", "canceled", total=len(self.batches[batch_id]["requests"]))


class FunctionClient:
    """See the module docstring. `capabilities` may be one value or a function of the model
    (default: `FULL_CAPABILITIES`, everything);
    `params` names the extra parameters the client accepts (beyond `llmp.COMMON_PARAMS`)."""

    def __init__(
        self,
        reply: ReplyFunction,
        *,
        capabilities: Capabilities | Callable[[str], Capabilities] | None = None,
        stream: Callable[[Request], AsyncIterator[Chunk] | Iterable[Chunk]] | None = None,
        chunk_size: int = 4,
        params: Iterable[str] = (),
        price: Callable[[str, Usage, PriceMode], Cost | None] | None = None,
        effective_params: Callable[[str, Mapping[str, Any]], dict[str, Any]] | None = None,
        batch_polls: int = 0,
    ) -> None:
        self._reply = reply
        self._capabilities = FULL_CAPABILITIES if capabilities is None else capabilities
        self._stream = stream
        self.chunk_size = chunk_size
        self.params = frozenset(params)
        self.price = price
        self._effective = effective_params
        self.batch = FunctionBatch(self, batch_polls)
        #: Every request received, in order (streamed ones too).
        self.requests: list[Request] = []
        #: Settings of every client the core asked the factory for (keys included: test data).
        self.settings: list[ClientSettings] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FunctionClient({getattr(self._reply, '__name__', 'reply')})"

    # -- the Client protocol -----------------------------------------------------------------

    def capabilities(self, model: str) -> Capabilities:
        caps = self._capabilities(model) if callable(self._capabilities) else self._capabilities
        if self.params and not caps.params:
            caps = Capabilities(
                **{**{f: getattr(caps, f) for f in caps.__dataclass_fields__}, "params": self.params}
            )
        return caps

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._effective(model, params) if self._effective is not None else dict(params)

    async def complete(self, request: Request) -> Response:
        self._begin(request)
        try:
            return await self._answer(request)
        finally:
            self._end()

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        self._begin(request)
        try:
            if self._stream is not None:
                chunks = self._stream(request)
                if hasattr(chunks, "__aiter__"):
                    async for chunk in chunks:
                        yield chunk
                else:
                    for chunk in chunks:
                        yield chunk
                return
            response = await self._answer(request)
            for chunk in self._chunks(response):
                yield chunk
        finally:
            self._end()

    async def aclose(self) -> None:
        self.closed += 1

    # -- helpers -----------------------------------------------------------------------------

    def _begin(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def request_count(self) -> int:
        return len(self.requests)

    async def _answer(self, request: Request) -> Response:
        value = self._reply(request)
        if inspect.isawaitable(value):
            value = await value
        return self._response(request, value)

    def _response(self, request: Request, value: Any) -> Response:
        if isinstance(value, Response):
            return value
        if isinstance(value, str):
            choices = [Choice(text=value, finish_reason="stop") for _ in range(request.n)]
        elif isinstance(value, Choice):
            choices = [value]
        elif isinstance(value, Sequence) and all(isinstance(v, Choice) for v in value):
            choices = list(value)
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            choices = [Choice(text=v, finish_reason="stop") for v in value]
        else:
            raise TypeError(
                f"a FunctionClient reply must be a str, Choice, Response or a list of them: {value!r}"
            )
        for choice in choices:
            if choice.tool_calls and choice.finish_reason in (None, "stop") and not choice.text:
                choice.finish_reason = "tool_calls"
        usage = Usage(
            input_tokens=sum(_words(m.get("content")) for m in request.messages),
            output_tokens=sum(len(c.text.split()) + len(c.tool_calls) for c in choices),
        )
        return Response(choices, usage, model=request.model, id=f"fn-{next(_ids)}", http_version="in-process")

    def _chunks(self, response: Response) -> Iterable[Chunk]:
        size = self.chunk_size
        first = True
        for index, choice in enumerate(response.choices):
            for piece in _pieces(choice.reasoning or "", size):
                yield Chunk(index=index, reasoning=piece)
            for piece in _pieces(choice.text, size):
                chunk = Chunk(text=piece, index=index)
                if first:
                    chunk.model, chunk.id, first = response.model, response.id, False
                yield chunk
            if choice.refusal:
                yield Chunk(index=index, refusal=choice.refusal)
            for position, call in enumerate(choice.tool_calls):
                fragments = _pieces(call.arguments, size) or [""]
                yield Chunk(
                    index=index,
                    tool_call=ToolCallDelta(position, call.id, call.name, fragments[0], call.extra),
                )
                for fragment in fragments[1:]:
                    yield Chunk(index=index, tool_call=ToolCallDelta(position, arguments=fragment))
            yield Chunk(index=index, finish_reason=choice.finish_reason)
        yield Chunk(usage=response.usage)

    def plugin(self, pattern: str = "test/*", *, provider: str = "test", key_env: str | None = None,
               base_url: str | None = "https://function-client.invalid/v1") -> Any:  # fmt: skip
        """A plugin object routing `pattern` to this client (register it on a `llmp.Registry`)."""
        api = f"function-{id(self)}"
        client = self
        provider_name = provider

        def factory(settings: ClientSettings) -> FunctionClient:
            client.settings.append(settings)
            return client

        def llmp_routes() -> list[Route]:
            return [Route(pattern, provider_name, api=api, base_url=base_url, key_env=key_env)]

        def llmp_apis() -> dict[str, Callable[[ClientSettings], FunctionClient]]:
            return {api: factory}

        def llmp_price(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
            if client.price is None or provider != provider_name:
                return None
            return client.price(model, usage, mode)

        return types.SimpleNamespace(
            __name__=f"function-client-{id(self)}",
            llmp_routes=hookimpl(llmp_routes),
            llmp_apis=hookimpl(llmp_apis),
            llmp_price=hookimpl(llmp_price),
        )

    def registry(
        self,
        pattern: str = "test/*",
        *,
        provider: str = "test",
        key_env: str | None = None,
        base_url: str | None = "https://function-client.invalid/v1",
    ) -> Any:
        """A fresh `llmp.Registry` routing `pattern` to this client (and its `price`, if any)."""
        from llmp._plugins import Registry

        plugin = self.plugin(pattern, provider=provider, key_env=key_env, base_url=base_url)
        return Registry(load_entry_points=False, plugins=[plugin])


def function_registry(clients: Mapping[str, FunctionClient]) -> Any:
    """One `llmp.Registry` routing each pattern to its client: ``{"a/*": one, "b/*": two}``
    (provider names are the patterns' prefixes), to test sets of deployments and fallbacks."""
    from llmp._plugins import Registry

    plugins = [client.plugin(pattern, provider=pattern.split("/", 1)[0].rstrip("*") or "test")
               for pattern, client in clients.items()]  # fmt: skip
    return Registry(load_entry_points=False, plugins=plugins)
