"""The Gemini client: google-genai's configuration, our own requests over httpx2 HTTP/2.

google-genai decides the configuration: the base URL and API version, the model path, the key
and ``x-goog-api-client`` headers, the server timeout header, and the error objects. But sending
through it costs ~3x the CPU of the HTTP/2 exchange itself on a streamed request (it parses
each event, dumps it back to JSON, parses and validates it again into pydantic models), and ~1.5x
without streaming (config validation and conversion): bench/gemini.py. So we let the SDK build
one request per (model, streaming, timeout), keep its URL and headers, and send our own JSON body
(`llmp_gemini._conversion.rest_body`) through httpx2; replies are read as JSON
(`llmp_gemini._responses`). The batch API still goes through the SDK (`llmp_gemini._batch`).

Transport: our own ``httpx2.AsyncClient(http2=True)``, never aiohttp (which google-genai picks
whenever it is importable, e.g. next to litellm). httpcore2 multiplexes at most 100 streams on one
HTTP/2 connection and never opens a second to the same origin, so past that we add another
client (another connection), as llmp-openai does. Where HTTP/2 is not negotiated (an ``http://``
base URL, or a server answering HTTP/1.1) each request needs its own connection, so the pool is
sized for as many as the core lets run at once (`MAX_HTTP1_CONNECTIONS`; the core's
``max_concurrent`` is the real bound). The SDK's own retries are off
(``HttpRetryOptions(attempts=1)``): the core alone retries, with its own backoff and key rotation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError
from llmp.types import Capabilities, Chunk, ClientSettings, Request, Response
from llmp_gemini import _models, _thinking
from llmp_gemini._conversion import check_params, rest_body
from llmp_gemini._errors import translate
from llmp_gemini._responses import SSEEvents, StreamState, load, parse_response
from llmp_gemini._routes import GEMINI_BASE_URL

if TYPE_CHECKING:
    import httpx2

    from llmp_gemini._batch import GeminiBatch

# google-genai refuses to start without a key; a keyless gateway ignores this one.
NO_KEY = "no-key-needed"
# httpcore2's per-connection stream limit (its local SETTINGS_MAX_CONCURRENT_STREAMS).
STREAMS_PER_CONNECTION = 100
MAX_HTTP2_CONNECTIONS = 16
# Spare connections per lane, for when one becomes unusable (closed by the server, or left with
# abandoned streams after timeouts, which httpcore2 never resets).
SPARE_CONNECTIONS = 4
# Over HTTP/1.1 (an http:// gateway or proxy, or a server that does not negotiate HTTP/2) each
# request needs a connection of its own: the pool must hold as many as the core lets run at once
# (its max_concurrent bounds them), not HTTP/2's few spares.
MAX_HTTP1_CONNECTIONS = 1024
# "https://host/v1beta" names the API version too; google-genai wants it apart from the origin.
_VERSIONED = re.compile(r"^(?P<base>.*?)/(?P<version>v\d+(?:(?:alpha|beta)\d*)?)/?$")


def _import_sdk() -> tuple[Any, Any, Any]:
    try:
        import httpx2
        from google import genai
        from google.genai import types
    except ImportError as exc:  # pragma: no cover - exercised only in broken installs
        raise ImportError(
            f"llmp-gemini needs google-genai and httpx2 ({exc.name} is missing): "
            "pip install 'llmp-gemini' (or: pip install 'google-genai>=3' 'httpx2[http2]')"
        ) from exc
    return genai, types, httpx2


def split_base_url(base_url: str | None) -> tuple[str, str | None]:
    """``"https://h/v1beta"`` -> ``("https://h", "v1beta")``; no version -> the SDK's default."""
    url = (base_url or GEMINI_BASE_URL).rstrip("/")
    match = _VERSIONED.match(url)
    if match is None:
        return url, None
    return match["base"], match["version"]


class _Lane:
    """One httpx2 client: one HTTP/2 connection, and the requests in flight on it."""

    __slots__ = ("http", "in_flight")

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self.http = http
        self.in_flight = 0


class _Template:
    """What the SDK built for one (model, streaming, timeout): URL, headers, timeout extensions."""

    __slots__ = ("extensions", "headers", "url")

    def __init__(self, url: httpx2.URL, headers: httpx2.Headers, extensions: dict[str, Any]) -> None:
        self.url, self.headers, self.extensions = url, headers, extensions


class GeminiClient:
    """One per (provider, base URL, key, event loop); the core keeps and reuses it."""

    __slots__ = ("_batch", "_http1", "_lanes", "_retired", "_templates", "base_url", "provider", "sdk")

    def __init__(self, settings: ClientSettings) -> None:
        genai, types, _ = _import_sdk()
        self.provider = settings.provider
        base_url, api_version = split_base_url(settings.base_url)
        self.base_url = base_url
        # Plain http:// never negotiates HTTP/2 (httpx2 speaks h2 only after TLS ALPN).
        self._http1 = base_url.startswith("http://")
        # Created now, used lazily: no connection is opened until the first request.
        self._lanes = [_Lane(_new_http(self._http1))]
        self._retired: list[_Lane] = []
        self._templates: dict[tuple[str, bool, float | None], _Template] = {}
        self._batch: GeminiBatch | None = None
        options = types.HttpOptions(
            base_url=base_url,
            api_version=api_version,
            httpx_async_client=self._lanes[0].http,
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        # vertexai=False explicitly, so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot
        # send Gemini API keys to Vertex AI.
        self.sdk = genai.Client(api_key=settings.api_key or NO_KEY, vertexai=False, http_options=options)

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

    # ----- connections -----

    @property
    def connections(self) -> int:
        return len(self._lanes)

    def _lane(self) -> _Lane:
        lanes = self._lanes
        best = lanes[0] if len(lanes) == 1 else min(lanes, key=_in_flight)
        if (
            best.in_flight >= STREAMS_PER_CONNECTION
            and len(lanes) < MAX_HTTP2_CONNECTIONS
            and not self._http1
        ):
            best = _Lane(_new_http(False))
            lanes.append(best)
        return best

    def _negotiated_http1(self) -> None:
        """The server answered over HTTP/1.1: from now on, one lane with an HTTP/1.1-sized pool
        (the HTTP/2 lanes are kept for their requests in flight and closed with the client)."""
        self._http1 = True
        self._retired.extend(self._lanes)
        self._lanes = [_Lane(_new_http(True))]

    def _template(self, model: str, stream: bool, timeout: float | None) -> _Template:
        key = (model, stream, timeout)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._build_template(model, stream, timeout)
        return template

    def _build_template(self, model: str, stream: bool, timeout: float | None) -> _Template:
        """Have the SDK build the request as its ``generate_content[_stream]`` would; keep its parts."""
        from google.genai import _transformers

        api = self.sdk._api_client
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        # google-genai sends no timeout at all unless told one (in milliseconds).
        http_options = {"timeout": math.ceil(timeout * 1000)} if timeout is not None else None
        path = f"{_transformers.t_model(api, model)}:{method}"
        sdk_request = api._build_request("post", path, {}, http_options)
        built = self._lanes[0].http.build_request(
            "POST", sdk_request.url, headers=sdk_request.headers, timeout=sdk_request.timeout, content=b"{}"
        )
        headers = built.headers.copy()
        del headers["content-length"]  # each request sets its own
        return _Template(built.url, headers, dict(built.extensions))

    async def _send(self, lane: _Lane, request: Request, *, stream: bool) -> httpx2.Response:
        """POST `request`; a non-200 reply raises google-genai's own ``APIError``."""
        import httpx2
        from google.genai.errors import APIError

        template = self._template(request.model, stream, request.timeout)
        content = json.dumps(rest_body(request), ensure_ascii=False, separators=(",", ":")).encode()
        http_request = httpx2.Request(
            "POST", template.url, headers=template.headers, content=content, extensions=template.extensions
        )
        response = await lane.http.send(http_request, stream=stream)
        if response.http_version != "HTTP/2" and not self._http1:
            self._negotiated_http1()
        if response.status_code != 200:
            try:
                await APIError.raise_for_async_response(response)
            finally:
                await response.aclose()
        return response

    def _translated(self, exc: Exception) -> Exception:
        if isinstance(exc, LLMPError):
            return exc
        return translate(exc, self.provider) or exc

    # ----- requests -----

    async def complete(self, request: Request) -> Response:
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await self._send(lane, request, stream=False)
        except Exception as exc:
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            lane.in_flight -= 1
        data = load(raw.content, self.provider)
        return parse_response(data, request.n, self.provider, raw.http_version)

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        # One generator from bytes to chunks: the SSE parser is a plain object.
        provider = self.provider
        raw = None
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await self._send(lane, request, stream=True)
            state = StreamState(raw.http_version)
            # Uncompressed bodies skip httpx2's decoder and re-chunking layers.
            body = raw.aiter_bytes() if "content-encoding" in raw.headers else raw.aiter_raw()
            events = SSEEvents()
            async for data in body:
                for event in events.feed(data):
                    for chunk in state.chunks(load(event, provider)):
                        yield chunk
            for event in events.close():
                for chunk in state.chunks(load(event, provider)):
                    yield chunk
        except Exception as exc:
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            lane.in_flight -= 1
            if raw is not None:
                await raw.aclose()  # releases the HTTP/2 stream if we stop early
        for chunk in state.end(request.n, provider):
            yield chunk

    async def aclose(self) -> None:
        for lane in (*self._lanes, *self._retired):
            await lane.http.aclose()


def _new_http(http1: bool) -> httpx2.AsyncClient:
    import httpx2

    size = MAX_HTTP1_CONNECTIONS if http1 else SPARE_CONNECTIONS
    return httpx2.AsyncClient(
        http2=True,
        limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
        timeout=httpx2.Timeout(600.0, connect=15.0),
    )


def _in_flight(lane: _Lane) -> int:
    return lane.in_flight
