"""What each Gemini model family can do: `capabilities(model)` and the thinking controls it takes.

Families, from the model name (``models/`` prefix allowed):

| family                                   | thinking | off (budget 0) | levels                     |
|------------------------------------------|----------|----------------|----------------------------|
| Gemini 3+ Flash / Flash-Lite             | yes      | yes            | minimal, low, medium, high |
| Gemini 3+ Pro                            | yes      | no             | low, high                  |
| Gemini 2.5 Flash / Flash-Lite            | yes      | yes            | (budgets only)             |
| Gemini 2.5 Pro                           | yes      | no             | (budgets only)             |
| ``gemini-flash[-lite]-latest``           | yes      | yes            | (budgets, which 3 takes too)|
| ``gemini-pro-latest``                    | yes      | no             | (budgets)                  |
| Gemini 2.0 and older                     | no       |                |                            |

Every Gemini model takes tools (parallel calls included), images and ``candidateCount``; JSON
Schema output (``responseJsonSchema``) and thinking need Gemini 2.5 or later. Names that are not
``gemini-*`` (Gemma, LearnLM, gateway aliases) get text only: declaring more would be a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from llmp.types import Capabilities

__all__ = ["GEMINI_PARAMS", "Family", "capabilities", "family"]

#: Gemini's own parameter names llmp-gemini accepts beyond `llmp.COMMON_PARAMS`.
GEMINI_PARAMS = frozenset(
    {
        "thinking_budget",
        "thinking_level",
        "include_thoughts",
        "safety_settings",
        "max_output_tokens",
        "stop_sequences",
        "response_mime_type",
        "cached_content",
    }
)
FLASH_LEVELS = ("minimal", "low", "medium", "high")
PRO_LEVELS = ("low", "high")

_GEMINI = re.compile(r"^gemini-(?P<major>\d+)(?:\.(?P<minor>\d+))?-(?P<rest>.+)$")
_ALIAS = re.compile(r"^gemini-(?P<kind>flash|flash-lite|pro)-latest$")


@dataclass(frozen=True, slots=True)
class Family:
    """The controls one model family takes."""

    gemini: bool = False  # a Gemini model: tools, images, candidateCount
    modern: bool = False  # Gemini 2.5 or later: JSON Schema output
    thinks: bool = False
    can_stop: bool = False  # thinking can be turned off (a zero budget)
    levels: tuple[str, ...] = ()  # thinking levels (Gemini 3 and later); () takes budgets only
    #: The positive thinking budgets the API accepts, where Google documents them.
    budget: tuple[int, int] | None = None
    max_context: int | None = None
    max_output: int | None = None


_TEXT_ONLY = Family()
_LONG = {"max_context": 1_048_576, "max_output": 65_536}


@lru_cache(maxsize=256)
def family(model: str) -> Family:
    name = model.removeprefix("models/")
    alias = _ALIAS.match(name)
    if alias is not None:
        stops = alias["kind"] != "pro"
        return Family(True, True, True, stops, (), None, **_LONG)
    match = _GEMINI.match(name)
    if match is None:
        return _TEXT_ONLY
    major, minor, rest = int(match["major"]), int(match["minor"] or 0), match["rest"]
    pro = rest.startswith("pro")
    lite = rest.startswith("flash-lite")
    if major >= 3:
        return Family(True, True, True, not pro, PRO_LEVELS if pro else FLASH_LEVELS, None, **_LONG)
    if (major, minor) >= (2, 5) and (pro or rest.startswith("flash")):
        # Google's documented budget ranges for the 2.5 models.
        budget = (128, 32_768) if pro else (512, 24_576) if lite else (1, 24_576)
        return Family(True, True, True, not pro, (), budget, **_LONG)
    return Family(gemini=True)


@lru_cache(maxsize=256)
def capabilities(model: str) -> Capabilities:
    """What llmp-gemini can honour for `model` (see the module docstring)."""
    kind = family(model)
    return Capabilities(
        streaming=True,
        n=True,  # candidateCount
        tools=kind.gemini,
        parallel_tool_calls=kind.gemini,
        json_schema=kind.modern,
        vision=kind.gemini,
        reasoning=kind.thinks,
        reasoning_text=kind.thinks,  # thought summaries (includeThoughts)
        logprobs=False,
        embeddings=False,
        batch=True,
        params=GEMINI_PARAMS,
        max_context_tokens=kind.max_context,
        max_output_tokens=kind.max_output,
    )
