"""Answers as output columns: which columns a job adds, their Arrow types, and each row's values.

- text (default): ``text``;
- ``response_format=`` (not rich): ``parsed``, the validated value as JSON-able data (a pydantic
  model's ``model_dump(mode="json")``, a dataclass as a dict);
- ``rich=True``: ``text``, ``reasoning``, ``refusal``, ``tool_calls`` (``id``, ``name``,
  ``arguments`` as JSON text), ``parsed`` (with a ``response_format``), ``finish_reason`` and
  ``deployment`` (which deployment answered).

Per-sample columns hold one value when ``n == 1`` and a list of ``n`` values when ``n > 1``.
Every job also adds the usage columns (``input_tokens``, ``cached_input_tokens``,
``output_tokens``, ``reasoning_tokens``, ``cost`` in US dollars or null when the price is
unknown, ``cached``: served from the cache, at no cost) and ``error``: null, or
the error of a row that failed (``"ErrorType: message"``) (its other columns null, its usage the tokens a
failed answer was still billed for, if any).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from llmp.types import Choice, Response

__all__ = ["USAGE_COLUMNS", "Layout", "error_text"]

USAGE_COLUMNS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cost", "cached")
_log = logging.getLogger("llmp.ray")
_RICH = ("text", "reasoning", "refusal", "tool_calls", "parsed", "finish_reason")


def error_text(error: BaseException) -> str:
    """``"ErrorType: message"``; provider errors already say their type (``"openai 429
    RateLimitError: ..."``) and are shown as they are."""
    text, name = str(error), type(error).__name__
    return text if f"{name}:" in text else f"{name}: {text}"


def jsonable(value: Any) -> Any:
    """A structured-output value as JSON data (what fits an Arrow column)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def _tool_calls(choice: Choice) -> list[dict[str, str]]:
    return [{"id": call.id, "name": call.name, "arguments": call.arguments} for call in choice.tool_calls]


_SAMPLE_VALUES: dict[str, Callable[[Choice], Any]] = {
    "text": lambda choice: choice.text,
    "reasoning": lambda choice: choice.reasoning,
    "refusal": lambda choice: choice.refusal,
    "tool_calls": _tool_calls,
    "parsed": lambda choice: jsonable(choice.parsed),
    "finish_reason": lambda choice: choice.finish_reason,
}


class Layout:
    """The output columns of one job and the values of each row, gathered column by column."""

    def __init__(self, *, rich: bool, parsed: bool, n: int, prefix: str) -> None:
        self.rich, self.n, self.prefix = rich, n, prefix
        if rich:
            self.samples = [name for name in _RICH if parsed or name != "parsed"]
        else:
            self.samples = ["parsed" if parsed else "text"]
        self.names = [*self.samples, *USAGE_COLUMNS, *(["deployment"] if rich else []), "error"]

    @property
    def columns(self) -> list[str]:
        """The names of the columns this job adds (prefixed)."""
        return [self.prefix + name for name in self.names]

    def empty(self) -> dict[str, list[Any]]:
        return {name: [] for name in self.names}

    def add_response(
        self, values: dict[str, list[Any]], response: Response, outputs: list[Any] | None
    ) -> None:
        """One answered row: `outputs` is what a non-rich call returns for it (texts or parsed
        values), None for a rich one."""
        many = self.n > 1
        if outputs is not None:
            name = self.samples[0]
            shown = [jsonable(v) for v in outputs] if name == "parsed" else list(outputs)
            values[name].append(shown if many else (shown[0] if shown else None))
        else:
            for name in self.samples:
                get = _SAMPLE_VALUES[name]
                samples = [get(choice) for choice in response.choices]
                values[name].append(samples if many else (samples[0] if samples else None))
            values["deployment"].append(response.deployment)
        usage = response.usage
        values["input_tokens"].append(usage.input_tokens)
        values["cached_input_tokens"].append(usage.cached_input_tokens)
        values["output_tokens"].append(usage.output_tokens)
        values["reasoning_tokens"].append(usage.reasoning_tokens)
        values["cost"].append(response.cost)
        values["cached"].append(response.cached)
        values["error"].append(None)

    def add_error(self, values: dict[str, list[Any]], error: BaseException) -> None:
        usage = getattr(error, "usage", None)  # a failed answer can still have been billed
        for name in self.names:
            values[name].append(None)
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"):
            values[name][-1] = getattr(usage, name, 0) if usage is not None else 0
        values["cached"][-1] = False
        values["error"][-1] = error_text(error)

    def arrays(self, values: dict[str, list[Any]]) -> dict[str, Any]:
        """The gathered values as typed pyarrow arrays, by prefixed column name."""
        import pyarrow as pa

        string = pa.string()
        call = pa.struct([("id", string), ("name", string), ("arguments", string)])
        types: dict[str, Any] = {
            "text": string,
            "reasoning": string,
            "refusal": string,
            "finish_reason": string,
            "tool_calls": pa.list_(call),
            "parsed": None,  # the shape of the user's schema: Arrow infers it
        }
        fixed: dict[str, Any] = {
            **{name: pa.int64() for name in USAGE_COLUMNS[:4]},
            "cost": pa.float64(),
            "cached": pa.bool_(),
            "deployment": string,
            "error": string,
        }
        out: dict[str, Any] = {}
        for name in self.names:
            kind = types.get(name, fixed.get(name))
            if name in types and kind is not None and self.n > 1:
                kind = pa.list_(kind)
            try:
                out[self.prefix + name] = pa.array(values[name], type=kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # only `parsed` is inferred
                _log.warning(
                    "llmp.ray: the %s values of a batch have no common Arrow type (%s); that batch "
                    "keeps them as JSON text",
                    name,
                    exc,
                )
                text = [None if v is None else json.dumps(v) for v in values[name]]
                out[self.prefix + name] = pa.array(text, type=string)
        return out
