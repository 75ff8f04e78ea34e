"""OpenAI's Batch API (half price) for an `OpenAIClient`: `OpenAIBatch`, the client's ``batch``.

- submit: one JSONL line per request (``custom_id``, ``POST``, ``/v1/chat/completions``, the same
  body as a live call: tools, output schema, reasoning included), uploaded with the Files API
  (purpose ``batch``), then ``batches.create`` with the 24 h window.
- status / cancel: the Batch object's status (OpenAI's names are llmp's) and request counts.
- retrieve: once the batch is terminal, download its output and error files and map each line
  back by ``custom_id``: OpenAI writes them in any order. Each answer is read like a live reply
  (tool calls, refusals, usage details: a `Response`). A line is a failure when its response's
  status is >= 400 or it carries an ``error`` object (``batch_expired``: the 24 h window ended
  first). A failed, expired or cancelled batch may leave requests out of both files; their ids
  come from the input file, so each is reported with the batch's reason rather than as missing.

SDK errors are translated like a live call's. The key is only ever in the SDK's headers: nothing
here writes it anywhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from llmp.errors import ConfigurationError, LLMPError
from llmp.types import BatchFailure, BatchResults, BatchStatus, Request, Response
from llmp_openai._errors import translate
from llmp_openai._response import parse_completion

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types import Batch

    from llmp_openai._client import OpenAIClient

T = TypeVar("T")
ENDPOINT: Final = "/v1/chat/completions"
COMPLETION_WINDOW: Final = "24h"
# OpenAI's documented limits for one batch: checked before uploading, so that an oversized job
# fails at once with advice instead of as a batch that fails validation later.
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# Error codes of requests the batch never ran, and the kind llmp reports for them.
_KIND_BY_CODE: dict[str, str] = {"batch_expired": "expired", "batch_cancelled": "canceled"}
# The kind of a request left out of both files, by the batch's final status.
_KIND_BY_STATUS: dict[str, Any] = {"failed": "errored", "expired": "expired", "cancelled": "canceled"}
_REASON = {
    "expired": "the batch's 24 h window ended before this request ran",
    "cancelled": "the batch was cancelled before this request ran",
}


class OpenAIBatch:
    """`llmp.types.BatchApi` for an `OpenAIClient` of OpenAI itself (see the module docstring)."""

    __slots__ = ("_client",)

    def __init__(self, client: OpenAIClient) -> None:
        self._client = client

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        return await self._run(_submit(self._client, self._sdk(), requests, custom_ids))

    async def status(self, batch_id: str) -> BatchStatus:
        return status_of(await self._run(self._sdk().batches.retrieve(batch_id)))

    async def cancel(self, batch_id: str) -> BatchStatus:
        return status_of(await self._run(self._sdk().batches.cancel(batch_id)))

    async def retrieve(self, batch_id: str) -> BatchResults:
        sdk = self._sdk()
        batch = await self._run(sdk.batches.retrieve(batch_id))
        return await self._run(_retrieve(self._client.provider, sdk, batch))

    def _sdk(self) -> AsyncOpenAI:
        return self._client.sdk

    async def _run(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except LLMPError:
            raise
        except Exception as exc:
            error = translate(exc, self._client.provider)
            if error is None:
                raise
            raise error from exc


def encode_requests(client: OpenAIClient, requests: Sequence[Request], custom_ids: Sequence[str]) -> bytes:
    """The batch input file: one request line per request, bodies exactly as a live call sends."""
    lines = [
        json.dumps(
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": ENDPOINT,
                "body": client.body(request, stream=False),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for request, custom_id in zip(requests, custom_ids, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


async def _submit(
    client: OpenAIClient, sdk: AsyncOpenAI, requests: Sequence[Request], custom_ids: Sequence[str]
) -> str:
    if len(requests) > MAX_REQUESTS:
        raise ConfigurationError(
            f"an OpenAI batch holds at most {MAX_REQUESTS:,} requests, got {len(requests):,}: "
            "split the prompts over several batch_submit() calls"
        )
    data = encode_requests(client, requests, custom_ids)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigurationError(
            f"the batch input file would be {len(data) / 2**20:.0f} MB, over OpenAI's 200 MB limit: "
            "split the prompts over several batch_submit() calls"
        )
    upload = await sdk.files.create(file=("llmp-batch.jsonl", data, "application/jsonl"), purpose="batch")
    batch = await sdk.batches.create(
        input_file_id=upload.id, endpoint=ENDPOINT, completion_window=COMPLETION_WINDOW
    )
    return batch.id


def status_of(batch: Batch) -> BatchStatus:
    """OpenAI's status names are llmp's."""
    counts = batch.request_counts
    return BatchStatus(
        batch.status,
        batch.status,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        total=counts.total if counts else 0,
    )


def _problems(batch: Batch) -> list[str]:
    """Why a batch failed validation, one message per problem (with its input line)."""
    data = batch.errors.data if batch.errors is not None else None
    return [
        f"line {error.line}: {error.message}" if error.line is not None else str(error.message)
        for error in data or ()
    ]


async def _retrieve(provider: str, sdk: AsyncOpenAI, batch: Batch) -> BatchResults:
    if batch.status not in TERMINAL:
        return BatchResults(done=False)
    output, failures = await asyncio.gather(
        _download(sdk, batch.output_file_id), _download(sdk, batch.error_file_id)
    )
    results: dict[str, Response] = {}
    errors: dict[str, BatchFailure] = {}
    # The output file first: should a request appear in both, its answer wins (see _read_line).
    for content in (output, failures):
        for line in content.splitlines():
            _read_line(line, provider, results, errors)
    kind = _KIND_BY_STATUS.get(batch.status)
    counts = batch.request_counts
    if kind is not None and (counts is None or not counts.total or len(results) + len(errors) < counts.total):
        problems = _problems(batch)
        reason = _REASON.get(batch.status) or "the batch failed: " + (
            "; ".join(problems[:3]) or "no reason given"
        )
        for custom_id in await _input_ids(sdk, batch.input_file_id):
            if custom_id not in results and custom_id not in errors:
                errors[custom_id] = BatchFailure(kind, reason)
    return BatchResults(True, results, errors)


async def _download(sdk: AsyncOpenAI, file_id: str | None) -> bytes:
    if not file_id:
        return b""  # OpenAI leaves a file out when it would be empty
    response = await sdk.files.content(file_id)
    return response.content


async def _input_ids(sdk: AsyncOpenAI, file_id: str) -> list[str]:
    """The custom_ids of a batch's input file; none if the file is gone (they expire)."""
    import openai

    try:
        content = await _download(sdk, file_id)
    except openai.NotFoundError:
        return []
    ids = []
    for line in content.splitlines():
        try:
            ids.append(str(json.loads(line)["custom_id"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line validation rejected: it has no usable id
    return ids


def _read_line(
    line: bytes, provider: str, results: dict[str, Response], errors: dict[str, BatchFailure]
) -> None:
    """File one output/error-file line under its custom_id, as a result or an error."""
    try:
        data = json.loads(line)
        custom_id = str(data["custom_id"])
        response = data.get("response") or {}
        error = data.get("error")
        status = response.get("status_code")
    except (ValueError, KeyError, TypeError, AttributeError):
        # A line without a usable custom_id cannot be attributed; its request is reported missing.
        return
    if error or not isinstance(status, int) or status >= 400:
        if custom_id not in results:
            errors[custom_id] = _item_error(error, status, response.get("body"))
        return
    try:
        parsed = parse_completion(json.dumps(response.get("body")).encode(), provider)
    except LLMPError as exc:  # unreadable, or a 200 that carries an error
        errors[custom_id] = BatchFailure("errored", str(exc), status)
        return
    parsed.request_id = response.get("request_id") if isinstance(response.get("request_id"), str) else None
    results[custom_id] = parsed
    errors.pop(custom_id, None)


def _item_error(error: Any, status: Any, body: Any) -> BatchFailure:
    status_code = status if isinstance(status, int) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or code or "the request failed"
        kind = _KIND_BY_CODE.get(code, "errored") if isinstance(code, str) else "errored"
        return BatchFailure(kind, str(message), status_code)  # type: ignore[arg-type]
    inner = body.get("error") if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return BatchFailure("errored", str(message or f"HTTP {status}"), status_code)
