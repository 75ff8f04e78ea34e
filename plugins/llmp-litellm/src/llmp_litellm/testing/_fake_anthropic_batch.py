"""The fake Anthropic Message Batches API: create, retrieve, cancel and the results stream.

Routes (under the server's ``x-api-key`` / ``anthropic-version`` checks): ``POST
/v1/messages/batches``, ``GET /v1/messages/batches/{id}``, ``POST .../{id}/cancel`` and ``GET
.../{id}/results`` (JSONL, streamed in small chunks that split lines, as a network does). Objects
are shaped like Anthropic's ``MessageBatch`` and ``MessageBatchIndividualResponse``.

As the API documents: only the batch's shape (``requests``, unique ``custom_id`` s matching
``^[a-zA-Z0-9_-]{1,64}$``, ``params`` objects) is checked at creation; each request's params are
validated when it runs, so a bad one becomes an ``errored`` result. Each request is answered by the
same logic as ``POST /v1/messages`` (the server's ``reply_fn``, cache-token knobs, ``strict_models``
and ``context_window``), so a batch answer equals the live one; its usage says ``service_tier:
"batch"``. ``request_counts`` stay all ``processing`` until the batch ends, and results are not
in request order (see ``result_order``).

Time is lazy: a batch's state is computed from its age whenever a client looks, so there is no
background task. With ``step_seconds = s``, ``requests_per_step`` requests run per step; the batch
is ``in_progress`` until all have run, then ``ended``.

Knobs (on ``server.message_batches``; read when a batch is created; ``reset()`` restores them):

- ``step_seconds`` (0.05) and ``requests_per_step`` (4): the time scale. ``step_seconds = 0``:
  every request runs at once and a cancellation takes effect at once.
- ``fail_requests(when, status=500, type=None, message=None)``: requests whose params satisfy
  ``when`` (default: all) get an ``errored`` result with Anthropic's error for that status.
- ``expire_after = k``: the 24 h window "ends" once ``k`` requests have run: the batch ends and
  the rest are ``expired``.
- ``hold_after = k``: the batch stops after ``k`` requests and stays ``in_progress`` (until
  cancelled): a deterministic moment to look at or cancel a running batch.
- ``result_order``: ``"shuffled"`` (default; a fixed permutation per batch), ``"reversed"`` or
  ``"request"``.

Cancelling an ``in_progress`` batch freezes it: ``canceling`` for one step, then ``ended``, with
the requests that had not run ``canceled``. Cancelling a batch that is not in progress changes
nothing.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmp.testing._faults import BodyPredicate
from llmp.testing._wire import ErrorResponse, load_json
from llmp_litellm.testing import _anthropic_reply as replies
from llmp_litellm.testing import _anthropic_wire as wire

if TYPE_CHECKING:
    from llmp.testing._fake_state import RequestRecord
    from llmp.testing._server import Send
    from llmp_litellm.testing._fake_anthropic import FakeAnthropicServer

__all__ = ["FakeMessageBatches"]

PREFIX = "/v1/messages/batches"
MAX_REQUESTS = 100_000
_DAY = 24 * 3600
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROUTE = re.compile(r"^/v1/messages/batches/(?P<id>[A-Za-z0-9_-]+)(?P<op>/cancel|/results)?$")
_CHUNK = 1024  # bytes per results body part: lines are split across parts
_ORDERS = ("shuffled", "reversed", "request")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class _Failure:
    when: BodyPredicate | None
    status: int
    type: str | None
    message: str | None


@dataclass(slots=True)
class _Batch:
    id: str
    custom_ids: list[str]
    outcomes: list[dict[str, Any]]  # each request's result once it has run: succeeded or errored
    step: float
    per_step: int
    expire_after: int | None
    hold_after: int | None
    order: list[int]
    created: float = field(default_factory=time.time)  # wall clock, for the timestamps clients read
    started: float = field(default_factory=time.monotonic)  # for the lifecycle
    cancel_at: float | None = None  # monotonic
    cancel_wall: float | None = None

    def ran_by(self, moment: float) -> int:
        """Requests run by `moment` (monotonic), ignoring cancellation."""
        limit = len(self.custom_ids)
        for cap in (self.hold_after, self.expire_after):
            if cap is not None:
                limit = min(limit, cap)
        if self.step <= 0:
            return limit  # no time scale: everything that may run has run
        return min(limit, int((moment - self.started) / self.step) * self.per_step)

    def view(self, now: float) -> tuple[str, int, str | None, float | None]:
        """(processing_status, requests run, why unrun ones ended: "canceled" | "expired" | None,
        when it ended (monotonic) or None)."""
        total = len(self.custom_ids)
        if self.cancel_at is not None:
            ran = self.ran_by(self.cancel_at)
            ends = self.cancel_at + self.step
            return ("ended", ran, "canceled", ends) if now >= ends else ("canceling", ran, None, None)
        ran = self.ran_by(now)
        if ran >= total:
            return "ended", total, None, self._at(total)
        if self.expire_after is not None and ran >= self.expire_after:
            return "ended", ran, "expired", self._at(self.expire_after)
        return "in_progress", ran, None, None

    def _at(self, requests: int) -> float:
        return self.started + math.ceil(requests / self.per_step) * self.step


def _stamp(wall: float | None) -> str | None:
    """RFC 3339 with microseconds, as Anthropic writes batch times."""
    if wall is None:
        return None
    when = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeMessageBatches:
    """Message batches of one fake Anthropic server. Only the server's loop thread touches the
    batches; tests set the knobs by plain attribute assignment."""

    def __init__(self) -> None:
        self._count = 0
        self.reset()

    def reset(self) -> None:
        self.step_seconds = 0.05
        self.requests_per_step = 4  # at least 1
        self.expire_after: int | None = None
        self.hold_after: int | None = None
        self.result_order = "shuffled"
        self._failures: list[_Failure] = []
        self._batches: dict[str, _Batch] = {}

    def fail_requests(
        self,
        when: BodyPredicate | None = None,
        *,
        status: int = 500,
        type: str | None = None,  # noqa: A002 - Anthropic's field name
        message: str | None = None,
    ) -> None:
        """Give requests whose params satisfy `when` (default: every one) an ``errored`` result."""
        self._failures.append(_Failure(when, status, type, message))

    # ----- the API (server loop thread) -----

    async def handle(
        self, server: FakeAnthropicServer, record: RequestRecord, request_id: str, send: Send
    ) -> None:
        now = time.monotonic()
        reply = _Replier(record, request_id, send)
        if record.path == PREFIX:
            if record.method != "POST":
                raise wire.error(405, "Method Not Allowed", "invalid_request_error")
            record.body = load_json(record.raw_body)
            created = self._create(server, record.body, wire.betas_of(record.headers))
            return await reply.json(self._object(server, created, now))
        match = _ROUTE.match(record.path)
        batch = self._batches.get(match["id"]) if match else None
        if match is None or batch is None:
            raise wire.error(404, f"message batch not found: {record.path}", "not_found_error")
        op, method = match["op"], record.method
        if op is None and method == "GET":
            return await reply.json(self._object(server, batch, now))
        if op == "/cancel" and method == "POST":
            if batch.view(now)[0] == "in_progress":
                batch.cancel_at, batch.cancel_wall = now, time.time()
            return await reply.json(self._object(server, batch, now))
        if op == "/results" and method == "GET":
            return await reply.parts(b"application/x-jsonl", self._results(batch, now))
        raise wire.error(405, "Method Not Allowed", "invalid_request_error")

    def _create(self, server: FakeAnthropicServer, body: Any, betas: list[str]) -> _Batch:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise wire.invalid("requests: at least one request is required")
        if len(requests) > MAX_REQUESTS:
            raise wire.invalid(f"requests: at most {MAX_REQUESTS} requests are allowed in a batch")
        seen: set[str] = set()
        for i, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                raise wire.invalid(f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if custom_id in seen:
                raise wire.invalid(f"requests.{i}.custom_id: {custom_id!r} is not unique in this batch")
            if not isinstance(item.get("params"), dict):
                raise wire.invalid(f"requests.{i}.params: Input should be a valid dictionary")
            seen.add(custom_id)
        if self.result_order not in _ORDERS:
            raise ValueError(f"result_order must be one of {_ORDERS}, got {self.result_order!r}")
        self._count += 1
        batch_id = f"msgbatch_01{server._id_prefix}{self._count:08x}"
        order = list(range(len(requests)))
        if self.result_order == "shuffled":
            random.Random(batch_id).shuffle(order)
        elif self.result_order == "reversed":
            order.reverse()
        batch = _Batch(
            id=batch_id,
            custom_ids=[item["custom_id"] for item in requests],
            outcomes=[
                self._answer(server, r["params"], f"{batch_id}_{i}", betas) for i, r in enumerate(requests)
            ],
            step=self.step_seconds,
            per_step=max(1, self.requests_per_step),
            expire_after=self.expire_after,
            hold_after=self.hold_after,
            order=order,
        )
        self._batches[batch_id] = batch
        return batch

    def _answer(
        self, server: FakeAnthropicServer, params: dict[str, Any], tag: str, betas: list[str]
    ) -> dict[str, Any]:
        """One request's result, by the same checks and reply as ``POST /v1/messages`` (the
        batch's ``anthropic-beta`` header applies to each of its requests)."""
        try:
            request = wire.parse_request(params, betas)
            if server.strict_models and request.model not in server.models:
                raise wire.error(404, f"model: {request.model}", "not_found_error")
            if request.input_tokens > server.context_window:
                raise wire.invalid(
                    f"prompt is too long: {request.input_tokens} tokens > {server.context_window} maximum"
                )
            for failure in self._failures:
                if failure.when is None or failure.when(params):
                    type_, message = wire.error_fields(failure.status, failure.message, failure.type)
                    raise wire.error(failure.status, message, type_)
        except ErrorResponse as refusal:
            error = json.loads(refusal.body)
            error["request_id"] = f"req_011{tag[len('msgbatch_01') :]}"
            return {"type": "errored", "error": error}
        message_id, reply, usage = server._complete(request, f"req_011{tag[len('msgbatch_01') :]}")
        usage["service_tier"] = "batch"
        message = json.loads(replies.message_body(message_id, request.model, reply, usage))
        return {"type": "succeeded", "message": message}

    def _object(self, server: FakeAnthropicServer, batch: _Batch, now: float) -> dict[str, Any]:
        status, ran, why, ended = batch.view(now)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if status != "ended":
            counts["processing"] = len(batch.custom_ids)  # the API tallies only once the batch ends
        else:
            for i in range(len(batch.custom_ids)):
                counts[batch.outcomes[i]["type"] if i < ran else str(why)] += 1
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _stamp(batch.created + (ended - batch.started)) if ended is not None else None,
            "created_at": _stamp(batch.created),
            "expires_at": _stamp(batch.created + _DAY),
            "archived_at": None,
            "cancel_initiated_at": _stamp(batch.cancel_wall),
            "results_url": f"{server.base_url}{PREFIX}/{batch.id}/results" if status == "ended" else None,
        }

    def _results(self, batch: _Batch, now: float) -> list[bytes]:
        """The results file in parts of `_CHUNK` bytes, lines split across them."""
        status, ran, why, _ = batch.view(now)
        if status != "ended":
            raise wire.invalid(f"Message Batch {batch.id} has not yet ended processing")
        lines = []
        for i in batch.order:
            result = batch.outcomes[i] if i < ran else {"type": why}
            lines.append(_dumps({"custom_id": batch.custom_ids[i], "result": result}) + "\n")
        body = "".join(lines).encode()
        return [body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)]


@dataclass(slots=True)
class _Replier:
    record: RequestRecord
    request_id: str
    send: Send

    async def json(self, data: dict[str, Any]) -> None:
        await self.parts(wire.JSON[1], [_dumps(data).encode()])

    async def parts(self, content_type: bytes, parts: list[bytes]) -> None:
        self.record.status = 200
        headers = [(b"content-type", content_type), (b"request-id", self.request_id.encode())]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        last = len(parts) - 1
        for i, part in enumerate(parts or [b""]):
            await self.send({"type": "http.response.body", "body": part, "more_body": i < last})
