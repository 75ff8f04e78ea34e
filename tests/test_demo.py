"""``python -m llmp demo``: the README's first command, on llmp-openai's fake server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(180)
def test_python_m_llmp_demo_still_runs(tmp_path: Path) -> None:
    # The demo starts its own fake server; without an OpenAI key it never leaves the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMP_", "SSL_CERT"))}
    env["LLMP_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "llmp", "demo", "-n", "12"],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "first run : 12 prompts" in done.stdout
    assert "0 requests sent, 12 served from cache" in done.stdout
