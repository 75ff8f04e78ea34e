"""Anthropic's Message Batches API (half price) for a `LitellmClient`: the ``llmp_batch`` operations.

Over HTTP directly, not through litellm. litellm 1.83 cannot create an Anthropic batch
(``AnthropicBatchesConfig.transform_create_batch_request`` raises NotImplementedError and
``create_batch`` does not accept ``anthropic``), has no Anthropic cancel, and its retrieve maps
``ended`` to ``completed`` whatever happened and counts only ``succeeded`` and ``errored``
(expired and canceled requests vanish from the tallies); its results download buffers the whole
file and rewrites canceled and expired requests as 400 errors. So the four calls go straight to
``/v1/messages/batches`` with httpx2 (HTTP/2), or with litellm's own httpx when httpx2 is not
installed.

What we do take from litellm is the translation, so that a batch request and its answer are
exactly a live call's: each request's Anthropic params come from the same
``get_optional_params`` + ``AnthropicConfig.transform_request`` that ``litellm.acompletion``
runs (system prompt as ``system``, litellm's ``max_tokens`` default, ``stop`` as
``stop_sequences``, unsupported parameters refused), and each succeeded message is read by the
same ``transform_parsed_response`` (finish reasons, usage with cache reads and writes).

``n > 1``: a Messages request has one answer, so, as in a live call, ``n`` is emulated: ``n``
requests per prompt with custom ids ``"<i>-<k>"`` (Anthropic allows only ``[A-Za-z0-9_-]``), put
back together at retrieve (the core's ids are plain indexes, so a ``-`` marks a sample). A
prompt with any failed sample is reported failed, with that sample's error; status counts are
of requests, ``n`` per prompt.

Everything runs on litellm's loop (`_loops`): the litellm import for the translation must not
stall the caller's loop, and the HTTP clients live there. The key is only ever in a request
header.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from llmp import errors
from llmp.types import Request, Response
from llmp_litellm import _conversion as conv
from llmp_litellm import _loops
from llmp_litellm._errors import _is_tls_failure, translate
from llmp_litellm._ratelimit import rate_limit_info, retry_after

API_VERSION: Final = "2023-06-01"
DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
PATH: Final = "/v1/messages/batches"
# Anthropic's documented limits for one batch, checked before sending so that an oversized job
# fails at once with advice.
MAX_REQUESTS: Final = 100_000
MAX_BYTES: Final = 256 * 1024 * 1024
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The OpenAI parameters litellm.completion() hands get_optional_params() by name; any other
# non-litellm keyword goes to it as a provider-specific one (top_k, ...), as in a live call.
_NAMED = (
    "functions", "function_call", "temperature", "top_p", "stop", "max_tokens",
    "max_completion_tokens", "modalities", "prediction", "audio", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "response_format", "seed", "tools", "tool_choice",
    "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort", "thinking",
    "web_search_options", "safety_identifier", "service_tier", "allowed_openai_params",
)  # fmt: skip
# Flags litellm's Anthropic handler pops before transform_request: never part of the body.
_INTERNAL = ("stream", "json_mode", "is_vertex_request", "vertex_count_tokens_location")
# Anthropic's error types, as the HTTP status a live call would have had.
_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
    "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529,
}  # fmt: skip
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")
_NOT_RUN = {
    "expired": "the batch's 24 h window ended before this request ran",
    "canceled": "the batch was canceled before this request ran",
}
_YIELD_EVERY = 256  # translate this many requests or results, then let litellm's loop breathe


async def run(client: Any, op: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Perform one batch operation (see `llmp._batch` for the payloads and answers)."""
    if op not in ("submit", "status", "retrieve", "cancel"):
        raise ValueError(f"unknown batch operation {op!r}")
    return await _loops.run(_run(client, op, payload))


async def _run(client: Any, op: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    api = _Api(client)
    if op == "submit":
        return await _submit(api, payload["requests"], payload["custom_ids"])
    raw_id = str(payload["id"])
    if not _CUSTOM_ID.match(raw_id):  # it goes into a URL path
        raise errors.ConfigurationError(f"{raw_id!r} is not an Anthropic message batch id")
    if op == "cancel":
        return status_of(await api.call("POST", f"{PATH}/{raw_id}/cancel"))
    batch = await api.call("GET", f"{PATH}/{raw_id}")
    if op == "status":
        return status_of(batch)
    if batch.get("processing_status") != "ended":
        return {"done": False}
    return await _retrieve(api, raw_id)


# -- submit ------------------------------------------------------------------------------------


async def _submit(api: _Api, requests: Sequence[Request], custom_ids: Sequence[str]) -> dict[str, Any]:
    from llmp_litellm._client import import_litellm

    total = sum(request.n for request in requests)
    if total > MAX_REQUESTS:
        raise errors.ConfigurationError(
            f"an Anthropic message batch holds at most {MAX_REQUESTS:,} requests, got {total:,} "
            "(n requests per prompt): split the prompts over several batch_submit() calls"
        )
    litellm = import_litellm()
    config = litellm.AnthropicConfig()
    entries: list[dict[str, Any]] = []
    betas: set[str] = set()
    for index, (request, custom_id) in enumerate(zip(requests, custom_ids, strict=True)):
        params = _params(config, request, betas, api.provider)
        ids = [custom_id] if request.n == 1 else [f"{custom_id}-{k}" for k in range(request.n)]
        entries.extend({"custom_id": i, "params": params} for i in ids)
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a long translation must not stall other calls on this loop
    body = json.dumps({"requests": entries}, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_BYTES:
        raise errors.ConfigurationError(
            f"the batch would be {len(body) / 2**20:.0f} MB, over Anthropic's 256 MB limit: "
            "split the prompts over several batch_submit() calls"
        )
    # Betas a live call would send as headers apply to the whole batch: one header for all.
    headers = {"anthropic-beta": ",".join(sorted(betas))} if betas else {}
    batch = await api.call("POST", PATH, body=body, headers=headers)
    if not isinstance(batch.get("id"), str):
        raise errors.MalformedResponseError("the created batch has no id", provider=api.provider)
    return {"id": batch["id"]}


def _params(config: Any, request: Request, betas: set[str], provider: str) -> dict[str, Any]:
    """The Anthropic params of one request, built as ``litellm.acompletion`` builds them."""
    from litellm.utils import get_non_default_completion_params, get_optional_params

    params = dict(request.params)
    # A live call passes metadata (its user_id) to litellm's params and extra headers as HTTP
    # headers; everything else goes through get_optional_params.
    litellm_params = {"metadata": params["metadata"]} if params.get("metadata") else {}
    headers = {k.lower(): str(v) for k, v in (params.pop("extra_headers", None) or {}).items()}
    own_headers = set(headers)
    named = {k: params.pop(k) for k in _NAMED if k in params}
    messages: Any = copy.deepcopy(request.messages)  # litellm edits them in place
    try:
        optional = get_optional_params(
            model=request.model,
            custom_llm_provider="anthropic",
            messages=messages,
            **named,
            **get_non_default_completion_params(params),
        )
        for name in _INTERNAL:
            optional.pop(name, None)
        body: dict[str, Any] = config.transform_request(
            model=request.model,
            messages=messages,
            optional_params=optional,
            litellm_params=litellm_params,
            headers=headers,
        )
    except errors.LLMPError:
        raise
    except Exception as exc:
        error = translate(exc, provider)
        if error is None:
            raise
        raise error from exc
    for name, value in headers.items():
        if name == "anthropic-beta":
            betas.update(b.strip() for b in value.split(",") if b.strip())
        elif name in own_headers:
            raise errors.UnsupportedParameterError(
                f"{provider}: extra header {name!r} cannot be sent per request in a message batch "
                "(only anthropic-beta applies to the whole batch); use generate() for it"
            )
    return body


# -- status ------------------------------------------------------------------------------------


def status_of(batch: Mapping[str, Any]) -> dict[str, Any]:
    """llmp's status for a MessageBatch. Anthropic tallies requests only once the batch ends."""
    raw = batch.get("processing_status")
    given = batch.get("request_counts") or {}
    counts = {k: int(given.get(k) or 0) for k in _COUNTS}
    total = sum(counts.values())
    if raw == "in_progress":
        status = "in_progress"
    elif raw == "canceling":
        status = "cancelling"
    elif raw == "ended":
        status = "completed"
        if total and counts["succeeded"] == counts["errored"] == 0:
            # Nothing ran: the batch as a whole was canceled or expired.
            status = "cancelled" if counts["canceled"] else "expired"
    else:
        raise errors.MalformedResponseError(f"unknown batch processing_status {raw!r}", provider="anthropic")
    failed = counts["errored"] + counts["canceled"] + counts["expired"]
    return {
        "status": status,
        "raw_status": raw,
        "counts": {"completed": counts["succeeded"], "failed": failed, "total": total},
        "request_counts": counts,
    }


# -- retrieve ----------------------------------------------------------------------------------


async def _retrieve(api: _Api, raw_id: str) -> dict[str, Any]:
    from llmp_litellm._client import import_litellm

    litellm = import_litellm()
    config = litellm.AnthropicConfig()
    # Results come in any order: file each line under its custom_id, then group samples.
    lines: dict[str, dict[str, Any]] = {}
    async for line in api.lines(f"{PATH}/{raw_id}/results"):
        custom_id = line.get("custom_id")
        result = line.get("result")
        if isinstance(custom_id, str) and isinstance(result, dict):
            lines[custom_id] = _outcome(litellm, config, result)
            if len(lines) % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # parsing a large file must not stall other calls on this loop
    samples: dict[str, dict[int, dict[str, Any]]] = {}
    for custom_id, outcome in lines.items():
        base, dash, k = custom_id.rpartition("-")
        prompt, sample = (base, int(k)) if dash and k.isdigit() else (custom_id, 0)
        samples.setdefault(prompt, {})[sample] = outcome
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, Any]] = {}
    for custom_id, by_k in samples.items():
        ordered = [by_k[k] for k in sorted(by_k)]
        failed = next((o for o in ordered if "error" in o), None)
        if failed is not None:
            failures[custom_id] = failed["error"]
            continue
        usage = conv.LitellmUsage()
        for outcome in ordered:
            usage = conv.add_usage(usage, outcome["response"].usage)
        results[custom_id] = {
            "texts": [t for o in ordered for t in o["response"].texts],
            "usage": usage,
            "finish_reasons": [r for o in ordered for r in o["response"].finish_reasons],
        }
    return {"done": True, "results": results, "errors": failures}


def _outcome(litellm: Any, config: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    """``{"response": Response}`` for a succeeded line, else ``{"error": {...}}``."""
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return {"response": _parse_message(litellm, config, result["message"])}
        except Exception as exc:  # one unreadable answer fails its request, not the batch
            message = f"unreadable message in the batch results: {exc!r}"
            return {"error": {"kind": "errored", "message": message, "status_code": None}}
    if kind in _NOT_RUN:
        return {"error": {"kind": kind, "message": _NOT_RUN[kind], "status_code": None}}
    body = result.get("error")
    inner = body.get("error") if isinstance(body, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    error_type = str(inner.get("type") or "api_error")
    message = str(inner.get("message") or f"the request {kind or 'failed'}")
    status = _STATUS.get(error_type)
    return {"error": {"kind": "errored", "message": f"{error_type}: {message}", "status_code": status}}


def _parse_message(litellm: Any, config: Any, message: dict[str, Any]) -> Response:
    import httpx  # litellm's own: its parser reads (empty) response headers from one

    parsed = config.transform_parsed_response(
        completion_response=message,
        raw_response=httpx.Response(200),
        model_response=litellm.ModelResponse(),
        # Only turns the answer into text when its one tool call is litellm's response_format
        # tool (json_tool_call), i.e. exactly when the live call would have: safe for every line.
        json_mode=True,
    )
    return conv.parse_response(parsed)


# -- HTTP --------------------------------------------------------------------------------------


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


class _Api:
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
