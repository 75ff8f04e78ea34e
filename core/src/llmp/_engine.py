"""One request through the core: cache, limits, the plugin call, retries, usage and cost.

```
request -> cache lookup (hit: return, no cost) -> key -> AIMD window -> global slot (optional)
        -> llmp_call / llmp_stream -> usage + cost -> cache store
on a retryable error: release every slot, back off (Retry-After first), retry
```

An `Engine` belongs to one `LLM` instance (its limiter windows are that instance's
`max_concurrent`); clients are shared through the registry per (settings, event loop), so every
instance talking to the same host with the same key reuses one connection pool.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmp._cache import DiskCache, cache_key
from llmp._global_slots import GlobalSlots
from llmp._keys import KeyPool, fingerprint
from llmp._limits import AIMDLimiter
from llmp._plugins import Registry
from llmp._retry import RetryPolicy
from llmp._routing import ResolvedRoute
from llmp._usage import UsageStats
from llmp.errors import AuthenticationError, PluginError, ProviderError, RateLimitError
from llmp.types import ChatMessage, ClientSettings, Request, Response, Usage

__all__ = ["Engine"]


class Engine:
    def __init__(
        self,
        registry: Registry,
        resolved: ResolvedRoute,
        *,
        base_url: str | None,
        keys: KeyPool | None,
        max_concurrent: int,
        cache: DiskCache | None,
        retry: RetryPolicy,
        timeout: float | None,
        stats: UsageStats,
        global_slots: GlobalSlots | None,
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
        self.global_slots = global_slots
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AIMDLimiter]] = (
            weakref.WeakKeyDictionary()
        )
        self._hook = registry.hook
        self._params_memo: tuple[dict[str, Any], dict[str, Any]] | None = None

    # -- building blocks ---------------------------------------------------------------------

    def request(self, messages: list[ChatMessage], n: int, params: dict[str, Any]) -> Request:
        return Request(self.provider, self.model, messages, n, self.effective_params(params), self.timeout)

    def effective_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters as the plugin will send them (its defaults made explicit), so the cache
        key names them. A job passes one params object for every prompt: ask the plugin once."""
        memo = self._params_memo
        if memo is not None and memo[0] is params:
            return memo[1]
        effective: dict[str, Any] | None = self._hook.llmp_request_params(
            provider=self.provider, model=self.model, params=params
        )
        if effective is None:
            effective = params
        self._params_memo = (params, effective)
        return effective

    def cache_key(self, request: Request) -> str:
        # Everything that changes the answer, nothing that doesn't (keys, timeouts, streaming).
        return cache_key(
            {
                "v": 1,
                "provider": self.provider,
                "base_url": self.base_url,
                "model": request.model,
                "messages": request.messages,
                "n": request.n,
                "params": request.params,
            }
        )

    def limiter(self, key: str | None) -> AIMDLimiter:
        loop = asyncio.get_running_loop()
        per_loop = self._limiters.get(loop)
        if per_loop is None:
            per_loop = self._limiters[loop] = {}
        tag = fingerprint(key)
        limiter = per_loop.get(tag)
        if limiter is None:
            limiter = per_loop[tag] = AIMDLimiter(self.max_concurrent)
        return limiter

    def client(self, key: str | None) -> object:
        settings = ClientSettings(self.provider, self.api, self.base_url, key, self.options)
        return self.registry.client_for(settings)

    def record(self, response: Response) -> None:
        cost = self.registry.price(self.provider, self.model, response.usage, "standard")
        self.stats.record(response.usage, cost)

    def cached(self, key: str) -> Response | None:
        if self.cache is None:
            return None
        hit = self.cache.get(key)
        if hit is None:
            return None
        self.stats.cache_hits += 1
        return response_from_cache(hit)

    def store(self, key: str, response: Response) -> None:
        if self.cache is not None:
            self.cache.set(key, response_to_cache(response))

    # -- the call ----------------------------------------------------------------------------

    async def complete(self, request: Request, key: str | None = None) -> Response:
        """A finished response for `request`: from the cache, or from the provider with retries."""
        if self.cache is not None:
            key = key or self.cache_key(request)
            hit = self.cached(key)
            if hit is not None:
                return hit
        response = await self._with_retries(request)
        self.record(response)
        if key is not None:
            self.store(key, response)
        return response

    async def _with_retries(self, request: Request) -> Response:
        attempt = 0
        while True:
            api_key, limiter, started, slot = await self._begin_attempt()
            try:
                awaitable = self._hook.llmp_call(client=self.client(api_key), request=request)
                if awaitable is None:
                    raise PluginError(f"No plugin handled llmp_call for api {self.api!r}.")
                response: Response = await awaitable
            except ProviderError as error:
                self._release(limiter, slot)
                if not await self._retry_after(error, api_key, limiter, started, attempt):
                    raise
                attempt += 1
                continue
            except BaseException:
                self._release(limiter, slot)
                raise
            self._release(limiter, slot)
            limiter.on_success(
                response.rate_limit, response.usage.input_tokens + response.usage.output_tokens
            )
            return response

    async def _begin_attempt(self) -> tuple[str | None, AIMDLimiter, float, Any]:
        """Pick a key and wait for its window slot, then for a machine-wide slot if capped."""
        api_key = self.keys.pick() if self.keys is not None else None
        limiter = self.limiter(api_key)
        started = await limiter.acquire()
        try:
            slot = await self.global_slots.acquire() if self.global_slots is not None else None
        except BaseException:
            limiter.release()  # cancelled while waiting for a global slot: give the window slot back
            raise
        return api_key, limiter, started, slot

    async def _retry_after(
        self, error: ProviderError, api_key: str | None, limiter: AIMDLimiter, started: float, attempt: int
    ) -> bool:
        """Account for a failed attempt (slots already released); back off and return True to try
        again, or count the failure and return False to give up."""
        delay = self._on_error(error, api_key, limiter, started, attempt)
        if delay is None:
            self.stats.failures += 1
            return False
        self.stats.retries += 1
        if delay:
            await asyncio.sleep(delay)  # holding no slot while we wait
        return True

    @staticmethod
    def _release(limiter: AIMDLimiter, slot: Any) -> None:
        limiter.release()
        if slot is not None:
            slot.release()

    def _on_error(
        self, error: ProviderError, api_key: str | None, limiter: AIMDLimiter, started: float, attempt: int
    ) -> float | None:
        """Update limits and keys for `error`; return the delay before retrying, or None to give up."""
        if error.usage is not None:
            # The provider billed this attempt (e.g. an answer with no text): count it.
            self.record(Response([], error.usage))
        if isinstance(error, RateLimitError):
            limiter.on_rate_limited(started, error.retry_after)
            if self.keys is not None and api_key is not None:
                self.keys.rate_limited(api_key, error.retry_after)
                if attempt < self.retry.max_retries and self.keys.other_available(api_key):
                    return 0.0  # another key is ready: no need to wait out this one's cool-down
        if isinstance(error, AuthenticationError) and self.keys is not None and api_key is not None:
            # A rejected key steps aside; try the next one at once (it is not the server's fault).
            if len(self.keys) > 1 and self.keys.rejected(api_key) and attempt < self.retry.max_retries + 3:
                return 0.0
            return None
        if not self.retry.should_retry(error, attempt):
            return None
        return self.retry.delay(attempt, error.retry_after)

    # -- streaming ---------------------------------------------------------------------------

    async def stream(self, request: Request) -> AsyncIterator[str]:
        """Stream the text deltas of the first sample. A cache hit yields the whole text at once.
        Errors before the first delta are retried like `complete`; after it, they are raised
        (text already handed out cannot be taken back). The response is recorded and cached when
        the stream is exhausted.

        Yields plain strings, and `LLM.astream` hands this generator to the caller as it is: on a
        streamed request every delta passes through each generator frame in the chain, so the
        chain is as short as it can be (the plugin's, then this one).
        """
        key = self.cache_key(request) if self.cache is not None else None
        if key is not None:
            hit = self.cached(key)
            if hit is not None:
                if hit.texts and hit.texts[0]:
                    yield hit.texts[0]
                return
        texts: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        usage = Usage()
        rate_limit = None
        attempt = 0
        while True:
            api_key, limiter, started, slot = await self._begin_attempt()
            yielded = False
            try:
                chunks = self._hook.llmp_stream(client=self.client(api_key), request=request)
                if chunks is None:
                    raise PluginError(f"No plugin handled llmp_stream for api {self.api!r}.")
                async for chunk in chunks:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.rate_limit is not None:
                        rate_limit = chunk.rate_limit
                    if chunk.finish_reason is not None:
                        finish[chunk.index] = chunk.finish_reason
                    if chunk.text:
                        texts.setdefault(chunk.index, []).append(chunk.text)
                        if chunk.index == 0:
                            yielded = True
                            yield chunk.text
            except ProviderError as error:
                self._release(limiter, slot)
                # Text already handed out cannot be taken back: only a clean start is retried.
                if yielded or not await self._retry_after(error, api_key, limiter, started, attempt):
                    if yielded:
                        self.stats.failures += 1
                    raise
                attempt += 1
                continue
            except BaseException:
                self._release(limiter, slot)
                raise
            self._release(limiter, slot)
            limiter.on_success(rate_limit, usage.input_tokens + usage.output_tokens)
            break
        count = max(request.n, len(texts))
        response = Response(
            ["".join(texts.get(i, ())) for i in range(count)],
            usage,
            [finish.get(i) for i in range(count)],
            rate_limit,
        )
        self.record(response)
        if key is not None:
            self.store(key, response)


def response_to_cache(response: Response) -> dict[str, Any]:
    return {
        "texts": response.texts,
        "finish_reasons": response.finish_reasons,
        "usage": response.usage.to_dict(),
    }


def response_from_cache(value: Mapping[str, Any]) -> Response:
    return Response(
        list(value["texts"]),
        Usage.from_dict(value.get("usage", {})),
        list(value.get("finish_reasons", [])),
    )
