"""The docs site builds offline with `mkdocs build --strict`: every page in the nav, every link,
every API-reference object and every code snippet included from the example plugin resolves."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    example = (site / "plugin-example" / "index.html").read_text()
    assert "TestCohereConformance" in example  # snippets came from the example's real files
    assert "--8&lt;--" not in example
    for page in ("cli", "batch", "big-jobs", "performance", "writing-plugins", "providers/gemini"):
        assert (site / page / "index.html").is_file(), page
    # Offline: no web fonts fetched by the reader's browser (theme.font: false).
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
