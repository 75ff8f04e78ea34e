"""Batch mode on the fake Gemini server: the job lifecycle and the Files API a big batch needs.

Endpoints, as google-genai 3.x calls them (``{v}`` is ``v1``, ``v1beta`` or ``v1alpha``):

- ``POST /{v}/models/{model}:batchGenerateContent`` with ``{"batch": {"displayName",
  "inputConfig": {"requests": {"requests": [{"request", "metadata"}]}} | {"fileName"}}}``
- ``GET /{v}/batches/{id}`` and ``POST /{v}/batches/{id}:cancel``
- ``POST /upload/{v}/files`` (resumable start, then ``upload, finalize`` to the returned URL)
  and ``GET /{v}/files/{id}:download?alt=media``

Create and get answer a long-running ``Operation`` whose ``metadata`` is the
``GenerateContentBatch`` (google-genai reads the state, model, display name and output from
there): ``state`` is a ``BATCH_STATE_*`` name, ``batchStats`` counts are int64, so JSON
strings. A finished job also has ``done`` and either ``response`` (the output, repeated in
``metadata.output``) or ``error`` (a ``google.rpc.Status``). Inline outputs keep input order
and echo each request's ``metadata``; a file output has one ``{"key", "response" | "error"}``
line per input line, in order. Per-item errors are ``google.rpc.Status`` objects (gRPC codes).

Each request of a batch is answered by the server's own ``generateContent`` logic (its
``reply_fn``, token counts, thinking budget...), so a batch answer equals the live answer.

Knobs (on ``server.batches``; :meth:`FakeGeminiBatches.reset` restores them):

- ``time_scale``: seconds per state step. A job is PENDING for one step, RUNNING for one, then
  ends. ``0`` ends it at the first ``get``; ``None`` moves jobs only on :meth:`advance`.
- ``fail_when(request_body) -> bool``: those requests end with ``item_error`` (a gRPC code and
  message) in place of a response; the job still SUCCEEDS, as the Gemini API reports it.
- ``partial_state``: end a job that has failed items as ``JOB_STATE_PARTIALLY_SUCCEEDED`` (the
  state google-genai's ``JobState`` names for it) rather than ``BATCH_STATE_SUCCEEDED``.
- ``expire``: jobs end EXPIRED, without output (the 48 h window ran out).
- ``fail_job``: a message: jobs end FAILED with that ``error`` and no output.
- ``reorder_output``: write the output in reverse order (Google keeps input order; this checks
  that a client maps answers back by their ``metadata`` / ``key``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from llmp.testing._responding import respond
from llmp.testing._wire import ErrorResponse
from llmp_gemini.testing import _gemini_request as request_wire
from llmp_gemini.testing import _gemini_wire as wire

if TYPE_CHECKING:
    from llmp.testing._server import Send
    from llmp_gemini.testing._fake_gemini import FakeGeminiServer, GeminiRequestRecord

__all__ = ["FakeBatchJob", "FakeGeminiBatches"]

_VERSIONS = ("v1", "v1beta", "v1alpha")
_JSON = (b"content-type", wire.JSON_CONTENT_TYPE)
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# google.rpc.Code for an HTTP status, for per-item errors (which carry gRPC codes).
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 429: 8, 499: 1, 500: 13, 503: 14, 504: 4}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class FakeBatchJob:
    """One batch as the fake holds it. ``requests`` are the ``GenerateContentRequest`` bodies
    (from the inline list or the uploaded file), ``keys`` their metadata or file-line keys."""

    name: str  # "batches/..."
    model: str
    display_name: str | None
    requests: list[dict[str, Any]]
    keys: list[Any]
    input_file: str | None
    created: float
    create_time: str
    steps: int = 0  # manual steps taken (time_scale=None)
    state: str = "BATCH_STATE_PENDING"
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    succeeded: int = 0
    failed: int = 0
    end_time: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.end_time is not None


class FakeGeminiBatches:
    """The batch and file state of one `FakeGeminiServer` (``server.batches``)."""

    def __init__(self, server: FakeGeminiServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._jobs: dict[str, FakeBatchJob] = {}
        self._files: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._uploads: dict[str, tuple[bytearray, dict[str, Any]]] = {}
        self.time_scale: float | None = 0.0
        self.fail_when: Callable[[Mapping[str, Any]], bool] | None = None
        self.item_error: tuple[int, str] = (13, "An internal error has occurred.")
        self.partial_state = False
        self.expire = False
        self.fail_job: str | None = None
        self.reorder_output = False

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._files.clear()
            self._uploads.clear()
        self.time_scale = 0.0
        self.fail_when = None
        self.item_error = (13, "An internal error has occurred.")
        self.partial_state = False
        self.expire = False
        self.fail_job = None
        self.reorder_output = False

    # ----- what tests read and change -----

    @property
    def jobs(self) -> list[FakeBatchJob]:
        with self._lock:
            return list(self._jobs.values())

    def files(self) -> dict[str, bytes]:
        """Uploaded and generated files by name (``"files/..."``)."""
        with self._lock:
            return {name: data for name, (data, _) in self._files.items()}

    def advance(self, steps: int = 1) -> None:
        """Move every job ``steps`` state steps on (for ``time_scale=None``)."""
        with self._lock:
            for job in self._jobs.values():
                job.steps += steps

    # ----- routing -----

    @staticmethod
    def owns(path: str) -> bool:
        parts = path.lstrip("/").split("/")
        if parts[0] == "upload":
            return len(parts) == 3 and parts[1] in _VERSIONS and parts[2] == "files"
        if len(parts) < 2 or parts[0] not in _VERSIONS:
            return False
        if parts[1] == "models":
            return path.endswith(":batchGenerateContent")
        return parts[1] in ("batches", "files")

    async def route(self, record: GeminiRequestRecord, send: Send) -> None:
        parts = record.path.lstrip("/").split("/")
        query = parse_qs(record.query)
        if parts[0] == "upload":
            if "upload_id" not in query:
                self._server._check_auth(record)  # the upload URL itself is the credential
            headers, content = self._upload(record, query)
            await respond(record, send, 200, headers, content)
            return
        self._server._check_auth(record)
        rest = "/".join(parts[2:])
        if parts[1] == "models" and record.method == "POST":
            body = self._create(rest.removesuffix(":batchGenerateContent"), record.body)
        elif parts[1] == "batches" and record.method == "GET" and ":" not in rest:
            body = self._get(rest)
        elif parts[1] == "batches" and record.method == "POST" and rest.endswith(":cancel"):
            body = self._cancel(rest.removesuffix(":cancel"))
        elif parts[1] == "files" and record.method == "GET" and rest.endswith(":download"):
            data, meta = self._file(rest.removesuffix(":download"))
            headers = [(b"content-type", str(meta.get("mimeType", "application/octet-stream")).encode())]
            await respond(record, send, 200, headers, data)
            return
        else:
            raise wire.error(404, f"Invalid URL ({record.method} {record.path})")
        await respond(record, send, 200, [_JSON], _dumps(body).encode())

    # ----- batches -----

    def _create(self, model: str, body: Any) -> dict[str, Any]:
        batch = body.get("batch") if isinstance(body, dict) else None
        config = batch.get("inputConfig") if isinstance(batch, dict) else None
        if not isinstance(config, dict):
            raise wire.error(
                400, "* BatchGenerateContentRequest.batch.input_config: input_config is required"
            )
        input_file = config.get("fileName")
        if isinstance(input_file, str):
            requests, keys = self._file_requests(input_file)
        else:
            items = (config.get("requests") or {}).get("requests")
            if not isinstance(items, list) or not items:
                raise wire.error(400, "* BatchGenerateContentRequest.batch.input_config: no requests")
            requests = [item.get("request") if isinstance(item, dict) else None for item in items]
            keys = [item.get("metadata") if isinstance(item, dict) else None for item in items]
            input_file = None
        if any(not isinstance(r, dict) for r in requests):
            raise wire.error(400, "* InlinedRequest.request: request is required")
        job = FakeBatchJob(
            name=f"batches/{secrets.token_hex(12)}",
            model=f"models/{model.removeprefix('models/')}",
            display_name=batch.get("displayName") if isinstance(batch, dict) else None,
            requests=[r for r in requests if isinstance(r, dict)],
            keys=keys,
            input_file=input_file,
            created=time.monotonic(),
            create_time=_now(),
        )
        with self._lock:
            self._jobs[job.name] = job
        return self._operation(job)

    def _job(self, batch_id: str) -> FakeBatchJob:
        with self._lock:
            job = self._jobs.get(f"batches/{batch_id}")
        if job is None:
            raise wire.error(404, f"Batch batches/{batch_id} not found.")
        return job

    def _get(self, batch_id: str) -> dict[str, Any]:
        job = self._job(batch_id)
        self._step(job)
        return self._operation(job)

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        job = self._job(batch_id)
        self._step(job)
        if not job.done:
            # The Gemini API has no "cancelling" state: the job is cancelled at once, unanswered.
            job.state = "BATCH_STATE_CANCELLED"
            job.end_time = _now()
        return {}  # google.protobuf.Empty

    def _step(self, job: FakeBatchJob) -> None:
        """Move `job` to the state its age (or its manual steps) says, finishing it when due."""
        if job.done:
            return
        scale = self.time_scale
        if scale is None:
            steps = job.steps
        elif scale <= 0:
            steps = 2
        else:
            steps = int((time.monotonic() - job.created) / scale)
        if steps < 1:
            return
        if steps < 2:
            job.state = "BATCH_STATE_RUNNING"
            return
        self._finish(job)

    def _finish(self, job: FakeBatchJob) -> None:
        job.end_time = _now()
        if self.fail_job is not None:
            job.state = "BATCH_STATE_FAILED"
            job.error = {"code": 13, "message": self.fail_job}
            return
        if self.expire:
            job.state = "BATCH_STATE_EXPIRED"
            return
        answers = [self._answer(job.model, body) for body in job.requests]
        job.failed = sum(1 for a in answers if "error" in a)
        job.succeeded = len(answers) - job.failed
        pairs = list(zip(answers, job.keys, strict=True))
        if self.reorder_output:
            pairs.reverse()
        if job.input_file is None:
            inlined = [{**answer, **({"metadata": key} if key is not None else {})} for answer, key in pairs]
            job.output = {"inlinedResponses": {"inlinedResponses": inlined}}
        else:
            lines = [{"key": key, **answer} for answer, key in pairs]
            data = "".join(_dumps(line) + "\n" for line in lines).encode()
            name = f"files/batch-{job.name.removeprefix('batches/')}"
            with self._lock:
                self._files[name] = (data, {"mimeType": "application/jsonl", "source": "GENERATED"})
            job.output = {"responsesFile": name}
        partial = job.failed and self.partial_state
        job.state = "JOB_STATE_PARTIALLY_SUCCEEDED" if partial else "BATCH_STATE_SUCCEEDED"

    def _answer(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        fail_when = self.fail_when
        if fail_when is not None and fail_when(body):
            code, message = self.item_error
            return {"error": {"code": code, "message": message}}
        try:
            request = request_wire.parse_generate_request(
                model.removeprefix("models/"), body, self._server.secret
            )
        except ErrorResponse as reply:
            error = json.loads(reply.body)["error"]
            return {"error": {"code": _GRPC_CODES.get(reply.status, 2), "message": error["message"]}}
        answer: dict[str, Any] = json.loads(self._server._reply(request).json_body())
        return {"response": answer}

    def _operation(self, job: FakeBatchJob) -> dict[str, Any]:
        total = len(job.requests)
        pending = 0 if job.done else total
        metadata: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "model": job.model,
            "displayName": job.display_name,
            "inputConfig": {"fileName": job.input_file} if job.input_file else {"requests": {}},
            "createTime": job.create_time,
            "updateTime": job.end_time or job.create_time,
            "batchStats": {
                "requestCount": str(total),
                "successfulRequestCount": str(job.succeeded),
                "failedRequestCount": str(job.failed),
                "pendingRequestCount": str(pending),
            },
            "state": job.state,
            "name": job.name,
        }
        if job.display_name is None:
            del metadata["displayName"]
        operation: dict[str, Any] = {"name": job.name, "metadata": metadata}
        if job.end_time is not None:
            metadata["endTime"] = job.end_time
            operation["done"] = True
        if job.output is not None:
            metadata["output"] = job.output
            operation["response"] = {"@type": _OUTPUT_TYPE, **job.output}
        if job.error is not None:
            operation["error"] = job.error
        return operation

    # ----- files -----

    def _file(self, file_id: str) -> tuple[bytes, dict[str, Any]]:
        with self._lock:
            found = self._files.get(f"files/{file_id}")
        if found is None:
            raise wire.error(404, f"File files/{file_id} not found.")
        return found

    def _file_requests(self, name: str) -> tuple[list[Any], list[Any]]:
        data, _ = self._file(name.removeprefix("files/"))
        requests: list[Any] = []
        keys: list[Any] = []
        for number, line in enumerate(data.decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise wire.error(400, f"{name} line {number} is not JSON") from None
            if not isinstance(item, dict):
                raise wire.error(400, f"{name} line {number} is not an object")
            requests.append(item.get("request"))
            keys.append(item.get("key"))
        if not requests:
            raise wire.error(400, f"{name} holds no requests")
        return requests, keys

    def _upload(
        self, record: GeminiRequestRecord, query: dict[str, list[str]]
    ) -> tuple[list[tuple[bytes, bytes]], bytes]:
        command = record.headers.get("x-goog-upload-command", "")
        if "upload_id" not in query:
            if command != "start" or record.headers.get("x-goog-upload-protocol") != "resumable":
                raise wire.error(400, "The fake Gemini server takes resumable uploads only")
            sent = record.body.get("file") if isinstance(record.body, dict) else None
            sent = sent if isinstance(sent, dict) else {}
            # google-genai sends the File snake_case; Google answers camelCase, as here.
            meta = {
                "displayName": request_wire.field(sent, "displayName"),
                "mimeType": record.headers.get("x-goog-upload-header-content-type")
                or request_wire.field(sent, "mimeType"),
            }
            upload_id = secrets.token_hex(16)
            with self._lock:
                self._uploads[upload_id] = (bytearray(), meta)
            version = record.path.lstrip("/").split("/")[1]
            query_string = f"upload_id={upload_id}&upload_protocol=resumable"
            url = f"{self._server.base_url}/upload/{version}/files?{query_string}"
            return [(b"x-goog-upload-url", url.encode()), (b"x-goog-upload-status", b"active")], b""
        with self._lock:
            upload = self._uploads.get(query["upload_id"][0])
        if upload is None:
            raise wire.error(404, "Unknown upload id")
        buffer, meta = upload
        if int(record.headers.get("x-goog-upload-offset", "-1")) != len(buffer):
            raise wire.error(400, "Upload offset does not match the bytes received")
        buffer += record.raw_body
        if "finalize" not in command:
            return [(b"x-goog-upload-status", b"active")], b""
        name = f"files/{secrets.token_hex(6)}"
        now = _now()
        info = {
            **{k: v for k, v in meta.items() if v is not None},
            "name": name,
            "sizeBytes": str(len(buffer)),
            "createTime": now,
            "updateTime": now,
            "uri": f"{self._server.base_url}/v1beta/{name}",
            "state": "ACTIVE",
            "source": "UPLOADED",
        }
        with self._lock:
            self._uploads.pop(query["upload_id"][0], None)
            self._files[name] = (bytes(buffer), info)
        return [_JSON, (b"x-goog-upload-status", b"final")], _dumps({"file": info}).encode()
