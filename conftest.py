"""No test touches the real home directory.

pytest loads this rootdir conftest for every test path (core/tests, plugins, tests). Before the
first test, everything llmp (and the tools its tests run, such as pip) would write under the home
directory is pointed into one temporary directory per session: ``HOME``, the ``XDG_*_HOME``
directories, ``LLMP_CACHE_DIR``, ``LLMP_GLOBAL_SLOTS_DIR``, the shared test CA
(``LLMP_TEST_CA_DIR``). Subprocesses inherit it. After every test the real home's llmp paths are
compared with what they were when the session started: a test that wrote there fails, by name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set to the session's directory for every test.
_REDIRECTED = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
# Variables that would send llmp's files elsewhere than the variables above say.
_UNSET = ("LLM_CACHE_DIR",)
# Tool configuration under the home that subprocess tests rely on (pip's index settings),
# copied into the session's home so `pip install` in a fresh venv behaves as it does for the user.
_TOOL_CONFIGS = ("pip", "uv")

Snapshot = dict[str, tuple[tuple[str, int, int], ...] | None]


def _real_llmp_paths(env: dict[str, str]) -> list[Path]:
    home = Path(env.get("HOME") or Path.home())
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    paths = [home / ".cache" / "llmp", config / "llmp"]
    for name in ("LLMP_CACHE_DIR", "LLM_CACHE_DIR", "LLMP_GLOBAL_SLOTS_DIR"):
        if env.get(name, "").strip():
            paths.append(Path(env[name]).expanduser())
    return paths


def _snapshot(paths: list[Path]) -> Snapshot:
    """Every file under `paths` with its size and modification time (None: the path is absent)."""
    found: Snapshot = {}
    for root in paths:
        if not root.exists():
            found[str(root)] = None
            continue
        entries: list[tuple[str, int, int]] = []
        for directory, _, files in os.walk(root):
            for name in ["", *files]:
                path = Path(directory, name)
                try:
                    info = path.stat()
                except OSError:  # removed while we looked: that is a change the next look sees
                    continue
                entries.append((str(path.relative_to(root)), info.st_size, info.st_mtime_ns))
        found[str(root)] = tuple(sorted(entries))
    return found


def _changes(before: Snapshot, after: Snapshot) -> list[str]:
    return [root for root in after if before.get(root) != after[root]]


class _HomeGuard:
    def __init__(self) -> None:
        self.session_dir = Path(tempfile.mkdtemp(prefix="llmp-tests-"))
        self.real = _real_llmp_paths(dict(os.environ))
        self.baseline = _snapshot(self.real)
        self._patch = pytest.MonkeyPatch()

    def redirect(self) -> None:
        home = self.session_dir / "home"
        real_config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        for tool in _TOOL_CONFIGS:
            if (real_config / tool).is_dir():
                shutil.copytree(real_config / tool, home / ".config" / tool)
        if (Path.home() / ".pip").is_dir():  # pip's legacy per-user config
            shutil.copytree(Path.home() / ".pip", home / ".pip")
        targets = {
            "HOME": home,
            "XDG_CACHE_HOME": home / ".cache",
            "XDG_CONFIG_HOME": home / ".config",
            "XDG_DATA_HOME": home / ".local" / "share",
            "XDG_STATE_HOME": home / ".local" / "state",
            "LLMP_CACHE_DIR": self.session_dir / "llmp-cache",
            "LLMP_GLOBAL_SLOTS_DIR": self.session_dir / "llmp-slots",
            "LLMP_TEST_CA_DIR": self.session_dir / "test-ca",
        }
        assert set(_REDIRECTED) <= set(targets)
        for name, path in targets.items():
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._patch.setenv(name, str(path))
        for name in _UNSET:
            self._patch.delenv(name, raising=False)

    def check(self) -> list[str]:
        """The real llmp paths that changed since the last check (and take the new state)."""
        now = _snapshot(self.real)
        changed = _changes(self.baseline, now)
        self.baseline = now
        return changed

    def restore(self) -> None:
        self._patch.undo()
        shutil.rmtree(self.session_dir, ignore_errors=True)


_guard: _HomeGuard | None = None


def _message(changed: list[str]) -> str:
    return (
        f"the real home's llmp files changed: {', '.join(changed)}. Tests must write only under "
        "tmp_path or the session's redirected HOME / LLMP_CACHE_DIR (see conftest.py). "
        "(Another process writing there at the same moment, such as a test run of an older "
        "checkout, trips this too.)"
    )


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    _guard = _HomeGuard()
    _guard.redirect()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _guard
    if _guard is not None:
        _guard.restore()
        _guard = None


@pytest.fixture(autouse=True)
def _real_home_untouched() -> Iterator[None]:
    yield
    if _guard is not None and (changed := _guard.check()):
        pytest.fail(_message(changed), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # What session-scoped fixtures did in their teardown, after the last test's own check.
    if _guard is not None and (changed := _guard.check()):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: {_message(changed)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
