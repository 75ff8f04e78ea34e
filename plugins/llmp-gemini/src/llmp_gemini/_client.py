"""The Gemini client: google-genai's native async client on an httpx2 HTTP/2 connection pool.

Transport: google-genai 3.x switches its async transport to aiohttp whenever aiohttp is
importable (``BaseApiClient._use_aiohttp``), which it is wherever litellm is installed. It keeps
httpx only when it is handed an async client (``HttpOptions(httpx_async_client=...)``) or a
custom transport. So we always hand it our own ``httpx2.AsyncClient(http2=True)``: one HTTP/2
pool per client, whatever else is installed.

Retries: ``HttpRetryOptions(attempts=1)`` turns the SDK's tenacity retries off (and, being set,
its unconditional aiohttp reconnect sleeps too); the core alone retries, with its own backoff
and key rotation. Automatic function calling is off: llmp sends no tools, and the SDK would
otherwise deep-copy the config and log on every call.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any

from llmp.errors import LLMPError, UnsupportedParameterError
from llmp.types import Chunk, ClientSettings, Request, Response
from llmp_gemini._conversion import StreamState, generation_config, parse_response, to_contents
from llmp_gemini._errors import translate
from llmp_gemini._routes import GEMINI_BASE_URL

# google-genai refuses to start without a key; a keyless gateway ignores this one.
NO_KEY = "no-key-needed"
MAX_CONNECTIONS = 64
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


class GeminiClient:
    """One google-genai client per (provider, base URL, key, event loop); the core reuses it."""

    __slots__ = ("_http", "_types", "base_url", "provider", "sdk")

    def __init__(self, settings: ClientSettings) -> None:
        genai, types, httpx2 = _import_sdk()
        self.provider = settings.provider
        self._types = types
        base_url, api_version = split_base_url(settings.base_url)
        self.base_url = base_url
        # Created now, used lazily: no connection is opened until the first request.
        self._http = httpx2.AsyncClient(
            http2=True,
            limits=httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
            timeout=httpx2.Timeout(600.0, connect=15.0),
        )
        options = types.HttpOptions(
            base_url=base_url,
            api_version=api_version,
            httpx_async_client=self._http,
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        # vertexai=False explicitly, so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot
        # send Gemini API keys to Vertex AI.
        self.sdk = genai.Client(api_key=settings.api_key or NO_KEY, vertexai=False, http_options=options)

    def __repr__(self) -> str:
        return f"GeminiClient(provider={self.provider!r}, base_url={self.base_url!r})"

    def _config(self, request: Request) -> tuple[list[dict[str, Any]], Any]:
        contents, system = to_contents(request.messages)
        fields = generation_config(request)
        if system is not None:
            fields["system_instruction"] = system
        fields["automatic_function_calling"] = {"disable": True}
        if request.timeout is not None:
            # google-genai sends no timeout at all unless told one (in milliseconds).
            fields["http_options"] = {"timeout": math.ceil(request.timeout * 1000)}
        try:
            config = self._types.GenerateContentConfig.model_validate(fields)
        except ValueError as exc:  # pydantic's ValidationError: a parameter of the wrong type
            raise UnsupportedParameterError(f"Gemini cannot take these parameters: {exc}") from exc
        return contents, config

    def _translated(self, exc: Exception) -> Exception:
        if isinstance(exc, LLMPError):
            return exc
        return translate(exc, self.provider) or _malformed_or(exc, self.provider)

    async def call(self, request: Request) -> Response:
        contents, config = self._config(request)
        try:
            response = await self.sdk.aio.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        except Exception as exc:
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        return parse_response(response, request.n, self.provider)

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        contents, config = self._config(request)
        state = StreamState()
        events = None
        try:
            events = await self.sdk.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for response in events:
                for chunk in state.chunks(response):
                    yield chunk
        except Exception as exc:
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            if events is not None:
                await events.aclose()  # releases the HTTP/2 stream if we stop early
        yield state.end(request.n, self.provider)

    async def aclose(self) -> None:
        await self._http.aclose()


def _malformed_or(exc: Exception, provider: str) -> Exception:
    """A response the SDK could not turn into its types is malformed; anything else stays as is."""
    from pydantic import ValidationError

    from llmp.errors import MalformedResponseError

    if isinstance(exc, ValidationError):
        return MalformedResponseError(f"Gemini's response did not match its schema: {exc}", provider=provider)
    return exc
