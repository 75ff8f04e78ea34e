"""Google's Gemini ``generateContent`` wire format: request reading, response bodies, SSE, errors.

Pure functions over plain data, so the ASGI app stays small and these are easy to check against
google-genai's own types (``google.genai.types.GenerateContentResponse``) and Google's REST
reference (ai.google.dev/api/generate-content). Field names are the REST API's camelCase.

Tokens are whitespace-separated words, as in the OpenAI fake: deterministic and easy to predict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmp.testing._faults import StatusError
from llmp.testing._wire import ErrorResponse, count_tokens, split_pieces

# Google sends JSON errors with this exact content type.
JSON_CONTENT_TYPE = b"application/json; charset=UTF-8"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_TYPE = "type.googleapis.com/google.rpc."

# google.rpc.Code names by HTTP status, as Google's APIs pair them.
_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Messages as the Gemini API sends them, so client code that shows them is exercised.
_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")


def default_message(status: int) -> str:
    return _MESSAGES.get(status, f"HTTP {status}")


def format_retry_delay(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in its JSON form: ``"7s"``, ``"0.01s"``."""
    text = f"{max(seconds, 0.0):.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": _TYPE + "RetryInfo", "retryDelay": format_retry_delay(seconds)}


def quota_details(model: str, retry_after: float | None) -> list[dict[str, Any]]:
    """What Google attaches to a 429: the quota that was hit, a help link, and RetryInfo."""
    details: list[dict[str, Any]] = [
        {
            "@type": _TYPE + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "1000",
                }
            ],
        },
        {
            "@type": _TYPE + "Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
    ]
    if retry_after is not None:
        details.append(retry_info(retry_after))
    return details


def error_body(
    status: int, message: str | None = None, *, name: str | None = None, details: Iterable[Any] = ()
) -> bytes:
    """``{"error": {"code", "message", "status", "details"}}``: Google's error shape."""
    error: dict[str, Any] = {
        "code": status,
        "message": message if message is not None else default_message(status),
        "status": name or status_name(status),
    }
    details = list(details)
    if details:
        error["details"] = details
    return _dumps({"error": error}).encode()


def error(status: int, message: str | None = None, **kwargs: Any) -> ErrorResponse:
    return ErrorResponse(
        status, error_body(status, message, **kwargs), [(b"content-type", JSON_CONTENT_TYPE)]
    )


def status_error(fault: StatusError, model: str) -> ErrorResponse:
    """An injected `StatusError` in Google's shape: ``message`` overrides the text, ``code`` the
    status name; ``retry_after`` becomes ``RetryInfo`` (a 429 also gets Google's QuotaFailure and
    Help details); ``headers`` are added as given; ``raw_body`` replaces the body."""
    if fault.raw_body is not None:
        headers = [(b"content-type", fault.content_type.encode())]
    else:
        headers = [(b"content-type", JSON_CONTENT_TYPE)]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in fault.headers.items()]
    if fault.raw_body is not None:
        return ErrorResponse(fault.status, fault.raw_body, headers)
    if fault.status == 429:
        details = quota_details(model, fault.retry_after)
    else:
        details = [retry_info(fault.retry_after)] if fault.retry_after is not None else []
    body = error_body(fault.status, fault.message, name=fault.code, details=details)
    return ErrorResponse(fault.status, body, headers)


def api_key_invalid() -> ErrorResponse:
    """What Google answers for a wrong key: a 400 whose ErrorInfo reason is API_KEY_INVALID."""
    info = {
        "@type": _TYPE + "ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    return error(400, "API key not valid. Please pass a valid API key.", details=[info])


def api_key_missing() -> ErrorResponse:
    return error(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


# ----- the default reply -----


def parts_text(content: Any) -> str:
    """The text of a ``Content``'s parts (non-text parts are skipped)."""
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def default_reply(body: Mapping[str, Any], index: int) -> str:
    """``"Echo: <last user text>"``, plus ``" [i]"`` for candidate ``i > 0`` so samples differ."""
    last = ""
    for content in reversed(body.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            text = parts_text(content)
            if text:
                last = text
                break
    text = f"Echo: {last}"
    return f"{text} [{index}]" if index else text


# ----- responses -----

#: llmp's finish reasons (`EmptyAnswer.finish`) in Gemini's words.
FINISH_NAMES = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "error": "OTHER",
                "tool_calls": "STOP"}  # fmt: skip


@dataclass(slots=True)
class Candidate:
    """One candidate to render: its thought summary, text (as stream pieces), function calls,
    the thought signatures on them, and why it finished."""

    pieces: list[str]
    finish_reason: str
    tokens: int
    thought: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    call_signature: str | None = None  # on the first functionCall part, as Gemini puts it
    text_signature: str | None = None  # on the last text part
    empty_text: bool = False  # an EmptyAnswer "empty": one part with "" rather than none

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def parts(self) -> list[dict[str, Any]]:
        """The parts of this candidate's whole answer: thought, text (one part), calls."""
        steps = self.steps(whole=True)
        return [part for step in steps for part in step]

    def steps(self, whole: bool = False) -> list[list[dict[str, Any]]]:
        """The parts this candidate streams, one list per event (thought, text pieces, calls)."""
        steps: list[list[dict[str, Any]]] = []
        if self.thought:
            steps.append([{"text": self.thought, "thought": True}])
        for k, piece in enumerate([self.text] if whole and self.pieces else self.pieces):
            part: dict[str, Any] = {"text": piece}
            if self.text_signature and (whole or k == len(self.pieces) - 1):
                part["thoughtSignature"] = self.text_signature
            steps.append([part])
        if self.calls:
            calls: list[dict[str, Any]] = []
            for j, (name, args) in enumerate(self.calls):
                call: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
                if j == 0 and self.call_signature:
                    call["thoughtSignature"] = self.call_signature
                calls.append(call)
            steps.append(calls)
        if not steps and self.empty_text:
            steps.append([{"text": ""}])
        return steps


def plan_candidate(
    text: str,
    *,
    max_tokens: int | None,
    stop: list[str],
    thoughts: int,
    chunk_count: int | None,
    thought: str | None = None,
    calls: list[tuple[str, Any]] | None = None,
) -> Candidate:
    """Apply stop sequences and the output budget, which thinking tokens spend first (as Gemini's
    ``maxOutputTokens`` counts them): a budget spent on thoughts leaves no text, MAX_TOKENS.
    Function calls (``calls``) are the whole answer: no text."""
    if calls:
        tokens = sum(count_tokens(f"{name} {_dumps(args)}") for name, args in calls)
        return Candidate([], "STOP", tokens, thought, list(calls))
    for sequence in stop:
        cut = text.find(sequence) if sequence else -1
        if cut >= 0:
            text = text[:cut]
    finish = "STOP"
    if max_tokens is not None:
        room = max(max_tokens - thoughts, 0)
        pieces = split_pieces(text)
        if len(pieces) > room:
            text = "".join(pieces[:room])
            finish = "MAX_TOKENS"
    return Candidate(split_pieces(text, chunk_count) if text else [], finish, count_tokens(text), thought)


@dataclass(slots=True)
class Reply:
    """Everything needed to render one answer, as one JSON body or as an SSE stream.

    ``candidates`` empty is an answer without any: ``block_reason`` then says the prompt was
    blocked (``promptFeedback``), and a stream of it has no event at all when ``silent``.
    """

    response_id: str
    model_version: str
    candidates: list[Candidate]
    prompt_tokens: int
    cached_tokens: int
    thoughts_tokens: int
    block_reason: str | None = None
    silent: bool = False

    def usage(self, candidates_tokens: int | None = None) -> dict[str, Any]:
        """``usageMetadata``; zero counts are omitted, as the API's proto3 JSON omits them."""
        out_tokens = candidates_tokens
        if out_tokens is None:
            out_tokens = sum(c.tokens for c in self.candidates)
        usage: dict[str, Any] = {"promptTokenCount": self.prompt_tokens}
        if out_tokens:
            usage["candidatesTokenCount"] = out_tokens
        usage["totalTokenCount"] = self.prompt_tokens + out_tokens + self.thoughts_tokens
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.prompt_tokens}]
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        return usage

    def _envelope(self, candidates: list[dict[str, Any]], usage: dict[str, Any]) -> bytes:
        out: dict[str, Any] = {}
        if candidates:
            out["candidates"] = candidates
        elif self.block_reason is not None:
            out["promptFeedback"] = {"blockReason": self.block_reason}
        out.update(usageMetadata=usage, modelVersion=self.model_version, responseId=self.response_id)
        return _dumps(out).encode()

    def json_body(self) -> bytes:
        rendered = [_candidate(i, c.parts(), c.finish_reason) for i, c in enumerate(self.candidates)]
        return self._envelope(rendered, self.usage())

    def sse_events(self) -> list[bytes]:
        """The SSE body as events (``data: {...}\\r\\n\\r\\n``), one step of deltas each.

        Event k carries the k-th step of every candidate that has one (its thought summary, a
        text piece, its function calls); the last event carries the finish reasons. Every event
        has ``usageMetadata`` with the running totals, as Gemini streams them, so the last one is
        the whole answer's usage.
        """
        if self.silent:
            return []
        steps = [c.steps() for c in self.candidates]
        depth = max(1, max((len(s) for s in steps), default=0))
        events: list[bytes] = []
        done_tokens = 0
        for k in range(depth):
            last = k == depth - 1
            rendered: list[dict[str, Any]] = []
            for i, c in enumerate(self.candidates):
                step = steps[i][k] if k < len(steps[i]) else None
                if step is not None:
                    if "functionCall" in step[0]:
                        done_tokens += c.tokens
                    elif not step[0].get("thought"):
                        done_tokens += count_tokens(step[0].get("text", ""))
                if step is not None or last:
                    rendered.append(_candidate(i, step or [], c.finish_reason if last else None))
            events.append(b"data: " + self._envelope(rendered, self.usage(done_tokens)) + b"\r\n\r\n")
        return events


def _candidate(index: int, parts: list[dict[str, Any]], finish_reason: str | None) -> dict[str, Any]:
    # A candidate whose whole budget went to thinking has a content with a role and no parts.
    content: dict[str, Any] = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    out: dict[str, Any] = {"content": content}
    if finish_reason is not None:
        out["finishReason"] = finish_reason
    out["index"] = index
    return out


def split_events(body: bytes, after: int) -> tuple[bytes, bytes]:
    """Split an SSE body after its first ``after`` events (events end with ``\\r\\n\\r\\n``)."""
    cut = 0
    for _ in range(after):
        found = body.find(b"\r\n\r\n", cut)
        if found < 0:
            return body, b""
        cut = found + 4
    return body[:cut], body[cut:]
