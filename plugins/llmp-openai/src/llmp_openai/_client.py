"""The OpenAI client: the official SDK's configuration on an httpx2 HTTP/2 connection pool.

The SDK decides everything that is configuration: the base URL, the auth and organization
headers, its ``X-Stainless-*`` headers, timeouts, error bodies and the status-to-exception mapping.
But building a request through it costs more CPU than the whole HTTP/2 exchange that follows
(a pydantic ``FinalRequestOptions`` and its deep copy, a dozen header merges, URL re-parsing:
~0.5 ms per request, bench/spy.py), and for one endpoint its result never changes between
requests of one client: we let the SDK build one request per endpoint and connection, keep its
URL, headers and timeout, and send each request's JSON with them through the same httpx2 client.
Replies are parsed by us, not into pydantic objects (`llmp_openai._response`, bench/sdk_paths.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError, MalformedResponseError
from llmp.headers import rate_limit_info
from llmp.types import Capabilities, Chunk, ClientSettings, Embeddings, EmbedRequest, Request, Response
from llmp_openai._embed import embed_body, parse_embeddings
from llmp_openai._errors import translate
from llmp_openai._hosts import Host, host_for, overridden
from llmp_openai._params import effective_params
from llmp_openai._request import request_body
from llmp_openai._response import chunks_from_event, parse_completion
from llmp_openai._sse import SSEParser

if TYPE_CHECKING:
    import httpx2
    import openai

    from llmp_openai._batch import OpenAIBatch

# The SDK refuses to start without a key; hosts that need none (vLLM, Ollama) ignore this one.
NO_KEY = "no-key-needed"
# httpcore2 multiplexes at most this many streams on one HTTP/2 connection (its local
# SETTINGS_MAX_CONCURRENT_STREAMS) and queues the rest, so past it we open another connection.
STREAMS_PER_CONNECTION = 100
MAX_HTTP2_CONNECTIONS = 16
SPARE_HTTP2_CONNECTIONS = 4
# HTTP/1.1 carries one request per connection: the pool must be as large as the concurrency.
MAX_HTTP1_CONNECTIONS = 1024
CHAT = "/chat/completions"
EMBEDDINGS = "/embeddings"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _import_sdk() -> Any:
    try:
        import httpx2
        import openai
    except ImportError as exc:  # pragma: no cover - exercised only in broken installs
        raise ImportError(
            f"llmp-openai needs the openai SDK and httpx2 ({exc.name} is missing): "
            "pip install 'llmp-openai' (or: pip install 'openai>=3' 'httpx2[http2]')"
        ) from exc
    return openai, httpx2


class _Lane:
    """One SDK client on its own httpx2 client: one HTTP/2 connection (or an HTTP/1.1 pool)."""

    __slots__ = ("_timeouts", "extensions", "http", "in_flight", "sdk", "templates")

    def __init__(self, sdk: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
        self.sdk = sdk
        self.http = http
        self.in_flight = 0
        self.templates: dict[str, tuple[httpx2.URL, httpx2.Headers]] = {}
        self.extensions: dict[str, Any] = {}
        self._timeouts: dict[float | None, dict[str, Any]] = {}

    async def prepare(self, path: str) -> tuple[httpx2.URL, httpx2.Headers]:
        """Have the SDK build a POST to `path` (its own hooks included); keep its parts.

        Valid for every later request because we construct the SDK with a fixed key and no
        per-request auth (workload identity, key provider), so its headers cannot change.
        """
        from openai._models import FinalRequestOptions

        sdk = self.sdk
        # The security option is what `chat.completions.create` passes: the bearer key only.
        options = FinalRequestOptions.construct(
            method="post", url=path, json_data={}, security={"bearer_auth": True}
        )
        options = await sdk._prepare_options(options)
        request = sdk._build_request(options)
        await sdk._prepare_request(request)
        headers = request.headers.copy()
        del headers["content-length"]  # the template's body was ``{}``; each request sets its own
        self.extensions = dict(request.extensions)
        template = self.templates[path] = (request.url, headers)
        return template

    async def send(
        self, content: bytes, seconds: float | None, *, stream: bool, path: str = CHAT
    ) -> httpx2.Response:
        """POST one body to `path` (``seconds``: the request's timeout, None for the client's);
        a non-2xx reply raises the SDK's own exception."""
        import httpx2

        template = self.templates.get(path)
        if template is None:
            template = await self.prepare(path)
        extensions = self.extensions if seconds is None else self._timeouts.get(seconds)
        if extensions is None:
            # Built once per timeout value (every request carries one, the LLM's default 600 s
            # included); httpx2.Request copies the mapping, so sharing it is safe.
            extensions = {**self.extensions, "timeout": httpx2.Timeout(seconds).as_dict()}
            self._timeouts[seconds] = extensions
        request = httpx2.Request(
            "POST", template[0], headers=template[1], content=content, extensions=extensions
        )
        response = await self.http.send(request, stream=stream)
        if not 200 <= response.status_code < 300:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise self.sdk._make_status_error_from_response(response)
        return response


class OpenAIClient:
    """A `llmp.types.Client` for OpenAI and OpenAI-compatible hosts; one per (provider, base URL,
    key, event loop), kept and reused by the core.

    `host` says what the host can do and its wire quirks (default: llmp-openai's row for the
    settings' provider, `llmp_openai.HOSTS`); llmp-together passes its own. Over HTTP/2 it starts
    with one connection and adds another (up to 16) only when every connection already carries
    `STREAMS_PER_CONNECTION` requests, so low concurrency shares one connection and c=512 is not
    capped at 100 in flight.
    """

    __slots__ = ("_caps", "_lanes", "_settings", "extra_body", "host", "http2", "provider")

    def __init__(self, settings: ClientSettings, *, http2: bool = True, host: Host | None = None) -> None:
        _import_sdk()
        if settings.provider == "ollama" and settings.base_url and not settings.base_url.endswith("/v1"):
            # litellm's OLLAMA_API_BASE is the server's root; its OpenAI-compatible API is /v1.
            from dataclasses import replace

            settings = replace(settings, base_url=settings.base_url.rstrip("/") + "/v1")
        self._settings = settings
        self.provider = settings.provider
        self.http2 = http2
        self.host = host or host_for(settings.provider)
        self.extra_body: Mapping[str, Any] | None = settings.options.get("extra_body")
        self._caps: dict[str, Capabilities] = {}
        self._lanes = [self._new_lane()]

    def _new_lane(self) -> _Lane:
        openai, httpx2 = _import_sdk()
        # An HTTP/2 lane multiplexes on one connection, but may need a fresh one when that one
        # becomes unusable (closed by the server, or left with abandoned streams after timeouts).
        limit = SPARE_HTTP2_CONNECTIONS if self.http2 else MAX_HTTP1_CONNECTIONS
        http_client = httpx2.AsyncClient(
            http2=self.http2,
            limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
            timeout=httpx2.Timeout(600.0, connect=15.0),
        )
        sdk = openai.AsyncOpenAI(
            api_key=self._settings.api_key or NO_KEY,
            base_url=self._settings.base_url,
            max_retries=0,  # the core retries, with its own backoff and key rotation
            http_client=http_client,
        )
        return _Lane(sdk, http_client)

    def _lane(self) -> _Lane:
        lanes = self._lanes
        best = lanes[0] if len(lanes) == 1 else min(lanes, key=_in_flight)
        if best.in_flight >= STREAMS_PER_CONNECTION and self.http2 and len(lanes) < MAX_HTTP2_CONNECTIONS:
            best = self._new_lane()
            lanes.append(best)
        return best

    @property
    def connections(self) -> int:
        return len(self._lanes)

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

    # -- requests ----------------------------------------------------------------------------

    def body(self, request: Request, *, stream: bool) -> dict[str, Any]:
        """The JSON body of `request` as this client sends it (a batch line's body too)."""
        return request_body(request, self.host, self.extra_body, stream=stream, provider=self.provider)

    async def _post(
        self, content: bytes, seconds: float | None, *, stream: bool, path: str = CHAT
    ) -> tuple[_Lane, httpx2.Response]:
        """POST on the least busy lane, which stays counted in flight (the caller gives it
        back); the SDK's and transport's errors come out as `llmp.errors`."""
        lane = self._lane()
        lane.in_flight += 1
        try:
            return lane, await lane.send(content, seconds, stream=stream, path=path)
        except BaseException as exc:
            lane.in_flight -= 1
            error = translate(exc, self.provider) if isinstance(exc, Exception) else None
            if error is None:
                raise
            raise error from exc

    async def complete(self, request: Request) -> Response:
        content = _dumps(self.body(request, stream=False)).encode()
        lane, raw = await self._post(content, request.timeout, stream=False)
        lane.in_flight -= 1
        response = parse_completion(raw.content, self.provider)
        headers = raw.headers
        response.rate_limit = rate_limit_info(headers)
        response.http_version = raw.http_version
        response.request_id = headers.get("x-request-id")
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        # One generator from bytes to chunks: the SSE parser is a plain object, not another
        # async generator in the chain each event passes through.
        provider = self.provider
        content = _dumps(self.body(request, stream=True)).encode()
        raw = None
        lane: _Lane | None = None
        try:
            lane, raw = await self._post(content, request.timeout, stream=True)
            headers = raw.headers
            # Uncompressed bodies (OpenAI's SSE) skip httpx2's decoder and re-chunking layers.
            body = raw.aiter_bytes() if "content-encoding" in headers else raw.aiter_raw()
            parser = SSEParser()
            head = True
            # Read to the end even after [DONE] (the parser ignores the rest): over HTTP/1.1 a
            # body left unread makes httpcore2 close the connection instead of reusing it.
            async for data in body:
                for payload in parser.feed(data):
                    chunks = chunks_from_event(payload, provider, head)
                    if head:
                        first = chunks[0]
                        first.rate_limit = rate_limit_info(headers)
                        first.http_version = raw.http_version
                        head = False
                    for chunk in chunks:
                        yield chunk
            if not parser.done:
                # A stream that just stops is truncated: an error, not a shorter answer.
                raise MalformedResponseError("the stream ended without [DONE] (truncated)", provider=provider)
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc
        finally:
            if lane is not None:
                lane.in_flight -= 1
            if raw is not None:
                await raw.aclose()

    async def embed(self, request: EmbedRequest) -> Embeddings:
        content = _dumps(embed_body(request)).encode()
        lane, raw = await self._post(content, request.timeout, stream=False, path=EMBEDDINGS)
        lane.in_flight -= 1
        return parse_embeddings(raw.content, len(request.inputs), self.provider)

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.sdk.close()


def _in_flight(lane: _Lane) -> int:
    return lane.in_flight
