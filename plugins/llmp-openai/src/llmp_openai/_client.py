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
# With HTTP/2 one connection carries many streams; allow enough connections for the rare server
# that caps concurrent streams low, and keep them alive between bursts.
MAX_CONNECTIONS = 64


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


class OpenAIClient:
    """One SDK client per (provider, base URL, key, event loop); the core keeps and reuses it."""

    __slots__ = ("extra_body", "http2", "provider", "sdk")

    def __init__(self, settings: ClientSettings, *, http2: bool = True) -> None:
        openai, httpx2 = _import_sdk()
        self.provider = settings.provider
        self.http2 = http2
        self.extra_body: Mapping[str, Any] | None = settings.options.get("extra_body")
        http_client = httpx2.AsyncClient(
            http2=http2,
            limits=httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
            timeout=httpx2.Timeout(600.0, connect=15.0),
        )
        self.sdk: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=settings.api_key or NO_KEY,
            base_url=settings.base_url,
            max_retries=0,  # the core retries, with its own backoff and key rotation
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"OpenAIClient(provider={self.provider!r}, base_url={str(self.sdk.base_url)!r})"

    def _options(self, request: Request) -> dict[str, Any]:
        return {"timeout": request.timeout} if request.timeout is not None else {}

    async def call(self, request: Request) -> Response:
        import httpx2

        body = request_body(request, self.provider, self.extra_body, stream=False)
        try:
            raw = await self.sdk.post(
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
        response = parse_completion(content, self.provider)
        response.rate_limit = rate_limit_info(raw.headers)
        response.http_version = raw.http_version
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        import httpx2

        body = request_body(request, self.provider, self.extra_body, stream=True)
        raw = None
        try:
            raw = await self.sdk.post(
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
            if raw is not None:
                await raw.aclose()

    async def aclose(self) -> None:
        await self.sdk.close()
