"""The litellm client: ``litellm.acompletion`` for Anthropic and for every provider nobody else serves.

Every call runs on litellm's own event loop (`llmp_litellm._loops` says why) and is awaited from
the caller's. litellm is imported there on the first request: importing it takes seconds, and on
the caller's loop it would stall every other provider's requests in flight (a ``multi_generate``
over OpenAI, Gemini and Anthropic). ``LITELLM_LOCAL_MODEL_COST_MAP`` is set first so that the
import reads litellm's bundled price map instead of fetching one from the network.

For Anthropic we hand litellm its HTTP handler (``client=``), one per base URL, kept for the life
of the process and closed at exit; the catch-all cannot (its OpenAI-compatible providers want an
SDK client, others an HTTP handler), and uses litellm's own client cache, which is safe now that
litellm sees a single loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from llmp.errors import LLMPError, MalformedResponseError
from llmp.types import Chunk, ClientSettings, Request, Response
from llmp_litellm import _conversion as conv
from llmp_litellm import _loops
from llmp_litellm._errors import translate

_import_lock = threading.Lock()
_litellm: ModuleType | None = None


def import_litellm() -> ModuleType:
    """Import litellm without touching the network, once, and quiet its stdout banners."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            try:
                import litellm
            except ImportError as exc:  # pragma: no cover - exercised only in broken installs
                raise ImportError(
                    f"llmp-litellm needs litellm ({exc.name} is missing): pip install llmp-litellm"
                ) from exc
            # Otherwise every failed call prints "Give Feedback / Get Help" to stdout.
            litellm.suppress_debug_info = True
            _litellm = litellm
    return _litellm


def _cut_short(wrapper: Any) -> bool:
    """Whether a finished litellm stream ended without the provider's stop reason.

    litellm ends a stream quietly when the connection drops or an event is not JSON, and then
    makes up a final ``finish_reason="stop"`` chunk; what the provider actually said it keeps in
    ``received_finish_reason`` / ``intermittent_finish_reason``. A stream without one was cut
    short: an error, not a shorter answer. (A litellm without those attributes cannot tell us.)
    """
    if not hasattr(wrapper, "received_finish_reason"):
        return False
    return not (wrapper.received_finish_reason or getattr(wrapper, "intermittent_finish_reason", None))


# litellm's HTTP handlers for Anthropic, one per base URL, used only on litellm's loop.
_handlers: dict[str | None, Any] = {}


def _anthropic_handler(api_base: str | None) -> Any:
    handler = _handlers.get(api_base)
    if handler is None:
        import httpx
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        # litellm's default transport (aiohttp), with a 15 s connect timeout; each request's read
        # timeout comes from the core.
        handler = _handlers[api_base] = AsyncHTTPHandler(timeout=httpx.Timeout(600.0, connect=15.0))
        if len(_handlers) == 1:
            _loops.on_exit(_close_handlers)
    return handler


async def _close_handlers() -> None:
    while _handlers:
        _, handler = _handlers.popitem()
        await handler.close()


class LitellmClient:
    """One per (provider, base URL, key, event loop) as the core builds them; all of them send
    their requests from litellm's one loop."""

    __slots__ = ("_api_key", "_native_n", "api_base", "provider")

    def __init__(self, settings: ClientSettings) -> None:
        # No I/O and no litellm import here: this runs on the caller's event loop.
        self.provider = settings.provider
        base = settings.base_url
        if base is not None and self.provider == "anthropic":
            # litellm appends /v1/messages; accept the ".../v1" form OpenAI users are used to.
            base = base.rstrip("/").removesuffix("/v1")
        self.api_base = base
        self._api_key = settings.api_key
        self._native_n: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"LitellmClient(provider={self.provider!r}, api_base={self.api_base!r})"

    def model_name(self, model: str) -> str:
        return model if self.provider == "litellm" else f"{self.provider}/{model}"

    def _native(self, litellm: ModuleType, model: str) -> bool:
        """Whether litellm sends ``n`` for this model; if not, `n` is emulated by repeated calls."""
        known = self._native_n.get(model)
        if known is None:
            try:
                params = litellm.get_supported_openai_params(model=model)
            except Exception:
                params = None
            # Unmapped (None): pass n through and let the provider say whether it takes it.
            known = self._native_n[model] = params is None or "n" in params
        return known

    def _kwargs(self, request: Request, n: int, stream: bool) -> dict[str, Any]:
        return conv.completion_kwargs(
            request,
            model=self.model_name(request.model),
            api_base=self.api_base,
            api_key=self._api_key,
            client=_anthropic_handler(self.api_base) if self.provider == "anthropic" else None,
            n=n,
            stream=stream,
        )

    # -- requests (awaited on the caller's loop, run on litellm's) ----------------------------

    async def call(self, request: Request) -> Response:
        return await _loops.run(self._call(request))

    def stream(self, request: Request) -> AsyncIterator[Chunk]:
        return _loops.stream(self._stream_all(request))

    async def _call(self, request: Request) -> Response:
        litellm = import_litellm()
        if request.n == 1 or self._native(litellm, self.model_name(request.model)):
            return await self._complete(litellm, request, request.n)
        # Emulated n: concurrent single calls; the first failure cancels the others.
        tasks = [asyncio.ensure_future(self._complete(litellm, request, 1)) for _ in range(request.n)]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        usage = conv.LitellmUsage()
        for part in parts:
            usage = conv.add_usage(usage, part.usage)
        return Response(
            [text for part in parts for text in part.texts[:1]],
            usage,
            [reason for part in parts for reason in part.finish_reasons[:1]],
            parts[-1].rate_limit,
        )

    async def _complete(self, litellm: ModuleType, request: Request, n: int) -> Response:
        try:
            raw = await litellm.acompletion(**self._kwargs(request, n, stream=False))
            return conv.parse_response(raw)
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc

    async def _stream_all(self, request: Request) -> AsyncIterator[Chunk]:
        litellm = import_litellm()
        if request.n == 1 or self._native(litellm, self.model_name(request.model)):
            async for chunk in self._stream(litellm, request, request.n, 0):
                yield chunk
            return
        # Emulated n: the samples one after another, each under its own index, usage summed last.
        usage = conv.LitellmUsage()
        for index in range(request.n):
            last = None  # a stream's usage chunk is its total so far: keep the last one
            async for chunk in self._stream(litellm, request, 1, index):
                if chunk.usage is not None:
                    last = chunk.usage
                else:
                    yield chunk
            if last is not None:
                usage = conv.add_usage(usage, last)
        yield Chunk(usage=usage)

    async def _stream(
        self, litellm: ModuleType, request: Request, n: int, offset: int
    ) -> AsyncIterator[Chunk]:
        wrapper = None
        try:
            wrapper = await litellm.acompletion(**self._kwargs(request, n, stream=True))
            rate_limit = conv.response_rate_limit(wrapper)
            async for raw in wrapper:
                for chunk in conv.chunks_from(raw, offset):
                    if rate_limit is not None:
                        chunk.rate_limit, rate_limit = rate_limit, None
                    yield chunk
            if _cut_short(wrapper):
                raise MalformedResponseError(
                    "the stream ended before the provider finished the answer (truncated)",
                    provider=self.provider,
                )
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc
        finally:
            if wrapper is not None:
                await wrapper.aclose()
