"""OpenAI's error answers and rate-limit headers, rendered from the shared fault and budget types.

`StatusError` and `EchoKey` (`llmp.testing._faults`) and the limiter's `Budgets`
(`llmp.testing._ratelimit`) are provider-neutral; this is how OpenAI sends them: its
``{"error": {"message", "type", "param", "code"}}`` body, ``x-ratelimit-*`` headers with Go
durations, and its 429 text for a refused request.
"""

from __future__ import annotations

import math

from llmp.testing._faults import EchoKey, StatusError
from llmp.testing._ratelimit import Admission, Budget, Budgets
from llmp.testing._wire import ErrorResponse
from llmp_openai.testing._openai_wire import error_body, format_duration

_JSON = (b"content-type", b"application/json")


def status_error(fault: StatusError) -> ErrorResponse:
    """A scheduled `StatusError` as OpenAI answers it (``raw_body``, if given, as it is)."""
    headers = fault.http_headers()
    if fault.raw_body is not None:
        return ErrorResponse(fault.status, fault.raw_body, headers)
    message, type_, code = fault.error_fields()
    return ErrorResponse(fault.status, error_body(message, type_, param=fault.param, code=code), headers)


def echo_key_error(fault: EchoKey, credential: str) -> ErrorResponse:
    """The gateway error that echoes the request's ``credential`` header (see `EchoKey`)."""
    body = error_body(f"Invalid header value: {credential}", "invalid_request_error", code="invalid_api_key")
    return ErrorResponse(fault.status, body, [_JSON])


def _budget_headers(budget: Budget, kind: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit-" + kind, b"%d" % budget.limit),
        (b"x-ratelimit-remaining-" + kind, b"%d" % budget.remaining),
        (b"x-ratelimit-reset-" + kind, format_duration(budget.reset).encode()),
    ]


def rate_limit_headers(budgets: Budgets) -> list[tuple[bytes, bytes]]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, as OpenAI sends them."""
    return _budget_headers(budgets.requests, b"requests") + _budget_headers(budgets.tokens, b"tokens")


def rate_limit_refusal(admission: Admission, model: str, tokens: int) -> ErrorResponse:
    """OpenAI's 429 for a refused admission, with ``retry-after`` when waiting can help (the app
    adds the rate-limit headers to every error answer)."""
    kind = admission.refused or "requests"
    unit, cost = ("RPM", 1) if kind == "requests" else ("TPM", tokens)
    if math.isinf(admission.retry_after):
        message = (
            f"Request too large for {model} in organization org-llmpfake on tokens per min (TPM): "
            f"Limit {admission.limit}, Requested {cost}."
        )
        headers: list[tuple[bytes, bytes]] = []
    else:
        message = (
            f"Rate limit reached for {model} in organization org-llmpfake on {kind} per min ({unit}): "
            f"Limit {admission.limit}, Requested {cost}. "
            f"Please try again in {format_duration(admission.retry_after)}."
        )
        # Rounded up: a client that waits exactly this long must then fit.
        headers = [
            (b"retry-after", b"%d" % math.ceil(admission.retry_after)),
            (b"retry-after-ms", b"%d" % math.ceil(admission.retry_after * 1000)),
        ]
    body = error_body(message, kind, code="rate_limit_exceeded")
    return ErrorResponse(429, body, [_JSON, *headers])
