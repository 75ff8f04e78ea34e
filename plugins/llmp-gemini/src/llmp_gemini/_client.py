"""The Gemini client: ``generateContent`` requests as google-genai sends them, over
`llmp.wire.Lanes` (httpx2, HTTP/2), without importing google-genai.

Sending through google-genai costs ~3x the CPU of the HTTP/2 exchange itself on a streamed
request (it parses each event, dumps it back to JSON, parses and validates it again into pydantic
models), and ~1.5x without streaming (config validation and conversion): bench/gemini.py; and
importing it most of a cold start (bench/startup.py). So we build the request it would send once
per (model, streaming, timeout), URL and headers included (`llmp_gemini._sdk_request`), send our
own JSON body (`llmp_gemini._conversion.rest_body`) with it, and read replies as JSON
(`llmp_gemini._responses`); errors are `llmp.wire`'s (`llmp_gemini._errors`). google-genai is
imported only for the batch API (`llmp_gemini._batch`), through `GeminiClient.sdk`.

Transport: `llmp.wire.Lanes`, never aiohttp (which google-genai picks whenever it is importable,
e.g. next to litellm). httpcore2 multiplexes at most 100 streams on one HTTP/2 connection and
never opens a second to the same origin, so past that the lanes add another connection. Where
HTTP/2 is not negotiated (an ``http://`` base URL, or a server answering HTTP/1.1) each request
needs its own connection, so the pool is sized for as many as the core lets run at once
(`MAX_HTTP1_CONNECTIONS`; the core's ``max_concurrent`` is the real bound).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError
from llmp.types import Capabilities, Chunk, ClientSettings, Request, Response
from llmp.wire import Lanes, SSEDecoder, error_from_transport, send_checked
from llmp_gemini import _models, _thinking
from llmp_gemini._conversion import check_params, rest_body
from llmp_gemini._errors import CODES
from llmp_gemini._responses import StreamState, load, parse_response
from llmp_gemini._sdk_request import api_version, sdk_headers, split_base_url, timeout_seconds, url_for

if TYPE_CHECKING:
    import httpx2
    from google import genai

    from llmp_gemini._batch import GeminiBatch

# google-genai refuses to start without a key, so it was handed this one for a keyless gateway,
# which ignores it; we send the same.
NO_KEY = "no-key-needed"
MAX_HTTP2_CONNECTIONS = 16
# Over HTTP/1.1 each request needs a connection of its own: the pool holds as many as the core
# lets run at once (its max_concurrent bounds them).
MAX_HTTP1_CONNECTIONS = 1024
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 600.0
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _import_httpx2() -> Any:
    try:
        import httpx2
    except ImportError as exc:  # pragma: no cover - exercised only in broken installs
        raise ImportError(
            "llmp-gemini needs httpx2: pip install 'llmp-gemini' (or: pip install 'httpx2[http2]')"
        ) from exc
    return httpx2


class _Template:
    """The request google-genai would build for one (model, streaming, timeout)."""

    __slots__ = ("extensions", "headers", "url")

    def __init__(self, built: httpx2.Request) -> None:
        headers = built.headers.copy()
        del headers["content-length"]  # the template's body is empty; each request sets its own
        self.url, self.headers, self.extensions = built.url, headers, dict(built.extensions)


class GeminiClient:
    """One per (provider, base URL, key, event loop); the core keeps and reuses it."""

    __slots__ = (
        "_batch",
        "_key",
        "_lanes",
        "_sdk",
        "_sdk_http",
        "_templates",
        "api_version",
        "base_url",
        "provider",
    )

    def __init__(self, settings: ClientSettings) -> None:
        transport = _import_httpx2()
        self.provider = settings.provider
        base_url, named_version = split_base_url(settings.base_url)
        #: The origin (and path) before the API version, as google-genai takes it.
        self.base_url = base_url
        #: The API version requests go to (see `llmp_gemini._sdk_request.api_version`).
        self.api_version = api_version(named_version)
        self._key = settings.api_key or NO_KEY
        # No connection opens until the first request; plain http:// never negotiates HTTP/2.
        self._lanes = Lanes(
            base_url,
            max_concurrency=MAX_HTTP1_CONNECTIONS,
            max_connections=MAX_HTTP2_CONNECTIONS,
            timeout=transport.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        )
        self._templates: dict[tuple[str, bool, float | None], _Template] = {}
        self._batch: GeminiBatch | None = None
        self._sdk: genai.Client | None = None
        self._sdk_http: httpx2.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"GeminiClient(provider={self.provider!r}, base_url={self.base_url!r})"

    # ----- what the core asks once per model -----

    def capabilities(self, model: str) -> Capabilities:
        return _models.capabilities(model)

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` checked, with the default thinking budget written in (so the cache key names it)."""
        check_params(params)
        return _thinking.effective_params(model, params)

    @property
    def batch(self) -> GeminiBatch:
        """Gemini batch mode (half price): `llmp_gemini._batch.GeminiBatch`."""
        if self._batch is None:
            from llmp_gemini._batch import GeminiBatch

            self._batch = GeminiBatch(self)
        return self._batch

    @property
    def sdk(self) -> Any:
        """google-genai's ``genai.Client`` for this host and key, built (and google-genai imported) on first
        use: only the batch API needs it. On an httpx2 client of its own (so never aiohttp), with
        its retries off (``HttpRetryOptions(attempts=1)``): the core alone retries."""
        if self._sdk is None:
            try:
                from google import genai
                from google.genai import types
            except ImportError as exc:  # pragma: no cover - exercised only in broken installs
                raise ImportError(
                    "llmp-gemini's batch API needs google-genai: pip install 'llmp-gemini' "
                    "(or: pip install 'google-genai>=3')"
                ) from exc
            httpx2 = _import_httpx2()
            http = httpx2.AsyncClient(
                http2=True, timeout=httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
            )
            self._sdk_http = http  # google-genai leaves a client it was handed to us to close
            options = types.HttpOptions(
                base_url=self.base_url,
                api_version=self.api_version,
                httpx_async_client=http,
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            # vertexai=False explicitly, so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot
            # send Gemini API keys to Vertex AI.
            self._sdk = genai.Client(api_key=self._key, vertexai=False, http_options=options)
        return self._sdk

    # ----- connections -----

    @property
    def connections(self) -> int:
        """Connections (HTTP/2) or pools (HTTP/1.1) open to the host now."""
        return self._lanes.connections

    def _template(self, model: str, stream: bool, timeout: float | None) -> _Template:
        key = (model, stream, timeout)
        template = self._templates.get(key)
        if template is None:
            seconds = timeout_seconds(timeout)
            built = self._lanes.build_request(
                "POST",
                url_for(self.base_url, self.api_version, model, stream=stream),
                headers=sdk_headers(self._key, seconds),
                timeout=seconds,  # None: no timeout at all, as google-genai sends without one
            )
            template = self._templates[key] = _Template(built)
        return template

    async def _send(self, request: Request, *, stream: bool) -> httpx2.Response:
        """POST `request`; a non-2xx reply, or a transport failure, raises the `llmp.errors`
        class it means."""
        import httpx2

        template = self._template(request.model, stream, request.timeout)
        content = _dumps(rest_body(request)).encode()
        http_request = httpx2.Request(
            "POST", template.url, headers=template.headers, content=content, extensions=template.extensions
        )
        return await send_checked(self._lanes, http_request, self.provider, stream=stream, codes=CODES)

    # ----- requests -----

    async def complete(self, request: Request) -> Response:
        raw = await self._send(request, stream=False)
        data = load(raw.content, self.provider)
        return parse_response(data, request.n, self.provider, raw.http_version)

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        # One generator from bytes to chunks: the SSE decoder is a plain object.
        provider = self.provider
        raw = None
        try:
            raw = await self._send(request, stream=True)
            state = StreamState(raw.http_version)
            # Uncompressed bodies skip httpx2's decoder and re-chunking layers.
            body = raw.aiter_bytes() if "content-encoding" in raw.headers else raw.aiter_raw()
            decoder = SSEDecoder(provider=provider)
            async for data in body:
                for event in decoder.feed(data):
                    for chunk in state.chunks(load(event.data, provider)):
                        yield chunk
            # Gemini ends a stream by closing it, so its last event may lack the blank line.
            for event in decoder.close():
                for chunk in state.chunks(load(event.data, provider)):
                    yield chunk
        except LLMPError:
            raise
        except Exception as exc:
            error = error_from_transport(exc, provider)
            if error is None:
                raise
            raise error from exc
        finally:
            if raw is not None:
                await raw.aclose()  # releases the HTTP/2 stream if we stop early
        for chunk in state.end(request.n, provider):
            yield chunk

    async def aclose(self) -> None:
        await self._lanes.aclose()
        if self._sdk_http is not None:
            await self._sdk_http.aclose()
