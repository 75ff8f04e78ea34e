"""docs/capabilities.md shows what `llmp capabilities` prints for this repository's plugins.

The table is the docs' answer to "what does each provider support"; regenerating it here keeps
it from drifting when a plugin's capabilities change.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from llmp._cli import main

_TABLE = re.compile(r"<!-- capabilities:begin -->\n```text\n(.*?)```\n<!-- capabilities:end -->", re.DOTALL)
DOC = Path(__file__).parents[1] / "docs" / "capabilities.md"


def _documented() -> tuple[list[str], str]:
    text = DOC.read_text()
    command = re.search(r"Output of `llmp capabilities ([^`]+)`", text)
    block = _TABLE.search(text)
    assert command, "docs/capabilities.md lost its command line"
    assert block, "docs/capabilities.md lost its table markers"
    return shlex.split(command.group(1)), block.group(1)


def test_the_documented_table_is_what_the_command_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for provider in ("OPENAI", "GEMINI", "ANTHROPIC", "DEEPSEEK", "TOGETHER"):
        monkeypatch.delenv(f"{provider}_API_KEY", raising=False)  # no key is needed to ask
    models, table = _documented()
    assert main(["capabilities", *models]) == 0
    printed = capsys.readouterr().out
    assert printed == table, (
        "docs/capabilities.md is out of date; paste the output of "
        f"`llmp capabilities {' '.join(models)}` between its markers"
    )


def test_capabilities_json_names_every_field_for_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["capabilities", "gpt-4.1-mini", "gemini/gemini-3-flash-preview", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gemini/gemini-3-flash-preview"]["json_schema"] is True
    assert data["gpt-4.1-mini"]["max_context_tokens"] is None
    assert "thinking_budget" in data["gemini/gemini-3-flash-preview"]["params"]
    assert set(data["gpt-4.1-mini"]) == set(data["gemini/gemini-3-flash-preview"])


def test_capabilities_of_a_model_without_a_key_send_nothing_and_leak_no_placeholder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://127.0.0.1:9/v1")  # nothing listens: a request would fail
    assert main(["capabilities", "gpt-4.1-mini"]) == 0
    out = capsys.readouterr()
    assert "tools" in out.out
    assert "no-key-needed" not in out.out + out.err
