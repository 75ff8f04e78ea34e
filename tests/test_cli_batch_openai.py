"""`llmp batch` end to end through llmp-openai against the fake OpenAI server's Files and Batch APIs."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llmp._cli import main


def texts(record: Any) -> list[str]:
    """The sample texts of one result line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


def test_against_the_fake_openai_batch_api(
    fake_openai: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole path, no stand-ins: CLI -> LLM -> llmp-openai -> the openai SDK -> the fake's
    # Files and Batch APIs, which move a batch through its lifecycle on a short time scale.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    fake_openai.batches.step_seconds = 0.01
    source = tmp_path / "in.txt"
    source.write_text("first question\nsecond question\nthird question\n")

    def run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("batch", "submit", str(source), "-m", "gpt-4.1-mini", "-s", "Be brief.")
    assert code == 0
    batch_id = out.strip()
    assert batch_id.startswith("openai:3:")
    deadline = time.monotonic() + 30
    while True:  # the fake's batch advances with time: poll its status, as a user would
        code, out, _ = run("batch", "status", batch_id, "-m", "gpt-4.1-mini", "--json")
        if json.loads(out)["status"] == "completed":
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.01)
    target = tmp_path / "results.jsonl"
    code, _, err = run("batch", "retrieve", batch_id, "-m", "gpt-4.1-mini", "-o", str(target))
    assert code == 0, err
    outputs = [texts(json.loads(line)) for line in target.read_text().splitlines()]
    assert outputs == [["Echo: first question"], ["Echo: second question"], ["Echo: third question"]]
    assert "3 results, 0 failed" in err
    assert not [r for r in fake_openai.requests if r.path == "/v1/chat/completions"]
