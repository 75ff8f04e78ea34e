"""The installed `llmp` command: fast start (no SDK imported by --help), `python -m llmp demo`."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from llmp.testing._cli_imports import cli_imports


def test_help_imports_no_sdk_and_no_command_module() -> None:
    out, loaded = cli_imports(["--help"])
    assert "usage: llmp" in out
    for command in ("ask", "chat", "run", "batch", "routes", "plugins", "cache", "demo"):
        assert f"    {command} " in out
    assert loaded == []


def test_the_console_script_is_installed_and_runs() -> None:
    script = Path(sysconfig.get_path("scripts")) / "llmp"
    assert script.is_file(), f"{script} missing: is llmp-core installed (uv sync)?"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("llmp 0.")
    done = subprocess.run(
        [sys.executable, "-m", "llmp", "--help"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("usage: llmp")
