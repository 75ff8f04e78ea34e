"""The API reference's griffe extension (docs/_ext/griffe_llmp.py): how it rewrites docstrings.
(tests/test_docs_build.py checks the rendered pages.)"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location("griffe_llmp", ROOT / "docs" / "_ext" / "griffe_llmp.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fence_doctests = _extension().fence_doctests


def test_a_doctest_in_the_text_becomes_a_pycon_block_with_its_output() -> None:
    doc = textwrap.dedent(
        """\
        A model.

        >>> llm = LLM("gpt-4.1-mini")
        >>> llm.generate(["hi"])
        [['Echo: hi']]

        More text.
        """
    )
    assert fence_doctests(doc) == textwrap.dedent(
        """\
        A model.

        ```pycon
        >>> llm = LLM("gpt-4.1-mini")
        >>> llm.generate(["hi"])
        [['Echo: hi']]
        ```

        More text."""
    )


def test_an_indented_doctest_keeps_its_margin() -> None:
    doc = "Args:\n    model: a name, e.g.\n\n        >>> LLM('x')\n\n    then more."
    fenced = "        ```pycon\n        >>> LLM('x')\n        ```"
    assert fence_doctests(doc) == f"Args:\n    model: a name, e.g.\n\n{fenced}\n\n    then more."


def test_fenced_code_and_examples_sections_are_left_alone() -> None:
    fenced = "Text.\n\n```python\n>>> x = 1\n```\n"
    assert fence_doctests(fenced) == fenced.rstrip("\n")
    examples = "Text.\n\nExamples:\n    >>> x = 1\n    >>> x\n    1\n\nAfter: >>> is prose here"
    assert fence_doctests(examples) == examples
    after_section = "Examples:\n    >>> a\n\nReturns:\n    b\n\n>>> c"
    assert fence_doctests(after_section).endswith("```pycon\n>>> c\n```")
