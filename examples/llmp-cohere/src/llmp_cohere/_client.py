"""The Cohere client: one httpx2 HTTP/2 connection pool per (key, base URL, event loop).

The core builds it through the factory `llmp_apis` registers, keeps it, and calls `complete` /
`stream` for every request. It does no retrying, caching, pacing or sleeping: the core wraps
every call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from llmp.errors import LLMPError, MalformedResponseError
from llmp.types import Capabilities, Chunk, ClientSettings, Request, Response
from llmp.wire import SSEDecoder, rate_limit_info

from llmp_cohere import _models
from llmp_cohere._conversion import PROVIDER, StreamReader, parse_chat, request_body
from llmp_cohere._errors import from_status, from_transport

__all__ = ["CohereClient"]

CHAT_PATH = "/v2/chat"


@contextmanager
def _translated() -> Iterator[None]:
    """Let llmp errors through; turn transport errors into llmp errors, chained."""
    try:
        yield
    except LLMPError:
        raise
    except Exception as exc:
        error = from_transport(exc)
        if error is None:
            raise
        raise error from exc


class CohereClient:
    def __init__(self, settings: ClientSettings) -> None:
        import httpx2  # the transport is imported only when the first client is built

        self.provider = settings.provider
        self._base_url = (settings.base_url or "").rstrip("/")
        headers = {"accept": "application/json", "content-type": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        # HTTP/2 multiplexes every request of this client over one TLS connection; the TLS
        # context is httpx2's default, which honours SSL_CERT_FILE.
        self._http = httpx2.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            http2=True,
            timeout=httpx2.Timeout(600.0, connect=15.0),
        )

    def __repr__(self) -> str:  # no key in here, ever
        return f"CohereClient(base_url={self._base_url!r})"

    # --8<-- [start:client]
    def capabilities(self, model: str) -> Capabilities:
        return _models.capabilities(model)

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        request_body(Request(model, [{"role": "user", "content": ""}], params=dict(params)), stream=False)
        return dict(params)  # Cohere fills in no default that changes the answer

    def _options(self, request: Request) -> dict[str, Any]:
        return {"timeout": request.timeout} if request.timeout is not None else {}

    async def complete(self, request: Request) -> Response:
        body = request_body(request, stream=False)
        with _translated():
            raw = await self._http.post(CHAT_PATH, json=body, **self._options(request))
            content = raw.content
        if raw.status_code >= 400:
            raise from_status(raw.status_code, content, raw.headers)
        response = parse_chat(content)
        response.rate_limit = rate_limit_info(raw.headers)
        response.http_version = raw.http_version
        return response

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        body = request_body(request, stream=True)
        with _translated():
            async with self._http.stream("POST", CHAT_PATH, json=body, **self._options(request)) as raw:
                if raw.status_code >= 400:
                    raise from_status(raw.status_code, await raw.aread(), raw.headers)
                reader = StreamReader()
                decoder = SSEDecoder(provider=PROVIDER)
                first = True
                async for data in raw.aiter_bytes():
                    # Server-sent events: ``event:`` names the type, which the data repeats.
                    for event in decoder.feed(data):
                        for chunk in reader.feed(event.data):
                            if first:  # the response's headers, once, on the first chunk
                                chunk.rate_limit, chunk.http_version = (
                                    rate_limit_info(raw.headers),
                                    raw.http_version,
                                )
                                first = False
                            yield chunk
                if not reader.ended:
                    # Without message-end the answer may be cut short: the core retries it.
                    raise MalformedResponseError("the stream ended before message-end", provider=PROVIDER)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --8<-- [end:client]
