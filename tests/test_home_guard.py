"""The root conftest keeps every test away from the real home directory, and says so when one
does not: an inner pytest session, with a stand-in "real home", runs tests that write there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INNER = textwrap.dedent(
    """
    import os
    from pathlib import Path

    import pytest

    from llmp._paths import default_cache_dir
    from llmp.testing._tls import default_ca_dir

    REAL = Path(os.environ["GUARD_TEST_REAL_HOME"])
    REDIRECTED = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "LLMP_CACHE_DIR",
                  "LLMP_GLOBAL_SLOTS_DIR", "LLMP_TEST_CA_DIR")


    def test_everything_points_away_from_the_real_home():
        assert not Path.home().is_relative_to(REAL)
        for name in REDIRECTED:
            assert not Path(os.environ[name]).is_relative_to(REAL), name
        assert "LLM_CACHE_DIR" not in os.environ
        assert not default_cache_dir().is_relative_to(REAL)
        assert not default_ca_dir().is_relative_to(REAL)
        # pip's own settings came along, so `pip install` in a test behaves as for the user.
        assert (Path.home() / ".config" / "pip" / "pip.conf").read_text() == "[global]\\n"


    def test_writes_the_real_cache():
        cache = REAL / ".cache" / "llmp"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "llmp-cache.sqlite").write_bytes(b"not yours")


    def test_a_clean_test_after_it_passes():
        pass


    @pytest.fixture(scope="session")
    def writes_config_at_session_end():
        yield
        (REAL / ".config" / "llmp").mkdir(parents=True)


    def test_with_a_session_fixture(writes_config_at_session_end):
        pass
    """
)


def test_a_test_writing_the_real_home_fails_by_name(tmp_path: Path) -> None:
    real_home = tmp_path / "real-home"
    (real_home / ".config" / "pip").mkdir(parents=True)
    (real_home / ".config" / "pip" / "pip.conf").write_text("[global]\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLMP_", "LLM_", "XDG_", "PYTEST_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(real_home), GUARD_TEST_REAL_HOME=str(real_home), PYTHONPATH=str(ROOT))
    # `-p conftest`: this repository's root conftest, loaded as a plugin of the inner session.
    command = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        [*command, "-o", "asyncio_default_fixture_loop_scope=function", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    # The writing test itself passed; its teardown check is the error.
    assert "4 passed, 1 error" in out, out
    assert "ERROR at teardown of test_writes_the_real_cache" in out, out
    assert f"the real home's llmp files changed: {real_home / '.cache' / 'llmp'}" in out, out
    # A session fixture's teardown, after the last test's own check, fails the run too.
    assert f"ERROR: the real home's llmp files changed: {real_home / '.config' / 'llmp'}" in out, out
    # The session's stand-in home is gone afterwards; the real one holds only what the tests wrote.
    assert sorted(p.name for p in real_home.iterdir()) == [".cache", ".config"]
