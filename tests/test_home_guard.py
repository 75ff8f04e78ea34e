"""The root conftest keeps every test away from the real home directory, and says so when one
does not: inner pytest sessions, each with a stand-in "real home", run tests that reach there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INNER = textwrap.dedent(
    """
    import contextlib, os, sqlite3, subprocess, sys
    from pathlib import Path

    import pytest

    from llmp._paths import default_cache_dir
    from llmp.testing._tls import default_ca_dir

    REAL = Path(os.environ["GUARD_TEST_REAL_HOME"])
    REDIRECTED = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "LLMP_CACHE_DIR",
                  "LLMP_GLOBAL_SLOTS_DIR", "LLMP_TEST_CA_DIR")
    WRITE = ("import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(parents=True); "
             "(p / 'f').write_text('x')")


    def test_everything_points_away_from_the_real_home():
        assert not Path.home().is_relative_to(REAL)
        for name in REDIRECTED:
            assert not Path(os.environ[name]).is_relative_to(REAL), name
        assert "LLM_CACHE_DIR" not in os.environ
        assert not default_cache_dir().is_relative_to(REAL)
        assert not default_ca_dir().is_relative_to(REAL)
        # pip's own settings came along, so `pip install` in a test behaves as for the user.
        assert (Path.home() / ".config" / "pip" / "pip.conf").read_text() == "[global]\\n"


    def test_opens_a_database_in_the_real_cache():
        (REAL / ".cache").mkdir()  # not llmp's: allowed
        sqlite3.connect(REAL / ".cache" / "llmp" / "llmp-cache.sqlite")


    def test_swallows_the_refusal():
        with contextlib.suppress(OSError):
            (REAL / ".config" / "llmp").mkdir(parents=True)


    def test_starts_a_subprocess_with_the_real_home():
        subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, "HOME": str(REAL)}, check=True)


    def test_subprocess_writes_by_a_path_of_its_own():
        subprocess.run([sys.executable, "-c", WRITE, str(REAL / ".cache" / "llmp")], check=True)


    def test_a_clean_test_passes():
        pass


    @pytest.fixture(scope="session")
    def writes_config_at_session_end():
        yield
        subprocess.run([sys.executable, "-c", WRITE, str(REAL / ".config" / "llmp")], check=True)


    def test_with_a_session_fixture(writes_config_at_session_end):
        pass
    """
)


def _inner(tmp_path: Path, *args: str, ci: bool) -> tuple[int, str, Path]:
    real_home = tmp_path / "real-home"
    (real_home / ".config" / "pip").mkdir(parents=True)
    (real_home / ".config" / "pip" / "pip.conf").write_text("[global]\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLMP_", "LLM_", "XDG_", "PYTEST_")) and k not in ("PYTHONPATH", "CI")
    }
    env.update(HOME=str(real_home), GUARD_TEST_REAL_HOME=str(real_home), PYTHONPATH=str(ROOT))
    if ci:
        env["CI"] = "true"
    # `-p conftest`: this repository's root conftest, loaded as a plugin of the inner session.
    command = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "-rA"]
    done = subprocess.run(
        [*command, "-o", "asyncio_default_fixture_loop_scope=function", *args, "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, real_home


def test_under_ci_every_way_of_reaching_the_real_home_fails_by_name(tmp_path: Path) -> None:
    code, out, real = _inner(tmp_path, ci=True)
    assert code == 1, out
    assert "2 failed, 5 passed, 2 errors" in out, out
    refused = "a test reached the real home's llmp files"
    # In this process: refused where it happens, and reported even when the test swallows it.
    assert (
        f"FAILED test_inner.py::test_opens_a_database_in_the_real_cache - PermissionError: {refused}" in out
    )
    assert f"sqlite3.connect {real / '.cache' / 'llmp' / 'llmp-cache.sqlite'}" in out, out
    assert f"ERROR test_inner.py::test_swallows_the_refusal - Failed: {refused}: os.mkdir" in out, out
    assert (
        f"FAILED test_inner.py::test_starts_a_subprocess_with_the_real_home - PermissionError: {refused}"
        in out
    )
    # A subprocess writing by its own path: the comparison after the test sees it.
    changed = f"the real home's llmp files changed: {real / '.cache' / 'llmp'}"
    assert f"ERROR test_inner.py::test_subprocess_writes_by_a_path_of_its_own - Failed: {changed}" in out, out
    assert "PASSED test_inner.py::test_a_clean_test_passes" in out
    # A session fixture's teardown, after the last test's own check, fails the run too.
    assert f"ERROR: the real home's llmp files changed: {real / '.config' / 'llmp'}" in out, out
    assert not (real / ".cache" / "llmp" / "llmp-cache.sqlite").exists(), "the refusal kept it out"


def test_outside_ci_a_change_nobody_in_the_session_was_seen_making_is_a_warning(tmp_path: Path) -> None:
    code, out, real = _inner(tmp_path, "-k", "own or clean or session_fixture", ci=False)
    assert code == 0, out
    assert "3 passed" in out, out
    warning = out[out.index("WARNING: the real home's llmp files changed") :]
    assert str(real / ".cache" / "llmp") in warning
    assert "during test_inner.py::test_subprocess_writes_by_a_path_of_its_own" in warning
    assert str(real / ".config" / "llmp") in warning
