"""The docs site builds offline with `mkdocs build --strict`: every page in the nav, every link,
every API-reference object and every code snippet included from the example plugin resolves."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Split(HTMLParser):
    """A page's text inside ``<pre>`` blocks, its text outside them, and its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.pre: list[str] = []
        self.prose: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "pre":
            self.depth += 1
            self.pre.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.pre[-1] += data
        else:
            self.prose.append(data)


def _split(page: Path) -> _Split:
    parser = _Split()
    parser.feed(page.read_text())
    return parser


def _check_api_reference(site: Path) -> None:
    pages = {page: _split(page) for page in (site / "reference").rglob("index.html")}
    doctests = [block for split in pages.values() for block in split.pre if ">>> " in block]
    assert doctests, "the docstrings' >>> examples should be code blocks"
    assert any('>>> llm = LLM("gpt-4.1-mini")' in block for block in doctests)
    for page, split in pages.items():
        assert "blockquote" not in split.tags, f"{page}: a >>> example rendered as nested blockquotes"
        assert not [t for t in split.prose if ">>>" in t], f"{page}: a >>> example outside a code block"
        for block in split.pre:
            # An instance attribute shows no `model = model`; a default shows a value, not a constant.
            assert not re.search(r"^(\w+) = \1$", block, re.MULTILINE), f"{page}: {block!r}"
            assert not re.search(r"= [A-Z][A-Z0-9_]+[,)\n]", block), f"{page}: {block!r}"
    llm_signatures = "".join(pages[site / "reference" / "llm" / "index.html"].pre)
    assert "max_retries: int = 6," in llm_signatures, "the value of DEFAULT_MAX_RETRIES"


@pytest.mark.timeout(300)
def test_docs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.fail(
            "mkdocs is not installed in this environment: the docs dependencies come with the dev "
            "group (include-group 'docs'); run `uv sync --all-packages` or `uv sync --group docs`."
        )
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's migration banner, not a problem
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    reference = (site / "reference" / "llm" / "index.html").read_text()
    assert "agenerate" in reference  # docstrings were rendered, not just the page
    assert "output_jsonl" in reference
    _check_api_reference(site)
    assert not (site / "_ext").exists(), "the griffe extension is not a page"
    example = (site / "plugin-example" / "index.html").read_text()
    assert "TestCohereConformance" in example  # snippets came from the example's real files
    assert "--8&lt;--" not in example
    for page in ("cli", "batch", "big-jobs", "performance", "writing-plugins", "providers/gemini"):
        assert (site / page / "index.html").is_file(), page
    # Offline: no web fonts fetched by the reader's browser (theme.font: false).
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
