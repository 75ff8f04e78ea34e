"""One request through the core: capabilities, cache, coalescing, the attempt, validation, cost.

```
request -> capability check -> cache lookup (hit: return, no cost) -> same request in flight?
  (wait for its answer) -> Sender: limits, client.complete, answer rules, retries
  -> usage + cost -> output schema validation (asked again up to output_retries times)
  -> cache store (whole, validated answers only)
```

An `Engine` belongs to one `LLM` instance (its limits are that instance's); clients are shared
through the registry per (settings, event loop), so every instance talking to the same host with
the same key reuses one connection pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmp._answers import Parser, cacheable, parse
from llmp._cache import Cache, cache_key
from llmp._capabilities import check_params, check_request
from llmp._keys import KeyPool
from llmp._metrics import Recorder
from llmp._params import unknown_params
from llmp._perloop import PerLoop
from llmp._plugins import Registry
from llmp._retry import RetryPolicy
from llmp._routing import ResolvedRoute
from llmp._sender import Sender
from llmp._usage import UsageStats
from llmp.errors import OutputValidationError
from llmp.types import (
    Capabilities,
    ChatMessage,
    Client,
    ClientSettings,
    Cost,
    PriceMode,
    Request,
    Response,
    Usage,
)

if TYPE_CHECKING:
    from llmp._call import CallSpec

__all__ = ["CACHE_VERSION", "MISSING", "Engine", "response_from_cache", "response_to_cache"]

_log = logging.getLogger("llmp.engine")

#: Part of every cache key; bumped when what a key covers or a value holds changes.
CACHE_VERSION = 2
#: "Not looked up yet" (a prefetched value of None is a known miss).
MISSING: Any = object()


class Engine:
    def __init__(
        self,
        registry: Registry,
        resolved: ResolvedRoute,
        *,
        base_url: str | None,
        keys: KeyPool | None,
        max_concurrent: int,
        cache: Cache | None,
        retry: RetryPolicy,
        timeout: float | None,
        stats: UsageStats,
        global_slots: Any,
        output_retries: int = 1,
    ) -> None:
        route = resolved.route
        self.registry = registry
        self.provider = route.provider
        self.api = route.wire_api
        self.model = resolved.api_model
        self.base_url = base_url
        self.options = route.options
        self.keys = keys
        self.max_concurrent = max_concurrent
        self.cache = cache
        self.retry = retry
        self.timeout = timeout
        self.stats = stats
        self.output_retries = output_retries
        #: Successes with their latencies, failures by kind: this engine's part of `LLM.metrics()`.
        self.recorder = Recorder()
        self.sender = Sender(
            provider=self.provider,
            keys=keys,
            max_concurrent=max_concurrent,
            retry=retry,
            global_slots=global_slots,
            stats=stats,
            client=self.client,
            record_usage=self.record_usage,
            recorder=self.recorder,
        )
        self._settings: dict[str | None, ClientSettings] = {}
        self._caps: dict[str, Capabilities] = {}
        self._params_memo: tuple[Mapping[str, Any], dict[str, Any]] | None = None
        self._inflight: PerLoop[dict[str, asyncio.Future[Response]]] = PerLoop(dict)
        # A cache other processes share (Redis): an uncached request in flight elsewhere is
        # waited for instead of paid twice.
        self._shared = cache is not None and cache.backend == "redis"

    # -- clients and what they can do --------------------------------------------------------

    def client(self, key: str | None) -> Client:
        settings = self._settings.get(key)
        if settings is None:
            settings = self._settings[key] = ClientSettings(
                self.provider, self.api, self.base_url, key, self.options
            )
        return self.registry.client_for(settings, owner=self)

    def _any_client(self) -> Client:
        key = self.keys.keys[0] if self.keys is not None else None
        settings = self._settings.get(key)
        if settings is None:
            settings = self._settings[key] = ClientSettings(
                self.provider, self.api, self.base_url, key, self.options
            )
        return self.registry.clients.probe(settings)

    def capabilities(self, model: str | None = None) -> Capabilities:
        """What the client can do for `model` (asked once per model)."""
        model = model or self.model
        caps = self._caps.get(model)
        if caps is None:
            caps = self._caps[model] = self._any_client().capabilities(model)
        return caps

    def effective_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as the plugin will send them (its defaults made explicit), so the cache
        key names them. A job passes one params object for every prompt: ask the plugin once."""
        memo = self._params_memo
        if memo is not None and memo[0] is params:
            return memo[1]
        check_params(self, params)
        unknown_params(params, self.capabilities().params, self.provider)
        effective = self._any_client().effective_params(self.model, params)
        self._params_memo = (params, effective)
        return effective

    async def aclose(self) -> None:
        """Release this engine's clients (closed once no other LLM uses them)."""
        await self.registry.clients.release(self)

    # -- cache -------------------------------------------------------------------------------

    def cache_key(self, request: Request) -> str:
        # Everything that changes the answer, nothing that doesn't (keys, timeouts, streaming).
        payload: dict[str, Any] = {
            "v": CACHE_VERSION,
            "provider": self.provider,
            "base_url": self.base_url,
            "model": request.model,
            "messages": _key_messages(request.messages),
            "n": request.n,
            "params": request.params,
        }
        if request.tools:
            payload["tools"] = [[t.name, t.description, dict(t.parameters), t.strict] for t in request.tools]
            payload["tool_choice"] = request.tool_choice
            payload["parallel_tool_calls"] = request.parallel_tool_calls
        schema = request.output_schema
        if schema is not None:
            payload["output_schema"] = [schema.name, dict(schema.schema), schema.strict]
        reasoning = request.reasoning
        if reasoning is not None:
            payload["reasoning"] = [reasoning.effort, reasoning.budget_tokens, reasoning.enabled]
        return cache_key(payload)

    async def cached(
        self, key: str | None, parser: Parser | None, prefetched: Any = MISSING
    ) -> Response | None:
        """The cached answer for `key` (valid for `parser`), or None. `prefetched` is the value a
        job already read for it in a pipelined lookup (None: a known miss)."""
        if key is None or self.cache is None:
            return None
        value = await self.cache.aget(key) if prefetched is MISSING else prefetched
        return self._hit(key, value, parser)

    def _hit(self, key: str, value: Mapping[str, Any] | None, parser: Parser | None) -> Response | None:
        if value is None:
            return None
        response = response_from_cache(value)
        if response is None:
            return None
        if parser is not None:
            try:
                parse(response, parser, self.provider)
            except OutputValidationError:
                _log.debug("cached answer %s no longer validates; asking again", key[:12])
                return None
        self.stats.cache_hits += 1
        return response

    async def store(self, key: str | None, response: Response) -> None:
        if key is not None and self.cache is not None and cacheable(response):
            await self.cache.aset(key, response_to_cache(response))

    # -- accounting --------------------------------------------------------------------------

    def record(self, response: Response) -> None:
        cost = self.price(response.usage)
        response.cost = cost.total if cost is not None else None
        self.stats.record(response.usage, cost)

    def record_usage(self, usage: Usage) -> None:
        self.stats.record(usage, self.price(usage))

    # -- the target interface (what jobs, the tool loop and LLM call; a Router offers it too) --

    @property
    def concurrency(self) -> int:
        """How many prompts a job keeps in flight."""
        return self.max_concurrent

    def prepare(self, messages: list[ChatMessage], spec: CallSpec) -> Request:
        """The request for one conversation (bad parameters raise here, before anything is sent)."""
        return spec.request(self, messages)

    def item_key(self, prepared: Request) -> str:
        """What identifies this item of a job (in a checkpoint): its cache key."""
        return self.cache_key(prepared)

    def lookup_keys(self, prepared: Request) -> list[str]:
        """The cache keys a job prefetches for this item."""
        return [self.cache_key(prepared)]

    async def answer(
        self, prepared: Request, parser: Parser | None = None, prefetched: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Response:  # fmt: skip
        """`complete`, with what a job's pipelined lookup read (a mapping of key to value)."""
        if prefetched is None or self.cache is None:
            return await self.complete(prepared, key, parser)
        key = key or self.cache_key(prepared)
        return await self.complete(prepared, key, parser, prefetched.get(key))

    def stream_prepared(
        self, prepared: Request, *, text_only: bool, parser: Parser | None = None, out: Any = None
    ) -> AsyncIterator[Any]:
        from llmp._streaming import stream

        return stream(self, prepared, text_only=text_only, parser=parser, out=out)

    def price(self, usage: Usage, mode: PriceMode = "standard") -> Cost | None:
        return self.registry.price(self.provider, self.model, usage, mode)

    # -- the call ----------------------------------------------------------------------------

    def request(self, messages: list[ChatMessage], n: int, params: Mapping[str, Any], **rich: Any) -> Request:
        """A request of this engine's model; `rich` are the `Request` fields past params."""
        return Request(self.model, messages, n, self.effective_params(params), timeout=self.timeout, **rich)

    async def complete(
        self,
        request: Request,
        key: str | None = None,
        parser: Parser | None = None,
        prefetched: Any = MISSING,
    ) -> Response:
        """A finished response for `request`: from the cache, from an identical request already
        in flight (in this process, or in another sharing a Redis cache), or from the provider.
        `prefetched` is what a job's pipelined lookup already read for `key`."""
        check_request(self, request)
        if self.cache is None:
            return await self._fetch(request, parser, None)
        key = key or self.cache_key(request)
        hit = await self.cached(key, parser, prefetched)
        if hit is not None:
            return hit
        inflight = self._inflight.get()
        waiting = inflight.get(key)
        if waiting is not None:
            # The same request is on its way: share its answer instead of paying twice.
            response = await asyncio.shield(waiting)
            self.stats.cache_hits += 1
            return _shared(response)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        inflight[key] = future
        try:
            response = await (
                self._claimed(request, parser, key) if self._shared else self._fetch(request, parser, key)
            )
        except BaseException as error:
            if isinstance(error, Exception):
                future.set_exception(error)
                future.exception()  # retrieved: nobody may be waiting, and that is fine
            else:
                future.cancel()
            raise
        finally:
            if inflight.get(key) is future:
                del inflight[key]
        future.set_result(response)
        return response

    async def _claimed(self, request: Request, parser: Parser | None, key: str) -> Response:
        assert self.cache is not None
        async with self.cache.claim(key) as claim:
            if not claim.owner:
                # Another process is asking the same thing: its answer, when it comes, is ours.
                hit = self._hit(key, await claim.wait(request.timeout), parser)
                if hit is not None:
                    return hit
            return await self._fetch(request, parser, key)

    async def _fetch(self, request: Request, parser: Parser | None, key: str | None) -> Response:
        retries = self.output_retries
        while True:
            if request.n > 1 and not self.capabilities(request.model).n:
                response = await self._fan_out(request)
            else:
                response = await self.sender.complete(request)
                self.record(response)
            if parser is None:
                break
            try:
                parse(response, parser, self.provider)
                break
            except OutputValidationError as error:
                if retries <= 0:
                    self.stats.failures += 1
                    raise
                retries -= 1
                self.stats.retries += 1
                _log.info("%s: %s; asking again (%d more)", self.provider, error, retries)
        await self.store(key, response)
        return response

    async def _fan_out(self, request: Request) -> Response:
        """``n`` samples from a client that samples one at a time: n requests, one answer."""
        single = replace(request, n=1)

        async def one() -> Response:
            part = await self.sender.complete(single)
            self.record(part)  # each part is a billed request of its own, even if another fails
            return part

        tasks = [asyncio.ensure_future(one()) for _ in range(request.n)]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        usage = Usage()
        for part in parts:
            usage.add(part.usage)
        costs = [part.cost for part in parts]
        first = parts[0]
        return Response(
            [part.choices[0] for part in parts],
            usage,
            model=first.model,
            id=first.id,
            request_id=first.request_id,
            http_version=first.http_version,
            rate_limit=parts[-1].rate_limit,
            latency=max(part.latency or 0.0 for part in parts),
            attempts=max(part.attempts for part in parts),
            cost=None if None in costs else sum(c for c in costs if c is not None),
            provider=self.provider,
        )


def _key_messages(messages: list[ChatMessage]) -> Any:
    """Messages for the cache key: an inline image counts by the SHA-256 of its data URL, so
    keys stay cheap to compute for big images (and a file path never enters a key)."""
    out: list[Any] | None = None
    for i, message in enumerate(messages):
        content = message.get("content")
        if type(content) is not list:
            continue
        parts = [_key_part(part) for part in content]
        if any(a is not b for a, b in zip(parts, content, strict=True)):
            out = out or list(messages)
            out[i] = {**message, "content": parts}
    return out if out is not None else messages


def _key_part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "image_url":
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else spec
        if isinstance(url, str) and url.startswith("data:"):
            digest = hashlib.sha256(url.encode()).hexdigest()
            detail = spec.get("detail") if isinstance(spec, dict) else None
            return {"type": "image_url", "image_sha256": digest, "detail": detail}
    return part


def _shared(response: Response) -> Response:
    """Another caller's answer, as a cache hit of this one (nothing paid)."""
    return replace(
        response, choices=[replace(c) for c in response.choices], cached=True, cost=0.0, attempts=0
    )


def response_to_cache(response: Response) -> dict[str, Any]:
    value: dict[str, Any] = {
        "v": CACHE_VERSION,
        "choices": [choice.to_dict() for choice in response.choices],
        "usage": response.usage.to_dict(),
    }
    if response.model:
        value["model"] = response.model
    if response.id:
        value["id"] = response.id
    return value


def response_from_cache(value: Mapping[str, Any]) -> Response | None:
    """A cached answer, or None for a value this version cannot read (treated as a miss)."""
    if value.get("v") != CACHE_VERSION:
        return None
    try:
        response = Response.from_dict(value)
    except (KeyError, TypeError, ValueError):
        return None
    response.cached = True
    response.cost = 0.0
    response.attempts = 0
    return response
