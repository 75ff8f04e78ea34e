"""The rules for a finished answer, in one place for every plugin.

- Fewer samples than ``n``: `IncompleteResponseError` with the billed usage, not retried (a
  retry pays for the whole request again and can come back short the same way).
- A sample with neither text, nor tool calls, nor a refusal: `EmptyResponseError` with the
  billed usage. Retried only where the same request could end differently: not at temperature
  0, not after a content filter, not when the output budget ran out (``length``).
- A refusal is an answer for rich calls (`Choice.refusal`) and a `RefusalError` for text and
  structured results; it is never cached, nor is an empty or short answer.
- An output schema: every sample's text is validated (`OutputValidationError` when it does not
  match), once per reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmp.errors import EmptyResponseError, IncompleteResponseError, OutputValidationError, RefusalError
from llmp.types import Request, Response

__all__ = ["cacheable", "check", "parse", "parsed_values", "texts"]

#: Validates one reply's text into a value; raises ValueError (or pydantic's) when it does not match.
Parser = Callable[[str], Any]


def _can_differ(request: Request, finish: str | None) -> bool:
    if finish in ("content_filter", "length"):
        return False
    return request.params.get("temperature") != 0


def check(response: Response, request: Request, provider: str) -> None:
    """Raise for an answer that is not a whole answer (see the module docstring)."""
    choices = response.choices
    if len(choices) < request.n:
        raise IncompleteResponseError(
            f"asked for n={request.n} samples, the provider returned {len(choices)}",
            provider=provider,
            usage=response.usage,
            response=response,
        )
    for index, choice in enumerate(choices):
        if not choice.text and not choice.tool_calls and not choice.refusal:
            why = choice.finish_reason or "none"
            hint = ": the output budget ran out first, raise max_tokens" if why == "length" else ""
            raise EmptyResponseError(
                f"sample {index} has no text and no tool calls (finish reason {why}){hint}",
                provider=provider,
                finish_reason=choice.finish_reason,
                retryable=_can_differ(request, choice.finish_reason),
                usage=response.usage,
            )


def cacheable(response: Response) -> bool:
    """Only whole answers are cached: no refusal, nothing empty."""
    return all(choice.refusal is None and not choice.is_empty for choice in response.choices)


def parse(response: Response, parser: Parser, provider: str) -> None:
    """Fill every sample's `parsed` from its text; `OutputValidationError` if one does not match.

    Samples that refused or only called tools have no text to parse and keep ``parsed=None``.
    """
    for index, choice in enumerate(response.choices):
        if choice.refusal is not None or (choice.tool_calls and not choice.text):
            continue
        try:
            choice.parsed = parser(choice.text)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise OutputValidationError(
                f"sample {index} does not match the output schema: {_short(exc)}",
                raw=choice.text,
                errors=_errors(exc),
                provider=provider,
                usage=response.usage,
            ) from None


def _refused(response: Response, provider: str) -> None:
    for choice in response.choices:
        if choice.refusal is not None and not choice.text:
            raise RefusalError(choice.refusal, provider=provider, usage=response.usage)


def texts(response: Response, provider: str) -> list[str]:
    """Text results: one string per sample; a refusal is a `RefusalError`."""
    _refused(response, provider)
    return [choice.text for choice in response.choices]


def parsed_values(response: Response, provider: str) -> list[Any]:
    """Structured results: one validated value per sample; a refusal is a `RefusalError`."""
    _refused(response, provider)
    return [choice.parsed for choice in response.choices]


def _short(exc: ValueError) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _errors(exc: ValueError) -> Any:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return errors(include_url=False)
        except TypeError:
            return errors()
    return str(exc)
