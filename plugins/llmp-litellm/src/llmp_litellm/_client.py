"""The litellm client (`llmp.types.Client`): ``litellm.acompletion`` for Anthropic and for every
provider nobody else serves.

Every call runs on litellm's own event loop (`llmp_litellm._loops` says why) and is awaited from
the caller's. litellm is imported there on the first request: importing it takes seconds, and on
the caller's loop it would stall every other provider's requests in flight (a ``multi_generate``
over OpenAI, Gemini and Anthropic). ``LITELLM_LOCAL_MODEL_COST_MAP`` and
``LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS`` are set first so that litellm reads its bundled price map
and Anthropic beta-header table instead of fetching them from the network.

For Anthropic we hand litellm its HTTP handler (``client=``), one per base URL, kept for the life
of the process and closed at exit; the catch-all cannot (its OpenAI-compatible providers want an
SDK client, others an HTTP handler), and uses litellm's own client cache, which is safe now that
litellm sees a single loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any

from llmp.errors import LLMPError, MalformedResponseError, UnsupportedParameterError
from llmp.types import Capabilities, Chunk, ClientSettings, Request, Response
from llmp_litellm import _conversion as conv
from llmp_litellm import _loops
from llmp_litellm._capabilities import ANTHROPIC_UNSUPPORTED, capabilities_for
from llmp_litellm._errors import translate
from llmp_litellm._requests import completion_kwargs

_import_lock = threading.Lock()
_litellm: ModuleType | None = None


def import_litellm() -> ModuleType:
    """Import litellm, once, set up never to touch the network, and quiet its stdout banners."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            # litellm's bundled Anthropic beta-header table, not a fetch from GitHub on the first
            # Anthropic request (which also stalls that request for up to 5 s offline).
            os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
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
    their requests from litellm's one loop. ``n`` is never sampled here for Anthropic (its API
    has none): the core sends n single-sample requests, each counted and priced."""

    __slots__ = ("_api_key", "_batch", "_caps", "api_base", "provider")

    def __init__(self, settings: ClientSettings) -> None:
        # No I/O and no litellm import here: this runs on the caller's event loop.
        self.provider = settings.provider
        base = settings.base_url
        if base is not None and self.provider == "anthropic":
            # litellm appends /v1/messages; accept the ".../v1" form OpenAI users are used to.
            base = base.rstrip("/").removesuffix("/v1")
        self.api_base = base
        self._api_key = settings.api_key
        self._caps: dict[str, Capabilities] = {}
        self._batch: Any = None

    def __repr__(self) -> str:
        return f"LitellmClient(provider={self.provider!r}, api_base={self.api_base!r})"

    def model_name(self, model: str) -> str:
        return model if self.provider == "litellm" else f"{self.provider}/{model}"

    # -- what it can do ----------------------------------------------------------------------

    def capabilities(self, model: str) -> Capabilities:
        caps = self._caps.get(model)
        if caps is None:
            name = model if self.provider in ("anthropic", "litellm") else self.model_name(model)
            caps = self._caps[model] = capabilities_for(self.provider, name)
        return caps

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.provider == "anthropic":
            refused = sorted(name for name in params if name in ANTHROPIC_UNSUPPORTED)
            if refused:
                raise UnsupportedParameterError(
                    f"anthropic: the Messages API has no {', '.join(refused)} parameter (model {model!r}). "
                    "llmp sends every parameter it is given, never drops one: leave it out of the call "
                    "(and of the LLM's defaults), or send a raw field with extra_body={...}"
                )
        return dict(params)

    @property
    def batch(self) -> Any:
        """Anthropic's Message Batches (`llmp_litellm._batch.MessageBatches`)."""
        if self.provider != "anthropic":
            raise AttributeError(f"{self.provider} has no batch API through llmp-litellm")
        if self._batch is None:
            from llmp_litellm._batch import MessageBatches  # no litellm import: that happens on its loop

            self._batch = MessageBatches(self)
        return self._batch

    async def aclose(self) -> None:
        """Nothing to close per client: litellm's HTTP handlers are shared by base URL and live on
        litellm's loop until the process exits (`_loops` closes them then)."""

    def _kwargs(self, request: Request, stream: bool) -> dict[str, Any]:
        # On litellm's loop: the HTTP handler belongs there.
        return completion_kwargs(
            request,
            provider=self.provider,
            model=self.model_name(request.model),
            api_base=self.api_base,
            api_key=self._api_key,
            client=_anthropic_handler(self.api_base) if self.provider == "anthropic" else None,
            stream=stream,
        )

    # -- requests (awaited on the caller's loop, run on litellm's) ----------------------------

    async def complete(self, request: Request) -> Response:
        return await _loops.run(self._complete(request))

    def stream(self, request: Request) -> AsyncIterator[Chunk]:
        return _loops.stream(self._stream(request))

    async def _complete(self, request: Request) -> Response:
        litellm = import_litellm()
        try:
            raw = await litellm.acompletion(**self._kwargs(request, stream=False))
            return conv.parse_response(raw, self.provider)
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc

    async def _stream(self, request: Request) -> AsyncIterator[Chunk]:
        litellm = import_litellm()
        wrapper = None
        try:
            wrapper = await litellm.acompletion(**self._kwargs(request, stream=True))
            reader = conv.StreamReader(self.provider, wrapper)
            async for raw in wrapper:
                for chunk in reader.chunks(raw):
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
