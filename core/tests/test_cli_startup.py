"""The installed `llmp` command: fast start (no SDK imported by --help), `python -m llmp demo`."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

SDKS = ("openai", "google.genai", "litellm", "httpx2", "httpx", "aiohttp")
COMMAND_MODULES = (
    "llmp._cli._ask",
    "llmp._cli._chat",
    "llmp._cli._run",
    "llmp._cli._batch",
    "llmp._cli._inspect",
)

PROBE = """
import sys
from llmp._cli import main
try:
    main({argv!r})
except SystemExit as exit:
    code = exit.code
else:
    code = None
print("EXIT", code, file=sys.stderr)
print("LOADED", *sorted(m for m in sys.modules if m in {watch!r}), file=sys.stderr)
"""


def probe(argv: list[str]) -> tuple[str, list[str]]:
    code = PROBE.format(argv=argv, watch=SDKS + COMMAND_MODULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMP_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = done.stderr.splitlines()
    assert lines[-2].startswith("EXIT"), done.stderr
    return done.stdout, lines[-1].split()[1:]


def test_help_imports_no_sdk_and_no_command_module() -> None:
    out, loaded = probe(["--help"])
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
