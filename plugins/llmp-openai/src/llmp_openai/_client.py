"""The OpenAI client: Chat Completions and embeddings as the openai SDK sends them, over
`llmp.wire.Lanes` (httpx2, HTTP/2), without importing the SDK.

Building a request through the SDK cost more CPU than the whole HTTP/2 exchange that follows (a
pydantic ``FinalRequestOptions`` and its deep copy, a dozen header merges, URL re-parsing: ~0.5 ms
per request, bench/spy.py), and importing it most of a cold start. For one endpoint its request
never changes between requests of one client but for the body, so we build that request once
per endpoint, with the URL and headers the SDK would send (`llmp_openai._sdk_headers`), and send
each request's JSON with them. Replies are parsed by us, not into pydantic objects
(`llmp_openai._response`); errors are `llmp.wire`'s (`llmp_openai._errors`). The SDK is imported
only for OpenAI's batch API (`llmp_openai._batch`), which uses its file uploads.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError, MalformedResponseError
from llmp.types import Capabilities, Chunk, ClientSettings, Embeddings, EmbedRequest, Request, Response
from llmp.wire import Lanes, SSEDecoder, error_from_transport, rate_limit_info, send_checked
from llmp_openai._embed import embed_body, parse_embeddings
from llmp_openai._errors import CODES
from llmp_openai._hosts import Host, host_for, overridden
from llmp_openai._params import effective_params
from llmp_openai._request import request_body
from llmp_openai._response import chunks_from_event, parse_completion
from llmp_openai._sdk_headers import base_url, sdk_headers, url_for

if TYPE_CHECKING:
    import httpx2
    import openai

    from llmp_openai._batch import OpenAIBatch

# The SDK refuses to start without a key, so it sent this one to hosts that need none (vLLM,
# Ollama), which ignore it; we send the same.
NO_KEY = "no-key-needed"
# Connections to one host over HTTP/2: another opens when every one carries httpcore2's 100
# streams (`llmp.wire.Lanes`). Over HTTP/1.1 one pool holds as many as the core lets run at once.
MAX_HTTP2_CONNECTIONS = 16
MAX_HTTP1_CONNECTIONS = 1024
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 600.0
CHAT = "/chat/completions"
EMBEDDINGS = "/embeddings"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _import_httpx2() -> Any:
    try:
        import httpx2
    except ImportError as exc:  # pragma: no cover - exercised only in broken installs
        raise ImportError(
            "llmp-openai needs httpx2: pip install 'llmp-openai' (or: pip install 'httpx2[http2]')"
        ) from exc
    return httpx2


class _Endpoint:
    """One endpoint's request as the SDK builds it: URL, headers, and timeout extensions."""

    __slots__ = ("extensions", "headers", "timeouts", "url")

    def __init__(self, template: httpx2.Request) -> None:
        headers = template.headers.copy()
        del headers["content-length"]  # the template's body is empty; each request sets its own
        self.url = template.url
        self.headers = headers
        self.extensions = dict(template.extensions)
        # One extensions dict per timeout value (every request carries one, the LLM's default
        # 600 s included); httpx2.Request copies the mapping, so sharing it is safe.
        self.timeouts: dict[float, dict[str, Any]] = {}


class OpenAIClient:
    """A `llmp.types.Client` for OpenAI and OpenAI-compatible hosts; one per (provider, base URL,
    key, event loop), kept and reused by the core.

    `host` says what the host can do and its wire quirks (default: llmp-openai's row for the
    settings' provider, `llmp_openai.HOSTS`); llmp-together passes its own. Over HTTP/2 it starts
    with one connection and adds another (up to 16) only when every connection already carries
    100 requests, so low concurrency shares one connection and c=512 is not capped at 100 in flight.
    """

    __slots__ = (
        "_caps",
        "_endpoints",
        "_lanes",
        "_sdk",
        "_settings",
        "base_url",
        "extra_body",
        "host",
        "http2",
        "provider",
    )

    def __init__(self, settings: ClientSettings, *, http2: bool = True, host: Host | None = None) -> None:
        httpx2 = _import_httpx2()
        if settings.provider == "ollama" and settings.base_url and not settings.base_url.endswith("/v1"):
            # litellm's OLLAMA_API_BASE is the server's root; its OpenAI-compatible API is /v1.
            from dataclasses import replace

            settings = replace(settings, base_url=settings.base_url.rstrip("/") + "/v1")
        self._settings = settings
        self.provider = settings.provider
        self.http2 = http2
        self.host = host or host_for(settings.provider)
        self.extra_body: Mapping[str, Any] | None = settings.options.get("extra_body")
        self.base_url = base_url(settings.base_url)
        self._caps: dict[str, Capabilities] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._sdk: openai.AsyncOpenAI | None = None
        # No connection opens until the first request.
        self._lanes = Lanes(
            self.base_url,
            http2=http2,
            max_concurrency=MAX_HTTP1_CONNECTIONS,
            max_connections=MAX_HTTP2_CONNECTIONS,
            timeout=httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    @property
    def connections(self) -> int:
        """Connections (HTTP/2) or pools (HTTP/1.1) open to the host now."""
        return self._lanes.connections

    def __repr__(self) -> str:
        return f"OpenAIClient(provider={self.provider!r}, base_url={self._settings.base_url!r})"

    # -- what this client can do -------------------------------------------------------------

    def capabilities(self, model: str) -> Capabilities:
        caps = self._caps.get(model)
        if caps is None:
            caps = self.host.capabilities_for(model)
            caps = overridden(caps, self._settings.options.get("capabilities"), self.provider)
            self._caps[model] = caps
        return caps

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return effective_params(self.provider, self.host, model, params)

    @property
    def batch(self) -> OpenAIBatch:
        """OpenAI's Batch API; only OpenAI itself has one (compatible hosts share this client but
        not that endpoint), so for them there is no `batch` at all."""
        if not self.host.batch:
            raise AttributeError(f"{self.provider} has no batch API")
        from llmp_openai._batch import OpenAIBatch

        return OpenAIBatch(self)

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        """The openai SDK's client for this host and key (built, and the SDK imported, on first
        use: only the batch API needs it), on an httpx2 client of its own; its retries are off."""
        if self._sdk is None:
            try:
                import openai
            except ImportError as exc:  # pragma: no cover - exercised only in broken installs
                raise ImportError(
                    "llmp-openai's batch API needs the openai SDK: pip install 'llmp-openai' "
                    "(or: pip install 'openai>=3')"
                ) from exc
            httpx2 = _import_httpx2()
            http = httpx2.AsyncClient(
                http2=self.http2, timeout=httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
            )
            self._sdk = openai.AsyncOpenAI(
                api_key=self._settings.api_key or NO_KEY,
                base_url=self._settings.base_url,
                max_retries=0,  # the core retries, with its own backoff and key rotation
                http_client=http,
            )
        return self._sdk

    # -- requests ----------------------------------------------------------------------------

    def body(self, request: Request, *, stream: bool) -> dict[str, Any]:
        """The JSON body of `request` as this client sends it (a batch line's body too)."""
        return request_body(request, self.host, self.extra_body, stream=stream, provider=self.provider)

    def _endpoint(self, path: str) -> _Endpoint:
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            headers = sdk_headers(self._settings.api_key or NO_KEY, READ_TIMEOUT)
            template = self._lanes.build_request("POST", url_for(self.base_url, path), headers=headers)
            endpoint = self._endpoints[path] = _Endpoint(template)
        return endpoint

    async def _post(
        self, content: bytes, seconds: float | None, *, stream: bool, path: str = CHAT
    ) -> httpx2.Response:
        """POST one body to `path` (``seconds``: the request's timeout, None for the client's);
        a non-2xx reply, or a transport failure, raises the `llmp.errors` class it means."""
        import httpx2

        endpoint = self._endpoint(path)
        if seconds is None:
            extensions = endpoint.extensions
        else:
            cached = endpoint.timeouts.get(seconds)
            if cached is None:
                timeout = httpx2.Timeout(seconds).as_dict()
                cached = endpoint.timeouts[seconds] = {**endpoint.extensions, "timeout": timeout}
            extensions = cached
        request = httpx2.Request(
            "POST", endpoint.url, headers=endpoint.headers, content=content, extensions=extensions
        )
        return await send_checked(self._lanes, request, self.provider, stream=stream, codes=CODES)

    async def complete(self, request: Request) -> Response:
        content = _dumps(self.body(request, stream=False)).encode()
        raw = await self._post(content, request.timeout, stream=False)
        response = parse_completion(raw.content, self.provider)
        headers = raw.headers
        response.rate_limit = rate_limit_info(headers)
        response.http_version = raw.http_version
        response.request_id = headers.get("x-request-id")
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        # One generator from bytes to chunks: the SSE decoder is a plain object, not another
        # async generator in the chain each event passes through.
        provider = self.provider
        content = _dumps(self.body(request, stream=True)).encode()
        raw = None
        try:
            raw = await self._post(content, request.timeout, stream=True)
            # Uncompressed bodies (OpenAI's SSE) skip httpx2's decoder and re-chunking layers.
            body = raw.aiter_bytes() if "content-encoding" in raw.headers else raw.aiter_raw()
            decoder = SSEDecoder(sentinel="[DONE]", provider=provider)
            head = True
            # Read to the end even after [DONE] (the decoder ignores the rest): over HTTP/1.1 a
            # body left unread makes httpcore2 close the connection instead of reusing it.
            async for data in body:
                for event in decoder.feed(data):
                    chunks = chunks_from_event(event.data, provider, head)
                    if head:
                        _first(chunks[0], raw)
                        head = False
                    for chunk in chunks:
                        yield chunk
            for event in decoder.close():  # a last event the stream did not end with a blank line
                chunks = chunks_from_event(event.data, provider, head)
                if head:
                    _first(chunks[0], raw)
                    head = False
                for chunk in chunks:
                    yield chunk
            if not decoder.done:
                # A stream that just stops is truncated: an error, not a shorter answer.
                raise MalformedResponseError("the stream ended without [DONE] (truncated)", provider=provider)
        except LLMPError:
            raise
        except Exception as exc:
            error = error_from_transport(exc, provider)
            if error is None:
                raise
            raise error from exc
        finally:
            if raw is not None:
                await raw.aclose()

    async def embed(self, request: EmbedRequest) -> Embeddings:
        content = _dumps(embed_body(request)).encode()
        raw = await self._post(content, request.timeout, stream=False, path=EMBEDDINGS)
        return parse_embeddings(raw.content, len(request.inputs), self.provider)

    async def aclose(self) -> None:
        await self._lanes.aclose()
        if self._sdk is not None:
            await self._sdk.close()


def _first(chunk: Chunk, raw: httpx2.Response) -> None:
    """What the first chunk of a stream carries about the exchange."""
    chunk.rate_limit = rate_limit_info(raw.headers)
    chunk.http_version = raw.http_version
