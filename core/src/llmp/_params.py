"""Generation parameters in OpenAI's vocabulary, checked before anything is sent.

The common ones (``temperature``, ``max_tokens``, ``stop``, ...) are checked for type and range
here, for every provider; each plugin checks the rest (`Client.effective_params`), naming any it
cannot send. A misspelling gets a did-you-mean. ``extra_body={...}`` passes fields to the wire
as they are, unchecked, for what llmp does not know yet. NaN and infinities are refused (they
are not JSON), as is anything that is not JSON at all (a set, a datetime).

``reasoning_effort`` (OpenAI's name) is the same as ``reasoning=``: it is lifted into the
request's `Reasoning` so every provider understands it.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

from llmp.errors import ConfigurationError, UnsupportedParameterError
from llmp.types import Reasoning

__all__ = ["COMMON_PARAMS", "check_params", "reasoning_of", "unknown_params"]

# name -> (kind, low, high); kinds: number, int, bool, str, stop, mapping
_SPEC: dict[str, tuple[str, float | None, float | None]] = {
    "temperature": ("number", 0.0, 2.0),
    "top_p": ("number", 0.0, 1.0),
    "top_k": ("int", 1, None),
    "presence_penalty": ("number", -2.0, 2.0),
    "frequency_penalty": ("number", -2.0, 2.0),
    "max_tokens": ("int", 1, None),
    "max_completion_tokens": ("int", 1, None),
    "seed": ("int", None, None),
    "logprobs": ("bool", None, None),
    "top_logprobs": ("int", 0, 20),
    "stop": ("stop", None, None),
    "logit_bias": ("mapping", None, None),
    "user": ("str", None, None),
    "service_tier": ("str", None, None),
    "metadata": ("mapping", None, None),
    "store": ("bool", None, None),
    "extra_body": ("mapping", None, None),
}
#: Parameters every plugin understands (and maps, or refuses by name).
COMMON_PARAMS = frozenset(_SPEC)

_ELSEWHERE = {
    "model": "pass the model to llmp.LLM(...)",
    "messages": "pass prompts or messages as the first argument",
    "stream": "use stream() / stream_events() (or astream / astream_events) to stream",
    "tools": "pass tools= as an argument of generate() / complete()",
    "response_format": "pass response_format= as an argument of generate() / complete()",
    "reasoning": "pass reasoning= as an argument",
}


def _bad(name: str, value: Any, must: str) -> ConfigurationError:
    return ConfigurationError(f"{name}={value!r} is invalid: it must be {must}")


def _check(name: str, value: Any) -> None:
    kind, low, high = _SPEC[name]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(name, value, "a finite number")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, value, "an integer")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _bad(name, value, "True or False")
    elif kind == "str":
        if not isinstance(value, str):
            raise _bad(name, value, "a string")
    elif kind == "stop":
        if not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(s, str) for s in value))
        ):
            raise _bad(name, value, "a string or a list of strings")
    elif not isinstance(value, Mapping):
        raise _bad(name, value, "a dict")
    if low is not None and value < low:
        raise _bad(name, value, f">= {low:g}")
    if high is not None and value > high:
        raise _bad(name, value, f"<= {high:g}")


def check_params(params: Mapping[str, Any], where: str = "") -> None:
    """Check the common parameters' types and ranges and that all of them are JSON.

    Names llmp does not know are left to `unknown_params` (once the client says what else it takes).
    """
    for name, value in params.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"parameter names are strings, got {name!r}")
        if name in _ELSEWHERE:
            raise ConfigurationError(f"{name} is not a generation parameter{where}: {_ELSEWHERE[name]}")
        if value is None:
            continue  # None means "not set", as in the OpenAI SDK
        if name in _SPEC:
            _check(name, value)
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in params.items() if not _is_json(v)), "?")
        raise ConfigurationError(
            f"parameter {bad}={params.get(bad)!r} cannot be sent: parameters must be JSON values "
            f"(numbers, strings, lists, dicts; no NaN, sets or datetimes) ({exc})"
        ) from None


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def unknown_params(params: Mapping[str, Any], accepted: frozenset[str], provider: str) -> None:
    """Refuse names neither common nor taken by this client, with a did-you-mean."""
    for name in params:
        if name in COMMON_PARAMS or name in accepted or name == "reasoning_effort":
            continue
        known = sorted(COMMON_PARAMS | accepted)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnsupportedParameterError(
            f"unknown parameter {name!r} for {provider}.{hint} Known: {', '.join(known)}. To send a field "
            "llmp does not know, pass it inside extra_body={...}."
        )


_EFFORTS = ("minimal", "low", "medium", "high")
_OFF = ("none", "off", "disable", "disabled")


def reasoning_of(value: Any, argument: str = "reasoning") -> Reasoning | None:
    """``reasoning=`` as a `Reasoning`: None (the model's default), False/"none"/0 (off), an
    effort name, a token budget, or a `Reasoning`."""
    if value is None or isinstance(value, Reasoning):
        return value
    if value is False or value == 0 or (isinstance(value, str) and value.lower() in _OFF):
        return Reasoning(enabled=False)
    if isinstance(value, str) and value.lower() in _EFFORTS:
        return Reasoning(effort=value.lower())  # type: ignore[arg-type]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return Reasoning(budget_tokens=value)
    raise ConfigurationError(
        f"{argument}={value!r} is invalid: pass 'minimal', 'low', 'medium' or 'high', a token budget "
        "(a positive int), False or 'none' to turn thinking off, or None for the model's default"
    )
