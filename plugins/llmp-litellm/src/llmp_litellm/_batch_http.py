"""HTTP for Anthropic's Message Batches API: one client per base URL on litellm's loop, the key
in a header only, Anthropic's error answers as `llmp.errors` (the same statuses a live call maps).

httpx2 (HTTP/2) when installed, else litellm's own httpx: llmp-litellm does not require httpx2.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections.abc import Mapping
from typing import Any, Final

from llmp import errors
from llmp_litellm import _loops
from llmp_litellm._errors import _is_tls_failure
from llmp_litellm._ratelimit import rate_limit_info, retry_after

__all__ = ["Api"]

API_VERSION: Final = "2023-06-01"
DEFAULT_BASE_URL: Final = "https://api.anthropic.com"


def _httpx() -> tuple[Any, bool]:
    """(the HTTP module, whether HTTP/2 is available): httpx2 if installed, else litellm's httpx
    (llmp-litellm does not require httpx2; litellm does require httpx)."""
    try:
        module = importlib.import_module("httpx2")
    except ImportError:
        module = importlib.import_module("httpx")
    return module, importlib.util.find_spec("h2") is not None


# One HTTP client per base URL, used only on litellm's loop, closed at exit.
_clients: dict[str, Any] = {}


async def _close_clients() -> None:
    while _clients:
        _, http = _clients.popitem()
        await http.aclose()


class Api:
    """Requests to the Message Batches API for one client (base URL and key)."""

    def __init__(self, client: Any) -> None:
        self.provider: str = client.provider
        self.base = (client.api_base or DEFAULT_BASE_URL).rstrip("/")
        key = client._api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise errors.MissingAPIKeyError(self.provider, ("ANTHROPIC_API_KEY",))
        self._headers = {"x-api-key": key, "anthropic-version": API_VERSION}
        self._module, http2 = _httpx()
        http = _clients.get(self.base)
        if http is None:
            http = _clients[self.base] = self._module.AsyncClient(
                base_url=self.base, http2=http2, timeout=self._module.Timeout(600.0, connect=15.0)
            )
            if len(_clients) == 1:
                _loops.on_exit(_close_clients)
        self.http: Any = http

    async def call(
        self, method: str, path: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        sent = {**self._headers, **(headers or {})}
        if body is not None:
            sent["content-type"] = "application/json"
        try:
            response = await self.http.request(method, path, content=body, headers=sent)
        except Exception as exc:
            error = self._transport_error(exc)
            if error is None:
                raise
            raise error from exc
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.headers, response.content)
        try:
            data = response.json()
        except ValueError as exc:
            raise errors.MalformedResponseError(f"{method} {path}: not JSON", provider=self.provider) from exc
        if not isinstance(data, dict):
            raise errors.MalformedResponseError(f"{method} {path}: not a JSON object", provider=self.provider)
        return data

    async def lines(self, path: str) -> Any:
        """The JSON objects of a streamed JSONL body, as they arrive."""
        try:
            async with self.http.stream("GET", path, headers=self._headers) as response:
                if response.status_code >= 400:
                    raise self._status_error(response.status_code, response.headers, await response.aread())
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except ValueError as exc:
                        raise errors.MalformedResponseError(
                            "a batch results line is not JSON", provider=self.provider
                        ) from exc
                    if isinstance(data, dict):
                        yield data
        except errors.LLMPError:
            raise
        except Exception as exc:
            error = self._transport_error(exc)
            if error is None:
                raise
            raise error from exc

    def _transport_error(self, exc: Exception) -> errors.ProviderError | None:
        """The llmp error for a failure to reach the API, or None if it is not one."""
        if _is_tls_failure(exc):
            return errors.TLSError(
                "the server's TLS certificate is not trusted. Check the base URL, or point SSL_CERT_FILE "
                "at the CA bundle that signed it.",
                provider=self.provider,
            )
        if isinstance(exc, self._module.TimeoutException):
            return errors.ProviderTimeoutError(f"no answer in time: {exc!r}", provider=self.provider)
        if isinstance(exc, self._module.TransportError):
            return errors.ProviderConnectionError(repr(exc), provider=self.provider)
        return None

    def _status_error(self, status: int, headers: Mapping[str, str], content: bytes) -> errors.ProviderError:
        """The llmp error for an Anthropic error answer (``{"type": "error", "error": {...}}``)."""
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        inner = body.get("error") if isinstance(body, dict) else None
        message = inner.get("message") if isinstance(inner, dict) else None
        text = str(message or content[:200].decode(errors="replace") or f"HTTP {status}")
        found = {k.lower(): v for k, v in headers.items()}
        kwargs: dict[str, Any] = {"provider": self.provider, "status_code": status, "body": body}
        if status in (401, 403):
            return errors.AuthenticationError(text, **kwargs)
        if status < 408 or status in (410, 413, 422):
            return errors.BadRequestError(text, **kwargs)
        kwargs["retry_after"] = retry_after(found)
        if status == 429:
            return errors.RateLimitError(text, rate_limit=rate_limit_info(found), **kwargs)
        if status in (408, 504):
            return errors.ProviderTimeoutError(text, **kwargs)
        if status == 409:
            return errors.ConflictError(text, **kwargs)
        return errors.ServerError(text, **kwargs) if status >= 500 else errors.BadRequestError(text, **kwargs)
