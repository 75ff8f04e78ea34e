"""Anthropic's Message Batches API (half price) for a `LitellmClient`: its ``batch``
(`llmp.types.BatchApi`), for rich requests too (tools, output schemas, thinking, images).

Over HTTP directly, not through litellm. litellm 1.83 cannot create an Anthropic batch
(``AnthropicBatchesConfig.transform_create_batch_request`` raises NotImplementedError and
``create_batch`` does not accept ``anthropic``), has no Anthropic cancel, and its retrieve maps
``ended`` to ``completed`` whatever happened and counts only ``succeeded`` and ``errored``
(expired and canceled requests vanish from the tallies); its results download buffers the whole
file and rewrites canceled and expired requests as 400 errors. So the four calls go straight to
``/v1/messages/batches`` with httpx2 (HTTP/2), or with litellm's own httpx when httpx2 is not
installed.

What we do take from litellm is the translation, so that a batch request and its answer are
exactly a live call's: each request becomes the same ``litellm.acompletion`` keywords as a live
call (`llmp_litellm._requests`: tools, tool choice, output schema, thinking, messages with their
thinking blocks), and its Anthropic params come from the same ``get_optional_params`` +
``AnthropicConfig.transform_request`` that ``litellm.acompletion`` runs (system prompt as
``system``, litellm's ``max_tokens`` default, ``stop`` as ``stop_sequences``, images as image
blocks, unsupported parameters refused); each succeeded message is read by the same
``transform_parsed_response`` and `llmp_litellm._conversion` (tool calls, thinking blocks,
finish reasons, usage with cache reads and writes).

``n > 1``: a Messages request has one answer, so a prompt becomes ``n`` requests with custom
ids ``"<i>-<k>"`` (Anthropic allows only ``[A-Za-z0-9_-]``), put back together at retrieve (the
core's ids are plain indexes, so a ``-`` marks a sample). A prompt with any failed sample is
reported failed, with that sample's error; status counts are of requests, ``n`` per prompt.

Everything runs on litellm's loop (`_loops`): the litellm import for the translation must not
stall the caller's loop, and the HTTP clients live there. The key is only ever in a request
header.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from llmp import errors
from llmp.types import BatchFailure, BatchResults, BatchState, BatchStatus, Request, Response, Usage
from llmp_litellm import _conversion as conv
from llmp_litellm import _loops
from llmp_litellm._batch_http import Api
from llmp_litellm._errors import translate
from llmp_litellm._requests import completion_kwargs

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
# Keywords of the call itself, not of the request body.
_CALL_ONLY = ("model", "n", "num_retries", "max_retries", "timeout", "metadata")
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


class MessageBatches:
    """`llmp.types.BatchApi` over Anthropic's Message Batches, for one client (base URL and key).
    Every operation runs on litellm's loop, where the HTTP clients live."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        return await _loops.run(_submit(self._client, requests, custom_ids))

    async def status(self, batch_id: str) -> BatchStatus:
        return await _loops.run(_status(self._client, batch_id, cancel=False))

    async def cancel(self, batch_id: str) -> BatchStatus:
        return await _loops.run(_status(self._client, batch_id, cancel=True))

    async def retrieve(self, batch_id: str) -> BatchResults:
        return await _loops.run(_retrieve(self._client, batch_id))


async def _status(client: Any, raw_id: str, *, cancel: bool) -> BatchStatus:
    api = Api(client)
    if cancel:
        return status_of(await api.call("POST", f"{_path(raw_id)}/cancel"))
    return status_of(await api.call("GET", _path(raw_id)))


def _path(raw_id: str) -> str:
    if not _CUSTOM_ID.match(raw_id):  # it goes into a URL path
        raise errors.ConfigurationError(f"{raw_id!r} is not an Anthropic message batch id")
    return f"{PATH}/{raw_id}"


# -- submit ------------------------------------------------------------------------------------


async def _submit(client: Any, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
    from llmp_litellm._client import import_litellm

    api = Api(client)
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
    return str(batch["id"])


def _params(config: Any, request: Request, betas: set[str], provider: str) -> dict[str, Any]:
    """The Anthropic params of one request, built as ``litellm.acompletion`` builds them."""
    from litellm.utils import get_non_default_completion_params, get_optional_params

    # The keywords a live call hands litellm.acompletion (tools, response_format, thinking, ...).
    params = completion_kwargs(
        request,
        provider=provider,
        model=request.model,
        api_base=None,
        api_key=None,
        client=None,
        stream=False,
    )
    messages: Any = copy.deepcopy(params.pop("messages"))  # litellm edits them in place
    # A live call passes metadata (its user_id) to litellm's params and extra headers as HTTP
    # headers; everything else goes through get_optional_params.
    litellm_params = {"metadata": params["metadata"]} if params.get("metadata") else {}
    for name in _CALL_ONLY:
        params.pop(name, None)
    headers = {k.lower(): str(v) for k, v in (params.pop("extra_headers", None) or {}).items()}
    own_headers = set(headers)
    named = {k: params.pop(k) for k in _NAMED if k in params}
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


def status_of(batch: Mapping[str, Any]) -> BatchStatus:
    """llmp's status for a MessageBatch. Anthropic tallies requests only once the batch ends."""
    raw = batch.get("processing_status")
    given = batch.get("request_counts") or {}
    counts = {k: int(given.get(k) or 0) for k in _COUNTS}
    total = sum(counts.values())
    status: BatchState
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
    return BatchStatus(status, str(raw), completed=counts["succeeded"], failed=failed, total=total)


# -- retrieve ----------------------------------------------------------------------------------


async def _retrieve(client: Any, raw_id: str) -> BatchResults:
    from llmp_litellm._client import import_litellm

    api = Api(client)
    batch = await api.call("GET", _path(raw_id))
    if batch.get("processing_status") != "ended":
        return BatchResults(done=False)
    litellm = import_litellm()
    config = litellm.AnthropicConfig()
    # Results come in any order: file each line under its custom_id, then group samples.
    lines: dict[str, Response | BatchFailure] = {}
    async for line in api.lines(f"{_path(raw_id)}/results"):
        custom_id = line.get("custom_id")
        result = line.get("result")
        if isinstance(custom_id, str) and isinstance(result, dict):
            lines[custom_id] = _outcome(litellm, config, result)
            if len(lines) % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # parsing a large file must not stall other calls on this loop
    samples: dict[str, dict[int, Response | BatchFailure]] = {}
    for custom_id, outcome in lines.items():
        base, dash, k = custom_id.rpartition("-")
        prompt, sample = (base, int(k)) if dash and k.isdigit() else (custom_id, 0)
        samples.setdefault(prompt, {})[sample] = outcome
    answer = BatchResults(done=True)
    for custom_id, by_k in samples.items():
        ordered = [by_k[k] for k in sorted(by_k)]
        failed = next((o for o in ordered if isinstance(o, BatchFailure)), None)
        if failed is not None:
            answer.errors[custom_id] = failed
            continue
        parts = [o for o in ordered if isinstance(o, Response)]
        usage = Usage()
        for part in parts:
            usage.add(part.usage)
        first = parts[0]
        choices = [choice for part in parts for choice in part.choices]
        answer.results[custom_id] = Response(choices, usage, model=first.model, id=first.id)
    return answer


def _outcome(litellm: Any, config: Any, result: Mapping[str, Any]) -> Response | BatchFailure:
    """The `Response` of a succeeded line, else why it failed."""
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return _parse_message(litellm, config, result["message"])
        except Exception as exc:  # one unreadable answer fails its request, not the batch
            return BatchFailure("errored", f"unreadable message in the batch results: {exc!r}")
    if kind in _NOT_RUN:
        return BatchFailure("expired" if kind == "expired" else "canceled", _NOT_RUN[kind])
    body = result.get("error")
    inner = body.get("error") if isinstance(body, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    error_type = str(inner.get("type") or "api_error")
    message = str(inner.get("message") or f"the request {kind or 'failed'}")
    return BatchFailure("errored", f"{error_type}: {message}", _STATUS.get(error_type))


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
    return conv.parse_response(parsed, "anthropic")
