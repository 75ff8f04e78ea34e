"""The fake OpenAI Files and Batch APIs: uploads, the batch lifecycle on a time scale, result files.

Objects are shaped like the openai SDK's ``FileObject`` and ``Batch``, result lines like OpenAI's
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``), and each
request is answered like ``POST /v1/chat/completions`` (``reply_fn``, token knobs). Time is lazy:
a batch's state follows from its age whenever a client looks, so there is no background task:
``validating`` for one step, ``in_progress`` answering ``requests_per_step`` requests a step,
``finalizing`` for one step, ``completed``. A cancel (``validating``/``in_progress``) freezes
progress: ``cancelling`` for one step, then ``cancelled`` with the answers so far.

Knobs, on ``server.batches`` (read when a batch is created; ``reset()`` restores them):

- ``step_seconds`` (0.05), ``requests_per_step`` (4): the time scale.
- ``fail_requests(when, ...)``: requests whose body satisfies ``when`` get an error line (a
  response with status >= 400 and OpenAI's error body, or with ``error_object=True`` an ``error``).
- ``expire_after = k``: the batch expires once ``k`` requests are answered; the rest go to the
  error file with code ``batch_expired``.
- ``hold_after = k``: the batch stops after ``k`` answers and stays ``in_progress`` until
  cancelled: a deterministic moment to look at or cancel a running batch.
- ``fail_validation = "message"``: the batch fails validation (``failed``, ``errors.data``).
- ``report_unfinished`` (True; read when a batch ends): requests an expired or cancelled batch
  never ran get error lines (``batch_expired`` / ``batch_cancelled``); False: in neither file.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmp.testing._faults import BodyPredicate
from llmp.testing._wire import ErrorResponse, load_json
from llmp_openai.testing import _openai_wire as wire
from llmp_openai.testing._openai_render import Completion
from llmp_openai.testing._openai_request import ChatRequest, parse_chat_request

if TYPE_CHECKING:
    from llmp.testing._fake_state import RequestRecord

__all__ = ["FakeBatches", "FakeFile"]

Complete = Callable[[ChatRequest, str], Completion]
Answer = tuple[int, bytes, bytes]  # status, content type, body

FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_DAY = 24 * 3600
_JSON = b"application/json"
_BINARY = b"application/octet-stream"
_UNFINISHED = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(slots=True)
class FakeFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_json(self) -> dict[str, Any]:
        # Batch files expire after 30 days, as OpenAI documents.
        expires = self.created_at + 30 * _DAY if self.purpose.startswith("batch") else None
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": expires,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass(frozen=True, slots=True)
class _ItemFailure:
    when: BodyPredicate
    status: int
    message: str
    code: str | None
    error_object: bool


@dataclass(frozen=True, slots=True)
class _Knobs:
    """The knobs a batch was created with: later changes do not alter a running batch."""

    step: float
    per_step: int
    expire_after: int | None
    hold_after: int | None


@dataclass(slots=True)
class _Job:
    id: str
    input_file_id: str
    metadata: Any
    knobs: _Knobs
    items: list[tuple[str, Any]]
    problems: list[dict[str, Any]]
    model: str | None = None
    created: float = field(default_factory=time.time)  # wall clock, for the timestamps clients read
    started: float = field(default_factory=time.monotonic)  # for the lifecycle
    status: str = "validating"
    stamps: dict[str, int] = field(default_factory=dict)
    done: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    def at(self, steps: float) -> int:
        return int(self.created + steps * self.knobs.step)


class FakeBatches:
    """Files and batches of one fake OpenAI server. Only the server's loop thread touches the
    files and batches; tests set the knobs by plain attribute assignment."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.step_seconds = 0.05
        self.requests_per_step = 4  # at least 1
        self.expire_after: int | None = None
        self.hold_after: int | None = None
        self.fail_validation: str | None = None
        self.report_unfinished = True
        self._failures: list[_ItemFailure] = []
        self.files: dict[str, FakeFile] = {}
        self._jobs: dict[str, _Job] = {}

    def fail_requests(
        self,
        when: BodyPredicate,
        *,
        status: int = 400,
        message: str = "Invalid request.",
        code: str | None = None,
        error_object: bool = False,
    ) -> None:
        """Answer the batch requests whose body satisfies `when` with an error line."""
        # A new list rather than append: the server thread may be iterating the old one.
        self._failures = [*self._failures, _ItemFailure(when, status, message, code, error_object)]

    def handle(self, record: RequestRecord, complete: Complete) -> Answer:
        """Answer a request under /v1/files or /v1/batches (auth already checked)."""
        method, path = record.method, record.path
        match (method, path.split("/")[2:]):
            case ("POST", ["files"]):
                return self._upload(record.headers.get("content-type", ""), record.raw_body)
            case ("GET", ["files", file_id]):
                return _ok(self._file(file_id).to_json())
            case ("GET", ["files", file_id, "content"]):
                return 200, _BINARY, self._file(file_id).content
            case ("POST", ["batches"]):
                record.body = load_json(record.raw_body)
                return _ok(self._batch_json(self._create(record.body), complete))
            case ("GET", ["batches", batch_id]):
                return _ok(self._batch_json(self._job(batch_id), complete))
            case ("POST", ["batches", batch_id, "cancel"]):
                return _ok(self._batch_json(self._cancel(self._job(batch_id), complete), complete))
        raise wire.invalid(f"Invalid URL ({method} {path})", status=404)

    def _file(self, file_id: str) -> FakeFile:
        found = self.files.get(file_id)
        if found is None:
            raise wire.invalid(f"No such File object: {file_id}", param="id", status=404)
        return found

    def _job(self, batch_id: str) -> _Job:
        job = self._jobs.get(batch_id)
        if job is None:
            raise wire.invalid(f"No batch found with id '{batch_id}'.", status=404)
        return job

    def _new_file(self, filename: str, purpose: str, content: bytes) -> str:
        new = FakeFile("file-" + secrets.token_hex(12), filename, purpose, content, int(time.time()))
        self.files[new.id] = new
        return new.id

    def _upload(self, content_type: str, raw: bytes) -> Answer:
        fields = _multipart(content_type, raw)
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if "file" not in fields:
            raise wire.invalid("Missing required parameter: 'file'.", param="file")
        if purpose not in FILE_PURPOSES:
            raise wire.invalid(f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
        filename = fields["file"][0] or "upload"
        if purpose == "batch" and not filename.endswith(".jsonl"):
            raise wire.invalid("Invalid file format for Batch API. Must be .jsonl", param="file")
        return _ok(self._file(self._new_file(filename, purpose, fields["file"][1])).to_json())

    def _create(self, body: Any) -> _Job:
        if not isinstance(body, dict):
            raise wire.invalid("We could not parse the JSON body of your request.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                raise wire.invalid(f"Missing required parameter: '{name}'.", param=name)
        source = self._file(body["input_file_id"])
        if source.purpose != "batch":
            raise wire.invalid("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        if body["endpoint"] != "/v1/chat/completions":  # the only endpoint the fake answers
            raise wire.invalid(f"Invalid value for 'endpoint': {body['endpoint']!r}.", param="endpoint")
        if body["completion_window"] != "24h":
            raise wire.invalid("Invalid value for 'completion_window': only '24h' is supported.")
        items, problems, model = _parse_input(source.content)
        if self.fail_validation is not None:
            problems.append(_problem("invalid_request", None, self.fail_validation))
        knobs = _Knobs(self.step_seconds, max(1, self.requests_per_step), self.expire_after, self.hold_after)
        job = _Job("batch_" + secrets.token_hex(12), source.id, body.get("metadata"), knobs, items, problems)
        job.model = model
        self._jobs[job.id] = job
        return job

    def _cancel(self, job: _Job, complete: Complete) -> _Job:
        self._advance(job, complete)
        if job.status not in ("validating", "in_progress", "cancelling"):
            raise wire.invalid(f"Cannot cancel a batch with status '{job.status}'.", status=409)
        if job.cancel_at is None:
            job.cancel_at = time.monotonic()
            job.status = "cancelling"
            job.stamps["cancelling_at"] = int(time.time())
        return job

    def _advance(self, job: _Job, complete: Complete) -> None:
        """Bring `job` up to date with its age (answering the requests now due)."""
        if job.status in TERMINAL:
            return
        knobs, total, now = job.knobs, len(job.items), time.monotonic()
        # Progress stops when cancelling starts: only answers from before count.
        until = now if job.cancel_at is None else min(now, job.cancel_at)
        steps = (until - job.started) / knobs.step if knobs.step > 0 else math.inf
        if job.status == "validating" and steps >= 1:
            if job.problems:
                self._finish(job, "failed", 1)
                return
            job.status = "in_progress"
            job.stamps["in_progress_at"] = job.at(1)
        if "in_progress_at" in job.stamps and job.status != "finalizing":
            natural = total if math.isinf(steps) else min(total, knobs.per_step * int(steps - 1))
            limits = [n for n in (knobs.hold_after, knobs.expire_after) if n is not None]
            while job.done < min([natural, *limits]):
                custom_id, body = job.items[job.done]
                job.done += 1
                line = self._answer(custom_id, body, complete)
                ok = line["error"] is None and line["response"]["status_code"] < 400
                (job.output if ok else job.errors).append(line)
            last = 1 + math.ceil(total / knobs.per_step)  # the step that answers the last request
            if job.cancel_at is None and knobs.expire_after is not None and natural > knobs.expire_after:
                self._finish(job, "expired", steps)
            elif job.cancel_at is None and job.done == total and steps >= last:
                job.status = "finalizing"
                job.stamps["finalizing_at"] = job.at(last)
        if job.status == "finalizing" and steps >= 2 + math.ceil(total / knobs.per_step):
            self._finish(job, "completed", 2 + math.ceil(total / knobs.per_step))
        if job.cancel_at is not None and now >= job.cancel_at + knobs.step:
            self._finish(job, "cancelled", (job.cancel_at - job.started) / (knobs.step or 1) + 1)

    def _answer(self, custom_id: str, body: Any, complete: Complete) -> dict[str, Any]:
        """One request's result line, answered like POST /v1/chat/completions would be."""
        request_id = "req_" + secrets.token_hex(12)
        for failure in self._failures:
            if not failure.when(body):
                continue
            if failure.error_object:
                return _line(custom_id, error={"code": failure.code, "message": failure.message})
            error = wire.error_body(failure.message, "invalid_request_error", code=failure.code)
            return _line(custom_id, failure.status, request_id, json.loads(error))
        try:
            answer = complete(parse_chat_request(body), request_id).json_body()
            return _line(custom_id, 200, request_id, json.loads(answer))
        except ErrorResponse as reply:
            return _line(custom_id, reply.status, request_id, json.loads(reply.body))

    def _finish(self, job: _Job, status: str, steps: float) -> None:
        job.status = status
        job.stamps[f"{status}_at"] = job.at(steps)
        if status in _UNFINISHED and self.report_unfinished:
            code, message = _UNFINISHED[status]
            job.errors += [
                _line(cid, error={"code": code, "message": message}) for cid, _ in job.items[job.done :]
            ]
        if job.output:
            job.output_file_id = self._new_file(f"{job.id}_output.jsonl", "batch_output", _jsonl(job.output))
        if job.errors:
            job.error_file_id = self._new_file(f"{job.id}_error.jsonl", "batch_output", _jsonl(job.errors))

    def _batch_json(self, job: _Job, complete: Complete) -> dict[str, Any]:
        self._advance(job, complete)
        failed, expired, stamps = job.status == "failed", job.status == "expired", job.stamps
        counts = {
            "total": len(job.items) if "in_progress_at" in stamps else 0,
            "completed": len(job.output),
            # Expired requests count as failed; the ones a cancel stopped count as neither.
            "failed": job.done - len(job.output) + (len(job.items) - job.done if expired else 0),
        }
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": job.problems} if failed else None,
            "input_file_id": job.input_file_id,
            "completion_window": "24h",
            "status": job.status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": int(job.created),
            "expires_at": int(job.created) + _DAY,
            **{name: stamps.get(name) for name in _STAMPS},
            "request_counts": counts,
            "metadata": job.metadata,
            "model": job.model,
            "usage": _usage(job.output),
        }


_STAMPS = [f"{phase}_at" for phase in ("in_progress", "finalizing", "completed", "failed", "expired")]
_STAMPS += ["cancelling_at", "cancelled_at"]


def _ok(data: Mapping[str, Any]) -> Answer:
    return 200, _JSON, _dumps(data).encode()


def _line(
    custom_id: str, status: int = 0, request_id: str = "", body: Any = None, error: Any = None
) -> dict[str, Any]:
    """A line of a batch output or error file: a response, or (no status) an error object."""
    response = {"status_code": status, "request_id": request_id, "body": body} if status else None
    line: dict[str, Any] = {"id": "batch_req_" + secrets.token_hex(12), "custom_id": custom_id}
    return {**line, "response": response, "error": error}


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    # OpenAI does not keep input order in result files; neither does the fake (it reverses it),
    # so clients must map lines back by custom_id.
    return "".join(_dumps(line) + "\n" for line in reversed(lines)).encode()


def _usage(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch's ``usage`` (BatchUsage): the sum over its answered requests."""
    sums = dict.fromkeys(("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"), 0)
    for line in lines:
        usage = line["response"]["body"].get("usage") or {}
        details = (usage.get("prompt_tokens_details") or {}, usage.get("completion_tokens_details") or {})
        for part in (usage, *details):
            for name in sums.keys() & part.keys():
                sums[name] += part[name]
    return {
        "input_tokens": sums["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": sums["cached_tokens"]},
        "output_tokens": sums["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": sums["reasoning_tokens"]},
        "total_tokens": sums["prompt_tokens"] + sums["completion_tokens"],
    }


def _problem(code: str, line: int | None, message: str, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": param}


def _line_problem(data: Any, seen: set[str]) -> tuple[str, str, str | None] | None:
    """What OpenAI's validation rejects in one input line, as (code, message, param)."""
    if not isinstance(data, dict):
        return "invalid_json_line", "This line is not parseable as valid JSON.", None
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "Missing 'custom_id'.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is a duplicate.", "custom_id"
    if data.get("method") != "POST":
        return "invalid_method", "The method must be POST.", "method"
    if data.get("url") != "/v1/chat/completions":
        return "mismatched_url", f"The url {data.get('url')!r} does not match the batch endpoint.", "url"
    if not isinstance(data.get("body"), dict):
        return "invalid_request", "The body must be a JSON object.", "body"
    return None


def _parse_input(content: bytes) -> tuple[list[tuple[str, Any]], list[dict[str, Any]], str | None]:
    """The requests of a batch input file, what validation rejects in it, and its model."""
    items: list[tuple[str, Any]] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(content.splitlines(), 1):
        if not raw.strip():
            continue
        data = load_json(raw)
        problem = _line_problem(data, seen)
        # A batch runs one model: OpenAI rejects a file whose lines name different ones.
        if problem is None and model is not None and data["body"].get("model") != model:
            problem = "mismatched_model", "The model differs from the other requests' model.", "body.model"
        if problem is not None:
            problems.append(_problem(problem[0], number, problem[1], problem[2]))
            continue
        seen.add(data["custom_id"])
        model = model or data["body"].get("model")
        items.append((data["custom_id"], data["body"]))
    if not items and not problems:
        problems.append(_problem("empty_file", None, "The input file contains no requests."))
    return items, problems, model


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename or None, content)."""
    # The email package parses MIME multipart byte-exactly; an HTTP body is one without headers.
    # Imported here: only uploads need it.
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if message.get_content_type() != "multipart/form-data" or not message.is_multipart():
        raise wire.invalid("The request must be multipart/form-data.")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name, content = part.get_param("name", header="content-disposition"), part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(content, bytes):
            fields[name] = (part.get_filename(), content)
    return fields
