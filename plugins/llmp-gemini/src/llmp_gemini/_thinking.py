"""Gemini's thinking config from llmp parameters: the default, levels versus budgets, efforts.

Three ways to ask for thinking, at most one per request (Gemini answers 400 to a request with
both a level and a budget, so llmp refuses it first, naming the parameters):

- ``thinking_budget=N``: tokens (``0`` off, ``-1`` dynamic), the Gemini 2.5 control.
- ``thinking_level="minimal" | "low" | "medium" | "high"``: the Gemini 3 control.
- ``reasoning_effort=...`` (OpenAI's vocabulary): a level on Gemini 3 and later, a budget on
  Gemini 2.x (litellm's numbers, which its users already know), ``"none"`` turns thinking off.

Without any of them, models that can stop thinking get ``thinking_budget=0``: measured the
fastest for Gemini Flash, and what bulk generation wants. Pro models cannot turn thinking off
(the API refuses a zero budget), so they keep the model's own default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError

THINKING_PARAMS = ("thinking_budget", "thinking_level", "reasoning_effort")
DEFAULT_BUDGET = 0
LEVELS = ("minimal", "low", "medium", "high")
# Gemini 2.x has no levels: an effort becomes a budget (litellm's values for low..high; 512 is
# the smallest budget every 2.5 model accepts).
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 2048, "high": 4096}
_OFF = ("none", "disable")

# Flash and Flash-Lite from 2.5 on think by default and accept a zero budget.
_CAN_STOP = re.compile(r"^(gemini-(2\.5|[3-9]|\d{2,})(\.\d+)?-flash|gemini-flash(-lite)?-latest$)")
# Gemini 3 and later take thinking levels.
_HAS_LEVELS = re.compile(r"^gemini-([3-9]|\d{2,})")


def _bare(model: str) -> str:
    return model.removeprefix("models/")


def can_stop_thinking(model: str) -> bool:
    return _CAN_STOP.match(_bare(model)) is not None


def has_levels(model: str) -> bool:
    return _HAS_LEVELS.match(_bare(model)) is not None


def effective_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with the thinking default filled in: what is actually sent, for a cache key.

    The core keys its cache on the user's parameters; this is what a core hook would call so
    that the key names the default budget too (see the plugin README).
    """
    out = dict(params)
    if all(out.get(name) is None for name in THINKING_PARAMS) and can_stop_thinking(model):
        out["thinking_budget"] = DEFAULT_BUDGET
    return out


def thinking_config(model: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``thinking_config`` to send (google-genai's field names), or None for the model's own."""
    given = [name for name in THINKING_PARAMS if params.get(name) is not None]
    if len(given) > 1:
        raise UnsupportedParameterError(
            f"{' and '.join(given)} were both given: Gemini takes either a thinking level or a "
            "thinking budget, never both (it answers 400). Pass only one."
        )
    if not given:
        return {"thinking_budget": DEFAULT_BUDGET} if can_stop_thinking(model) else None
    name = given[0]
    value = params[name]
    if name == "thinking_budget":
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise UnsupportedParameterError(
                f"thinking_budget must be an integer >= -1 (0 off, -1 dynamic), got {value!r}"
            )
        return {"thinking_budget": value}
    level = value.lower() if isinstance(value, str) else value
    if name == "thinking_level":
        if level not in LEVELS:
            raise UnsupportedParameterError(
                f"thinking_level must be one of {', '.join(LEVELS)}, got {value!r}"
            )
        return {"thinking_level": level.upper()}
    if level in _OFF:
        if not can_stop_thinking(model):
            raise UnsupportedParameterError(
                f"reasoning_effort={value!r}: {_bare(model)} cannot turn thinking off; use 'low'"
            )
        return {"thinking_budget": 0}
    if level not in LEVELS:
        raise UnsupportedParameterError(
            f"reasoning_effort must be one of none, {', '.join(LEVELS)}, got {value!r}"
        )
    if has_levels(model):
        return {"thinking_level": level.upper()}
    return {"thinking_budget": EFFORT_BUDGETS[level]}
