"""Gemini batch mode (half price): `GeminiBatch`, the client's ``batch`` (`llmp.types.BatchApi`).

The core's side is `llmp._batch`. On Google's side:

- **Submit.** Each `Request` (rich ones too: tools, output schema, thinking, images, tool
  turns) is first written as the live call writes it (`llmp_gemini._conversion.rest_body`), then
  read into google-genai's ``InlinedRequest`` (``contents`` + ``config``) carrying
  ``metadata={"key": custom_id}``, so a batch request is the live request. Up to
  `INLINE_MAX_BYTES` of requests go inline (``batches.create(src=[...])``); a bigger job is
  written as JSONL (``{"key", "request"}`` lines), uploaded through the Files API and submitted
  by file name, as Google's Batch Mode guide prescribes above its 20 MB inline limit. The display
  name records the request count and ``n`` (``"llmp: 3 requests, n=1"``), so any process holding
  only the id can read both.
- **Order.** Google documents that inline responses, and the lines of a responses file, come
  in the order of the requests. We still key them: an inline response echoes its request's
  ``metadata``, a file line carries its ``key``; position is only the fallback when neither
  is there (and the core's custom ids are positions, so both agree).
- **Status.** Every ``JobState`` maps to one of the core's statuses (`STATES`). google-genai
  (3.x) does not parse the Gemini API's ``batchStats``, so the counts are exact once an inline
  job has ended (counted from its responses) and zero done before that; the total is the
  submitted count.
- **Retrieve.** Each response is read as a live answer is (`_responses.parse_response`: text,
  tool calls, reasoning, usage), and the core applies its answer rules to it; a per-item
  ``error`` (a ``google.rpc.Status``: gRPC code) is a `BatchFailure`. A job that failed, expired
  or was cancelled reports every unanswered request with that kind.

Batch jobs and files use API version v1beta unless the base URL names a version other than v1:
the Batch API is documented on v1beta, while google-genai 3.x defaults to v1.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llmp.errors import ConfigurationError, LLMPError, MalformedResponseError, UnsupportedParameterError
from llmp.types import BatchFailure, BatchResults, BatchState, BatchStatus, Request, Response
from llmp_gemini._conversion import rest_body
from llmp_gemini._errors import translate
from llmp_gemini._responses import parse_response

if TYPE_CHECKING:
    from llmp_gemini._client import GeminiClient

__all__ = ["INLINE_MAX_BYTES", "STATES", "GeminiBatch", "status_of"]

#: Above this many bytes of serialized requests a job goes through the Files API. Google caps
#: an inline batch at 20 MB in all; the margin covers the envelope around the requests.
INLINE_MAX_BYTES = 19_000_000
BATCH_API_VERSION = "v1beta"

#: google-genai's ``JobState`` names (it renames the Gemini API's ``BATCH_STATE_*``) to llmp's.
STATES: dict[str, BatchState] = {
    "JOB_STATE_UNSPECIFIED": "validating",
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",  # resumable, so not an end
    "JOB_STATE_SUCCEEDED": "completed",
    # Some requests failed: still completed; the failures are per item in the output.
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
# How an unanswered request of a job that ended this way is reported (BatchFailure.kind).
_UNANSWERED: dict[str, Any] = {"failed": "errored", "expired": "expired", "cancelled": "canceled"}
_NAME = re.compile(r"^batches/[^/]+$")
_DISPLAY = re.compile(r"^llmp: (?P<count>\d+) requests?, n=(?P<n>\d+)$")
# generateContent body fields that google-genai takes inside GenerateContentConfig.
_CONFIG_FIELDS = ("systemInstruction", "tools", "toolConfig", "safetySettings", "serviceTier", "store",
                  "cachedContent")  # fmt: skip
# google.rpc.Code -> HTTP status, as Google's APIs pair them (per-item errors carry gRPC codes).
_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400,
         12: 501, 13: 500, 14: 503, 15: 500, 16: 401}  # fmt: skip
T = TypeVar("T")


def status_of(state: Any) -> tuple[BatchState, str]:
    """``(llmp status, raw state name)`` for a ``JobState`` (or its name, or None)."""
    raw = str(getattr(state, "value", state) or "JOB_STATE_UNSPECIFIED")
    name = raw.replace("BATCH_STATE_", "JOB_STATE_", 1)  # a name the SDK passed through as is
    # An unknown state is taken as still running: reporting a live job as ended would lose it.
    return STATES.get(name, "in_progress"), raw


class GeminiBatch:
    """`llmp.types.BatchApi` over google-genai's batches and files (see the module docstring)."""

    def __init__(self, client: GeminiClient) -> None:
        self._client = client

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        return await self._run(lambda: _submit(self._client, requests, custom_ids))

    async def status(self, batch_id: str) -> BatchStatus:
        name = _batch_name(batch_id)
        return await self._run(lambda: _status(self._client, name))

    async def retrieve(self, batch_id: str) -> BatchResults:
        name = _batch_name(batch_id)
        return await self._run(lambda: _retrieve(self._client, name))

    async def cancel(self, batch_id: str) -> BatchStatus:
        name = _batch_name(batch_id)
        client = self._client

        async def cancel() -> BatchStatus:
            await client.sdk.aio.batches.cancel(name=name, config={"http_options": _options(client)})
            return await _status(client, name)

        return await self._run(cancel)

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`operation`, with SDK and transport errors translated into `llmp.errors`."""
        try:
            return await operation()
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self._client.provider)
            if error is None:
                raise
            raise error from exc


# ----- submit -----


def _options(client: GeminiClient) -> dict[str, Any]:
    # Batch mode is documented on v1beta only, while google-genai's default is v1: v1 (named or
    # not) becomes v1beta, as it always did here, and any other version is kept.
    return {"api_version": client.api_version if client.api_version != "v1" else BATCH_API_VERSION}


def _batch_name(raw: Any) -> str:
    if not isinstance(raw, str) or _NAME.match(raw) is None:
        raise ConfigurationError(f"{raw!r} is not a Gemini batch name (expected 'batches/<id>')")
    return raw


def _inlined(request: Request, custom_id: str) -> Any:
    """The SDK's ``InlinedRequest`` for `request`: the live call's body (`rest_body`), read into
    google-genai's types (JSON mode, so base64 fields become the bytes the SDK holds)."""
    from google.genai import types

    body = rest_body(request)
    config = dict(body.get("generationConfig") or {})
    for name in _CONFIG_FIELDS:
        if name in body:
            config[name] = body[name]
    unknown = set(body) - {"contents", "generationConfig", *_CONFIG_FIELDS}
    if unknown:
        raise UnsupportedParameterError(
            f"a Gemini batch request cannot carry {', '.join(sorted(unknown))} (from extra_body): "
            "google-genai's batch requests have no such field"
        )
    wire = {"contents": body["contents"], "config": config, "metadata": {"key": custom_id}}
    try:
        return types.InlinedRequest.model_validate_json(json.dumps(wire, ensure_ascii=False))
    except ValueError as exc:  # pydantic's ValidationError: a field google-genai does not take
        raise UnsupportedParameterError(f"Gemini's batch API cannot take this request: {exc}") from exc


def _wire_lines(client: GeminiClient, inlined: Sequence[Any]) -> list[bytes]:
    """Each request as the JSON the SDK would send inline, ``{"key", "request"}`` per line.

    google-genai has no public serializer for a ``GenerateContentRequest``; its inline-batch
    converter is the one that makes file lines byte-for-byte the requests an inline batch sends.
    """
    from google.genai import _common, batches

    api = client.sdk._api_client
    lines = []
    for item in inlined:
        wire = _common.encode_unserializable_types(
            _common.convert_to_dict(batches._InlinedRequest_to_mldev(api, item))
        )
        line = {"key": item.metadata["key"], "request": wire["request"]}
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
    return lines


async def _submit(client: GeminiClient, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
    if not requests:
        raise ConfigurationError("a batch needs at least one request")
    model, n = requests[0].model, requests[0].n
    if any(r.model != model or r.n != n for r in requests):
        raise ConfigurationError("a Gemini batch runs one model with one n for every request")
    inlined = [_inlined(r, cid) for r, cid in zip(requests, custom_ids, strict=True)]
    lines = _wire_lines(client, inlined)
    options = _options(client)
    config = {"display_name": f"llmp: {len(requests)} requests, n={n}", "http_options": options}
    if sum(len(line) + 1 for line in lines) <= INLINE_MAX_BYTES:
        job = await client.sdk.aio.batches.create(model=model, src=inlined, config=config)
    else:
        data = io.BytesIO(b"\n".join(lines) + b"\n")
        upload = {"mime_type": "jsonl", "display_name": config["display_name"], "http_options": options}
        uploaded = await client.sdk.aio.files.upload(file=data, config=upload)
        job = await client.sdk.aio.batches.create(model=model, src=uploaded.name, config=config)
    if not job.name:
        raise MalformedResponseError("Gemini created a batch without a name", provider=client.provider)
    return str(job.name)


# ----- status and results -----


async def _get(client: GeminiClient, name: str) -> Any:
    return await client.sdk.aio.batches.get(name=name, config={"http_options": _options(client)})


def _shape(job: Any) -> tuple[int | None, int]:
    """``(request count or None, n)`` from the display name `_submit` gave the job."""
    match = _DISPLAY.match(job.display_name or "")
    return (int(match["count"]), int(match["n"])) if match else (None, 1)


async def _status(client: GeminiClient, name: str) -> BatchStatus:
    job = await _get(client, name)
    status, raw = status_of(job.state)
    total, _ = _shape(job)
    inlined = job.dest.inlined_responses if job.dest is not None else None
    failed = sum(1 for r in inlined if r.error is not None) if inlined else 0
    completed = len(inlined) - failed if inlined else 0
    return BatchStatus(status, raw, completed, failed, total or completed + failed)


async def _retrieve(client: GeminiClient, name: str) -> BatchResults:
    job = await _get(client, name)
    status, raw = status_of(job.state)
    if status not in ("completed", "failed", "expired", "cancelled"):
        return BatchResults(done=False)
    total, n = _shape(job)
    items: list[tuple[Any, Any, Any]] = []  # (key, GenerateContentResponse JSON | None, error | None)
    dest = job.dest
    if dest is not None and dest.inlined_responses:
        items = [(_key(r.metadata), _as_json(r.response), r.error) for r in dest.inlined_responses]
    elif dest is not None and dest.file_name:
        data = await client.sdk.aio.files.download(
            file=dest.file_name, config={"http_options": _options(client)}
        )
        items = _file_items(client, data)
    results: dict[str, Response] = {}
    errors: dict[str, BatchFailure] = {}
    for position, (key, response, error) in enumerate(items):
        custom_id = str(key) if key is not None else str(position)
        if error is not None or response is None:
            errors[custom_id] = _item_error(error)
            continue
        results[custom_id] = parse_response(response, n, client.provider)
    kind = _UNANSWERED.get(status)
    if kind is not None and total is not None:
        message = f"the Gemini batch job ended {raw} before this request was answered"
        for index in range(total):
            if str(index) not in results and str(index) not in errors:
                errors[str(index)] = BatchFailure(kind, message)
    return BatchResults(True, results, errors)


def _key(metadata: Mapping[str, Any] | None) -> Any:
    return metadata.get("key") if metadata else None


def _item_error(error: Any) -> BatchFailure:
    if error is None:
        return BatchFailure("errored", "the batch output has neither a response nor an error")
    # Inline errors are the SDK's JobError; file lines are plain JSON.
    fields = error if isinstance(error, Mapping) else {"code": error.code, "message": error.message}
    code, message = fields.get("code"), fields.get("message")
    status = None
    if isinstance(code, int):
        status = code if code >= 100 else _HTTP.get(code)  # an HTTP status passes as is
    return BatchFailure("errored", str(message or f"code {code}"), status)


def _as_json(response: Any) -> dict[str, Any] | None:
    """An SDK ``GenerateContentResponse`` as the JSON the API sent (what `parse_response` reads)."""
    if response is None:
        return None
    return cast(dict[str, Any], response.model_dump(mode="json", by_alias=True, exclude_none=True))


def _file_items(client: GeminiClient, data: bytes) -> list[tuple[Any, Any, Any]]:
    """The lines of a responses file as ``(key, GenerateContentResponse JSON | None, error | None)``."""
    items: list[tuple[Any, Any, Any]] = []
    for number, line in enumerate(data.decode().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise MalformedResponseError(
                f"line {number} of the batch responses file is not JSON", provider=client.provider
            ) from exc
        response = item.get("response")
        parsed = response if isinstance(response, dict) else None
        items.append((item.get("key"), parsed, item.get("error")))
    return items
