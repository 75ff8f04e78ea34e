"""examples/acceptance/check.py, the end-to-end run of rich results per provider, passes here.

`examples/acceptance/run.sh` runs the same script in a fresh venv installed with plain pip; this
test keeps the script honest in the workspace (every check asserts figures from the fake
servers' request counters; the script exits 1 if any fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "acceptance" / "check.py"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_acceptance_run_passes_for_every_provider(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMP_", "SSL_CERT"))}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=550, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    for provider in ("openai", "gemini", "anthropic"):
        assert f"\n{provider}\n" in table
    assert table.count("ok: 100 City") == 3
    assert table.count("ok: 0 requests") == 3
    assert "FAILED" not in table
