"""Exit codes of the CLI's argument checks (docs/cli.md: 2 for a usage error, 1 for an error),
and `llmp demo` without the fake servers' dependencies."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmp._cli import main
from llmp._demo import FAKE_SERVER_MODULES
from llmp.testing import FakeOpenAIServer

CORE = Path(__file__).resolve().parents[1]


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


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", "--no-such-option", "hi"],
        ["run", "{in}"],
        ["run", "{in}", "-o", "x", "-n", "two"],
        ["demo", "-n", "0"],
    ],
    ids=["unknown option", "missing -o", "-n not a number", "demo -n 0"],
)
def test_argparse_level_usage_errors_exit_2(
    argv: list[str], prompts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([a.format(**{"in": prompts}) for a in argv])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: llmp" in capsys.readouterr().err


def _without_openai_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}


def test_demo_without_the_testing_extra_says_what_to_install_in_one_line() -> None:
    # trustme cannot be imported in this process (None in sys.modules makes `import` fail).
    script = "import sys; sys.modules['trustme'] = None; from llmp._cli import main; sys.exit(main(['demo']))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=_without_openai_keys(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert 'pip install "llmp-core[testing]"' in done.stderr
    assert "(missing: trustme)" in done.stderr


def test_the_demo_checks_exactly_the_testing_extra() -> None:
    project = tomllib.loads((CORE / "pyproject.toml").read_text())["project"]
    extra = {
        re.match(r"[A-Za-z0-9_.-]+", req).group(0) for req in project["optional-dependencies"]["testing"]
    }  # type: ignore[union-attr]
    assert extra == set(FAKE_SERVER_MODULES)
