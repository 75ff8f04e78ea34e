"""Gemini's ``thinkingConfig`` from llmp's `Reasoning` and Gemini's own parameters.

Two ways to ask, never both in one request (Gemini answers 400 to a level with a budget, so llmp
refuses it first, naming what was given):

- ``reasoning=`` (`llmp.types.Reasoning`, every provider's vocabulary): off, an effort, or a
  token budget. An effort is a thinking level on Gemini 3 and later, a budget on Gemini 2.5
  (litellm's numbers, which its users know); off is a zero budget. Thought summaries are asked
  for too (``includeThoughts``), so the reasoning text comes back.
- Gemini's own ``thinking_budget=N`` (``0`` off, ``-1`` dynamic), ``thinking_level=...`` and
  ``include_thoughts=True``.

A setting the model cannot take is an `UnsupportedParameterError` naming it: off on a Pro model,
a level the family lacks (``minimal`` on Gemini 3 Pro), a budget outside the documented range.
Without any of them, models that can stop thinking get ``thinking_budget=0``: measured the
fastest for Flash, and what bulk generation wants; `effective_params` writes that default into
the parameters, so the cache key names it. Pro models keep their own default.

Field names inside ``thinkingConfig`` are snake_case, as google-genai sends them (it passes the
dict through); the API takes both spellings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError
from llmp.types import Reasoning
from llmp_gemini._models import Family, family

__all__ = ["DEFAULT_BUDGET", "EFFORT_BUDGETS", "effective_params", "thinking_config"]

THINKING_PARAMS = ("thinking_budget", "thinking_level")
DEFAULT_BUDGET = 0
# Gemini 2.x has no levels: an effort becomes a budget (litellm's values for low..high; 512 is
# the smallest budget every 2.5 model accepts).
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 2048, "high": 4096}


def _bare(model: str) -> str:
    return model.removeprefix("models/")


def effective_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` as they are sent: checked, with the default thinking budget written in."""
    out = dict(params)
    kind = family(model)
    given = _given(out)
    if given:
        _check_param(model, kind, given, out)
    elif kind.can_stop:
        out["thinking_budget"] = DEFAULT_BUDGET
    include = out.get("include_thoughts")
    if include is not None and not isinstance(include, bool):
        raise UnsupportedParameterError(f"include_thoughts must be True or False, got {include!r}")
    return out


def thinking_config(
    model: str, params: Mapping[str, Any], reasoning: Reasoning | None
) -> dict[str, Any] | None:
    """The ``thinkingConfig`` to send, or None for the model's own default."""
    kind = family(model)
    given = _given(params)
    include = params.get("include_thoughts")
    if reasoning is not None:
        if given and not _is_default(kind, given, params):
            raise UnsupportedParameterError(
                f"reasoning= and {' and '.join(given)} were both given: pass one way of asking "
                "Gemini to think (reasoning= works for every provider)"
            )
        config = _from_reasoning(model, kind, reasoning)
        if reasoning.enabled and include is not False:
            config["include_thoughts"] = True
    elif given:
        _check_param(model, kind, given, params)
        name = given[0]
        value = params[name]
        config = {name: value.upper() if name == "thinking_level" else value}
    elif kind.can_stop:
        config = {"thinking_budget": DEFAULT_BUDGET}
    else:
        config = {}
    if include is not None and reasoning is None:
        if not kind.thinks:
            raise UnsupportedParameterError(f"include_thoughts: {_bare(model)} does not think")
        config["include_thoughts"] = include
    return config or None


def _given(params: Mapping[str, Any]) -> list[str]:
    return [name for name in THINKING_PARAMS if params.get(name) is not None]


def _is_default(kind: Family, given: list[str], params: Mapping[str, Any]) -> bool:
    # effective_params wrote this in; an explicit reasoning= replaces it.
    return kind.can_stop and given == ["thinking_budget"] and params["thinking_budget"] == DEFAULT_BUDGET


def _check_param(model: str, kind: Family, given: list[str], params: Mapping[str, Any]) -> None:
    if len(given) > 1:
        raise UnsupportedParameterError(
            f"{' and '.join(given)} were both given: Gemini takes either a thinking level or a "
            "thinking budget, never both (it answers 400). Pass only one."
        )
    if not kind.thinks:
        raise UnsupportedParameterError(f"{given[0]}: {_bare(model)} does not think; leave it out")
    name = given[0]
    value = params[name]
    if name == "thinking_budget":
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise UnsupportedParameterError(
                f"thinking_budget must be an integer >= -1 (0 off, -1 dynamic), got {value!r}"
            )
        if value == 0 and not kind.can_stop:
            raise UnsupportedParameterError(_cannot_stop(model, "thinking_budget=0"))
        if value > 0:
            _check_budget(model, kind, value, "thinking_budget")
        return
    if not kind.levels:
        raise UnsupportedParameterError(
            f"thinking_level={value!r}: {_bare(model)} has no thinking levels (Gemini 3 and later "
            "do); pass thinking_budget=N or reasoning=... instead"
        )
    if not isinstance(value, str) or value.lower() not in kind.levels:
        raise UnsupportedParameterError(
            f"thinking_level must be one of {', '.join(kind.levels)} for {_bare(model)}, got {value!r}"
        )


def _check_budget(model: str, kind: Family, budget: int, what: str) -> None:
    if kind.budget is not None and not kind.budget[0] <= budget <= kind.budget[1]:
        low, high = kind.budget
        raise UnsupportedParameterError(
            f"{what}={budget}: {_bare(model)} takes thinking budgets from {low} to {high} tokens"
        )


def _cannot_stop(model: str, what: str) -> str:
    return f"{what}: {_bare(model)} cannot turn thinking off; ask for 'low' or a small budget instead"


def _from_reasoning(model: str, kind: Family, reasoning: Reasoning) -> dict[str, Any]:
    if not kind.thinks:  # the core refuses this for live calls; a batch request gets here
        raise UnsupportedParameterError(f"reasoning: {_bare(model)} does not think; leave it out")
    if not reasoning.enabled:
        if not kind.can_stop:
            raise UnsupportedParameterError(_cannot_stop(model, "reasoning=off"))
        return {"thinking_budget": 0}
    if reasoning.budget_tokens is not None:
        _check_budget(model, kind, reasoning.budget_tokens, "reasoning")
        return {"thinking_budget": reasoning.budget_tokens}
    effort = reasoning.effort
    if effort is None:
        return {"thinking_budget": -1}  # thinking on, the model decides how much
    if kind.levels:
        if effort not in kind.levels:
            raise UnsupportedParameterError(
                f"reasoning={effort!r}: {_bare(model)} takes the efforts {', '.join(kind.levels)}"
            )
        return {"thinking_level": effort.upper()}
    return {"thinking_budget": EFFORT_BUDGETS[effort]}
