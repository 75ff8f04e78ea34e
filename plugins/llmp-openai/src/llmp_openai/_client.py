"""The OpenAI client: the official SDK's configuration on an httpx2 HTTP/2 connection pool.

The SDK decides everything that is configuration: the base URL, the auth and organization
headers, its ``X-Stainless-*`` headers, timeouts, error bodies and the status-to-exception mapping.
But building a request through it costs more CPU than the whole HTTP/2 exchange that follows
(a pydantic ``FinalRequestOptions`` and its deep copy, a dozen header merges, URL re-parsing:
~0.5 ms per request, bench/spy.py), and for chat completions its result never changes between
requests of one client: we let the SDK build one request per connection, keep its URL, headers
and timeout, and send each request's JSON with them through the same httpx2 client. Replies are
parsed by us, not into pydantic objects (`llmp_openai._conversion`, bench/sdk_paths.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError, MalformedResponseError
from llmp.headers import rate_limit_info
from llmp.types import Chunk, ClientSettings, Request, Response
from llmp_openai._conversion import SSEParser, chunks_from_event, parse_completion, request_body
from llmp_openai._errors import translate

if TYPE_CHECKING:
    import httpx2
    import openai

# The SDK refuses to start without a key; hosts that need none (vLLM, Ollama) ignore this one.
NO_KEY = "no-key-needed"
# httpcore2 multiplexes at most this many streams on one HTTP/2 connection (its local
# SETTINGS_MAX_CONCURRENT_STREAMS) and queues the rest, so past it we open another connection.
STREAMS_PER_CONNECTION = 100
MAX_HTTP2_CONNECTIONS = 16
SPARE_HTTP2_CONNECTIONS = 4
# HTTP/1.1 carries one request per connection: the pool must be as large as the concurrency.
MAX_HTTP1_CONNECTIONS = 1024


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

    __slots__ = ("_timeouts", "extensions", "headers", "http", "in_flight", "sdk", "url")

    def __init__(self, sdk: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
        self.sdk = sdk
        self.http = http
        self.in_flight = 0
        self.url: httpx2.URL | None = None
        self.headers: httpx2.Headers | None = None
        self.extensions: dict[str, Any] = {}
        self._timeouts: dict[float | None, dict[str, Any]] = {}

    async def prepare(self) -> None:
        """Have the SDK build a chat completions request (its own hooks included); keep its parts.

        Valid for every later request because we construct the SDK with a fixed key and no
        per-request auth (workload identity, key provider), so its headers cannot change.
        """
        from openai._models import FinalRequestOptions

        sdk = self.sdk
        # The security option is what `chat.completions.create` passes: the bearer key only.
        options = FinalRequestOptions.construct(
            method="post", url="/chat/completions", json_data={}, security={"bearer_auth": True}
        )
        options = await sdk._prepare_options(options)
        request = sdk._build_request(options)
        await sdk._prepare_request(request)
        headers = request.headers.copy()
        del headers["content-length"]  # the template's body was ``{}``; each request sets its own
        self.url, self.headers, self.extensions = request.url, headers, dict(request.extensions)

    async def send(self, content: bytes, seconds: float | None, *, stream: bool) -> httpx2.Response:
        """POST one chat completions body (``seconds``: the request's timeout, None for the
        client's); a non-2xx reply raises the SDK's own exception."""
        import httpx2

        if self.headers is None:
            await self.prepare()
        extensions = self.extensions if seconds is None else self._timeouts.get(seconds)
        if extensions is None:
            # Built once per timeout value (every request carries one, the LLM's default 600 s
            # included); httpx2.Request copies the mapping, so sharing it is safe.
            extensions = {**self.extensions, "timeout": httpx2.Timeout(seconds).as_dict()}
            self._timeouts[seconds] = extensions
        request = httpx2.Request(
            "POST", self.url, headers=self.headers, content=content, extensions=extensions
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
    """One per (provider, base URL, key, event loop); the core keeps and reuses it.

    Over HTTP/2 it starts with one connection and adds another (up to 16) only when every
    connection already carries `STREAMS_PER_CONNECTION` requests, so low concurrency shares one
    connection and c=512 is not capped at 100 in flight.
    """

    __slots__ = ("_lanes", "_settings", "extra_body", "http2", "provider")

    def __init__(self, settings: ClientSettings, *, http2: bool = True) -> None:
        _import_sdk()
        self._settings = settings
        self.provider = settings.provider
        self.http2 = http2
        self.extra_body: Mapping[str, Any] | None = settings.options.get("extra_body")
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

    def _content(self, request: Request, *, stream: bool) -> bytes:
        body = request_body(request, self.provider, self.extra_body, stream=stream)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def call(self, request: Request) -> Response:
        content = self._content(request, stream=False)
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await lane.send(content, request.timeout, stream=False)
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc
        finally:
            lane.in_flight -= 1
        response = parse_completion(raw.content, self.provider)
        response.rate_limit = rate_limit_info(raw.headers)
        response.http_version = raw.http_version
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        # One generator from bytes to chunks: the SSE parser is a plain object, not another
        # async generator in the chain each event passes through.
        provider = self.provider
        content = self._content(request, stream=True)
        raw = None
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await lane.send(content, request.timeout, stream=True)
            rate_limit = rate_limit_info(raw.headers)
            # Uncompressed bodies (OpenAI's SSE) skip httpx2's decoder and re-chunking layers.
            body = raw.aiter_bytes() if "content-encoding" in raw.headers else raw.aiter_raw()
            parser = SSEParser()
            # Read to the end even after [DONE] (the parser ignores the rest): over HTTP/1.1 a
            # body left unread makes httpcore2 close the connection instead of reusing it.
            async for data in body:
                for payload in parser.feed(data):
                    for chunk in chunks_from_event(payload, provider):
                        if rate_limit is not None:
                            chunk.rate_limit, rate_limit = rate_limit, None
                        yield chunk
            if not parser.done:
                # A stream that just stops is truncated: an error, not a shorter answer.
                raise MalformedResponseError("the stream ended without [DONE] (truncated)", provider=provider)
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, provider)
            if error is None:
                raise
            raise error from exc
        finally:
            lane.in_flight -= 1
            if raw is not None:
                await raw.aclose()

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.sdk.close()


def _in_flight(lane: _Lane) -> int:
    return lane.in_flight
