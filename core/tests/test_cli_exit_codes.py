"""Exit codes of the CLI's argument checks (docs/cli.md: 2 for a usage error, 1 for an error),
and `llmp demo` without the fake servers' dependencies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmp._cli import main
from llmp._demo import FAKE_SERVER_MODULES

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


def test_demo_without_llmp_openai_says_to_install_it_in_one_line() -> None:
    # The fake OpenAI server ships in llmp-openai: without it the demo says so before starting.
    script = (
        "import sys; sys.modules['llmp_openai'] = None; from llmp._cli import main; sys.exit(main(['demo']))"
    )
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
    assert "pip install llmp-openai" in done.stderr


def test_the_demo_checks_exactly_the_testing_extra() -> None:
    project = tomllib.loads((CORE / "pyproject.toml").read_text())["project"]
    extra = {
        re.match(r"[A-Za-z0-9_.-]+", req).group(0) for req in project["optional-dependencies"]["testing"]
    }  # type: ignore[union-attr]
    assert extra == set(FAKE_SERVER_MODULES)
