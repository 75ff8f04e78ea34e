"""The third-party plugin path: examples/llmp-cohere installs with pip next to llmp-core, in a
fresh venv, and passes its own tests there, including llmp's `ProviderConformance` suite.

Nothing in the workspace knows about the example (it is not a workspace member, and llmp has no
Cohere code), so this proves a plugin can be written, installed and verified from outside.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "llmp-cohere"


@pytest.mark.timeout(900)
def test_example_plugin_installs_and_passes_its_conformance_tests(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "LLMP_", "COHERE_", "SSL_CERT"))
    }
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", f"{ROOT / 'core'}[testing]", f"{EXAMPLE}[test]"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # From the venv's site-packages, not the workspace sources.
    where = subprocess.run(
        [python, "-c", "import llmp, llmp_cohere; print(llmp.__file__); print(llmp_cohere.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert all(str(env_dir) in line for line in where.stdout.split()), where.stdout

    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=600,
    )
    report = tests.stdout[-4000:] + tests.stderr[-2000:]
    assert tests.returncode == 0, report
    assert " passed" in tests.stdout
    assert " failed" not in tests.stdout
    assert " skipped" not in tests.stdout
    # The conformance suite really ran (its wire tests and its static contract tests).
    listed = subprocess.run(
        [python, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert "TestCohereConformance::test_status_maps_to_llmp_error[429-RateLimitError]" in listed
    assert "TestCohereConformance::test_discovery_imports_no_sdk" in listed
