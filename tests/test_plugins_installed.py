"""Plugin discovery with the first-party plugins installed: what LLMP_PLUGINS leaves out says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(site: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=False
    )


def test_a_model_whose_plugin_llmp_plugins_excludes_says_so_instead_of_install_it() -> None:
    code = (
        "import llmp\n"
        "try:\n"
        "    llmp.Registry().resolve('anthropic/claude-x')\n"
        "except llmp.errors.UnknownModelError as e:\n"
        "    print(e)\n"
    )
    out = _run(Path("."), code, LLMP_PLUGINS="openai")
    assert "llmp-litellm is installed but not loaded" in out.stdout, out.stdout + out.stderr
    assert "LLMP_PLUGINS=openai" in out.stdout


def test_llmp_plugins_excluding_everything_says_so_in_llmp_plugins() -> None:
    import os

    env = {**os.environ, "LLMP_PLUGINS": "opnai"}
    out = subprocess.run(
        [sys.executable, "-m", "llmp", "plugins"], capture_output=True, text=True, env=env, check=False
    )
    assert "Did you mean openai" in out.stderr
    assert "no llmp plugin is loaded: LLMP_PLUGINS=opnai leaves out the installed" in out.stderr
    assert "pip install llmp-openai" not in out.stderr
