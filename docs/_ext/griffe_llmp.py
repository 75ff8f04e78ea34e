"""A griffe extension for llmp's API reference (mkdocs.yml: the python handler's ``extensions``).

It fixes how the sources read once rendered, without asking docstrings to change:

- ``>>>`` examples in a docstring's text become ``pycon`` code blocks. Markdown reads each ``>``
  as a blockquote level and runs the lines together; griffe turns ``>>>`` into code only inside
  an ``Examples:`` section.
- A parameter whose default is a module constant (``timeout=DEFAULT_TIMEOUT``) shows the
  constant's value: the name of a private constant tells a reader nothing.
- An attribute set in ``__init__`` (``self.model = model``) shows no value: ``model = model`` is
  an expression over the constructor's arguments, not something a reader can use.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_PROMPT = re.compile(r"^(\s*)>>> ")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EXAMPLES_HEADER = re.compile(r"^(\s*)Examples?:\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fence_doctests(text: str) -> str:
    """`text` with each run of ``>>>`` lines (and the output lines under them) in a fence."""
    lines = text.splitlines()
    out: list[str] = []
    in_fence = False
    examples_indent: int | None = None  # inside a Google "Examples:" section: griffe's job
    i = 0
    while i < len(lines):
        line = lines[i]
        if examples_indent is not None and line.strip() and _indent(line) <= examples_indent:
            examples_indent = None
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (header := _EXAMPLES_HEADER.match(line)):
            examples_indent = len(header.group(1))
        elif not in_fence and examples_indent is None and (prompt := _PROMPT.match(line)):
            margin = prompt.group(1)
            block: list[str] = []
            while i < len(lines) and lines[i].strip():  # a doctest ends at a blank line
                block.append(lines[i][len(margin) :] if lines[i].startswith(margin) else lines[i].lstrip())
                i += 1
            out += [f"{margin}```pycon", *(f"{margin}{b}" for b in block), f"{margin}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _literal(value: object) -> str | None:
    """`value` (an attribute's source expression) when it is a plain literal, else None."""
    text = str(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return text


class LlmpReference(griffe.Extension):
    """See the module docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        for parameter in func.parameters:
            default = parameter.default
            if not isinstance(default, griffe.ExprName):
                continue
            try:
                constant = func.module.members.get(default.name)
                if isinstance(constant, griffe.Alias):
                    constant = constant.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            if isinstance(constant, griffe.Attribute) and (value := _literal(constant.value)) is not None:
                parameter.default = value

    def on_attribute(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if "instance-attribute" in attr.labels and "class-attribute" not in attr.labels:
            attr.value = None
