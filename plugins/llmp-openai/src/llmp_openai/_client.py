"""The OpenAI client: the official SDK on an httpx2 HTTP/2 connection pool.

We go through the SDK for everything it is good at (auth headers, base URL, error bodies, the
status-to-exception mapping) and ask it for the raw HTTP response (``cast_to=httpx2.Response``)
instead of pydantic objects; parsing the JSON ourselves is the cheaper path (see
`llmp_openai._conversion`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import LLMPError
from llmp.headers import rate_limit_info
from llmp.types import Chunk, ClientSettings, Request, Response
from llmp_openai._conversion import chunks_from_event, parse_completion, request_body, sse_data
from llmp_openai._errors import translate

if TYPE_CHECKING:
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

    __slots__ = ("in_flight", "sdk")

    def __init__(self, sdk: openai.AsyncOpenAI) -> None:
        self.sdk = sdk
        self.in_flight = 0


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
        return _Lane(sdk)

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

    def _options(self, request: Request) -> dict[str, Any]:
        return {"timeout": request.timeout} if request.timeout is not None else {}

    async def call(self, request: Request) -> Response:
        import httpx2

        body = request_body(request, self.provider, self.extra_body, stream=False)
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await lane.sdk.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, options=self._options(request)
            )
            content = raw.content
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
            if error is None:
                raise
            raise error from exc
        finally:
            lane.in_flight -= 1
        response = parse_completion(content, self.provider)
        response.rate_limit = rate_limit_info(raw.headers)
        response.http_version = raw.http_version
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        import httpx2

        body = request_body(request, self.provider, self.extra_body, stream=True)
        raw = None
        lane = self._lane()
        lane.in_flight += 1
        try:
            raw = await lane.sdk.post(
                "/chat/completions",
                cast_to=httpx2.Response,
                body=body,
                options=self._options(request),
                stream=True,
                stream_cls=None,
            )
            rate_limit = rate_limit_info(raw.headers)
            first = True
            async for payload in sse_data(raw.aiter_bytes(), self.provider):
                for chunk in chunks_from_event(payload, self.provider):
                    if first:
                        chunk.rate_limit = rate_limit
                        first = False
                    yield chunk
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self.provider)
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
