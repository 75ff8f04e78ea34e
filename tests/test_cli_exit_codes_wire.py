"""The CLI's exit codes when a request would reach a provider: through llmp-openai against its fake server."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from llmp._cli import main
from llmp_openai.testing import FakeOpenAIServer


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    monkeypatch.delenv("LLMP_MODEL", raising=False)


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('"one"\n"two"\n')
    return path


# Each would run against the fake server (exit 0) if its arguments were accepted.
USAGE_ERRORS = {
    "param without =": (["ask", "-p", "temperature", "hi"], "-p/--param takes KEY=VALUE"),
    "param without key": (["ask", "-p", "=0", "hi"], "-p/--param takes KEY=VALUE"),
    "param not an identifier": (["ask", "--param", "max-tokens=5", "hi"], "-p/--param takes KEY=VALUE"),
    "chat param": (["chat", "-p", "temperature"], "-p/--param takes KEY=VALUE"),
    "run param": (["run", "{in}", "-o", "{out}", "-p", "x"], "-p/--param takes KEY=VALUE"),
    "batch submit param": (["batch", "submit", "{in}", "-p", "x"], "-p/--param takes KEY=VALUE"),
    "run -n 0": (["run", "{in}", "-o", "{out}", "-n", "0"], "-n must be at least 1"),
    "run -c 0": (["run", "{in}", "-o", "{out}", "-c", "0"], "--concurrency must be at least 1"),
    "batch submit -n 0": (["batch", "submit", "{in}", "-n", "0"], "-n must be at least 1"),
    "ask without a prompt": (["ask"], "no prompt"),
    "batch without an action": (["batch"], "needs an action"),
    "cache clear without --yes, not on a terminal": (["cache", "clear"], "without --yes"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line_and_send_nothing(
    case: str,
    fake_openai: FakeOpenAIServer,
    prompts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv, message = USAGE_ERRORS[case]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    if case.startswith("cache clear"):  # something to refuse to delete
        assert main(["ask", "fill the cache"]) == 0
        capsys.readouterr()
    argv = [a.format(**{"in": prompts, "out": tmp_path / "out.jsonl"}) for a in argv]
    before = fake_openai.request_count
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("llmp: error: "), err
    assert message in err, err
    assert err.count("\n") == 1, err
    assert fake_openai.request_count == before
