"""What a fake server answers, decided once for every provider's fake.

Each fake parses its own wire format into these provider-neutral facts, asks `plan_answer`,
and renders the `Plan` in its own wire format (OpenAI ``tool_calls``, Gemini ``functionCall``
parts, Anthropic ``tool_use`` blocks, ...). So the same prompt gets the same answer from every
fake, and the conformance suite can check rich results against any of them.

The rules, in order:

- a prompt containing ``REFUSE`` is refused (where the wire can say so);
- with tools offered (and ``tool_choice`` not ``"none"``) and a user turn last, the model calls
  a tool: the one `tool_choice` names, else the first; a prompt containing ``parallel`` calls the
  first two (when parallel calls are allowed). Arguments are `example_for_schema` of the tool's
  parameters;
- with an output schema, the answer is `example_for_schema` of it, as JSON;
- with tool results last, the answer is ``"The tool said: <result>; <result>"``;
- otherwise the fake's default text, plus ``" [saw N image(s)]"`` when images came;
- reasoning text ``"Thinking about <prompt>."`` when reasoning was asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan", "example_for_schema", "plan_answer"]

_WORD = re.compile(r"[A-Za-z]+")


@dataclass(slots=True)
class Plan:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reasoning: str | None = None
    refusal: str | None = None

    @property
    def arguments(self) -> list[str]:
        """Each call's arguments as the JSON text a model sends."""
        return [json.dumps(args, separators=(",", ":")) for _, args in self.tool_calls]


def example_for_schema(
    schema: Mapping[str, Any], hint: str = "", root: Mapping[str, Any] | None = None
) -> Any:
    """A deterministic value matching `schema` (all properties filled, enums take the first)."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return example_for_schema(node, hint, root)
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or () if o.get("type") != "null"]
        if options:
            return example_for_schema(options[0], hint, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {
            name: example_for_schema(sub, name, root)
            for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        items = schema.get("items") or {}
        count = max(1, int(schema.get("minItems") or 1))
        return [example_for_schema(items, hint, root) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    words = _WORD.findall(hint)
    return (words[0] if words else "example").lower()


def plan_answer(
    *,
    prompt: str,
    default_text: str,
    last_role: str = "user",
    tool_results: Sequence[str] = (),
    tools: Sequence[tuple[str, Mapping[str, Any]]] = (),
    tool_choice: str | None = None,
    parallel: bool = True,
    schema: Mapping[str, Any] | None = None,
    reasoning: bool = False,
    images: int = 0,
) -> Plan:
    """The answer for a request with these facts (see the module docstring)."""
    plan = Plan(reasoning=f"Thinking about {prompt[:60]}." if reasoning else None)
    if "REFUSE" in prompt:
        plan.refusal = "I can't help with that."
        return plan
    if tools and tool_choice != "none" and last_role == "user":
        by_name = dict(tools)
        if tool_choice not in (None, "auto", "required") and tool_choice in by_name:
            chosen = [tool_choice]
        elif "parallel" in prompt and parallel and len(tools) > 1:
            chosen = [tools[0][0], tools[1][0]]
        else:
            chosen = [tools[0][0]]
        plan.tool_calls = [(name, example_for_schema(by_name[name])) for name in chosen]
        return plan
    if schema is not None:
        plan.text = json.dumps(example_for_schema(schema, prompt))
    elif last_role == "tool":
        plan.text = "The tool said: " + "; ".join(tool_results)
    else:
        plan.text = default_text + (f" [saw {images} image(s)]" if images else "")
    return plan
