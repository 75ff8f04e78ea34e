"""No test touches the real home directory.

pytest loads this rootdir conftest for every test path (core/tests, plugins, tests). Before the
first test, everything llmp (and the tools its tests run, such as pip) would write under the home
directory is pointed into one temporary directory per session: ``HOME``, the ``XDG_*_HOME``
directories, ``LLMP_CACHE_DIR``, ``LLMP_GLOBAL_SLOTS_DIR``, the shared test CA
(``LLMP_TEST_CA_DIR``). Subprocesses inherit it.

Two checks say when a test gets past that:

- In this process, an audit hook refuses (and reports, by test) any file opened, created, moved
  or deleted under the real home's llmp paths, any SQLite database opened there, and any
  subprocess started with an environment whose ``HOME`` is missing or the real one.
- For everything else (a subprocess writing by a path of its own), the real llmp paths are
  compared after every test with what they were before it. Another process on the machine (the
  user's own ``llmp``, a test run of an older checkout) can change them too, so a change fails
  the run only under CI (``CI`` set, as ``.ci/run`` runs); elsewhere it is reported at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Tool configuration under the home that subprocess tests rely on (pip's index settings),
# copied into the session's home so `pip install` in a fresh venv behaves as it does for the user.
_TOOL_CONFIGS = ("pip", "uv")
# Audit events that name a path as their first argument (open: also reads; nothing may look there).
_PATH_EVENTS = frozenset(
    {"open", "sqlite3.connect", "os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.chmod"}
    | {"os.truncate", "os.symlink", "os.link", "os.utime", "shutil.rmtree", "shutil.copyfile"}
)

Snapshot = dict[str, tuple[tuple[str, int, int], ...] | None]


def _strict() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _real_llmp_paths(env: dict[str, str], session_dir: Path) -> list[Path]:
    home = Path(env.get("HOME") or Path.home())
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    paths = [home / ".cache" / "llmp", config / "llmp"]
    for name in ("LLMP_CACHE_DIR", "LLM_CACHE_DIR", "LLMP_GLOBAL_SLOTS_DIR"):
        if env.get(name, "").strip():
            paths.append(Path(env[name]).expanduser())
    # A user's cache dir set to the temp dir itself would put every tmp_path "in the real home".
    temp = Path(tempfile.gettempdir()).resolve()
    return [
        p.absolute() for p in paths if not (temp.is_relative_to(p.resolve()) or session_dir.is_relative_to(p))
    ]


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


class _HomeGuard:
    def __init__(self) -> None:
        self.session_dir = Path(tempfile.mkdtemp(prefix="llmp-tests-"))
        self.real_home = Path.home().absolute()
        self.real = _real_llmp_paths(dict(os.environ), self.session_dir)
        self._prefixes = tuple(str(p) for p in self.real)
        self.baseline = _snapshot(self.real)
        self.touched: list[str] = []  # what the audit hook refused since the last check
        self.seen_elsewhere: list[str] = []  # snapshot changes outside CI, reported at the end
        self.active = False
        self._patch = pytest.MonkeyPatch()

    def redirect(self) -> None:
        home = self.session_dir / "home"
        real_config = Path(os.environ.get("XDG_CONFIG_HOME") or self.real_home / ".config")
        for tool in _TOOL_CONFIGS:
            if (real_config / tool).is_dir():
                shutil.copytree(real_config / tool, home / ".config" / tool)
        if (self.real_home / ".pip").is_dir():  # pip's legacy per-user config
            shutil.copytree(self.real_home / ".pip", home / ".pip")
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
        for name, path in targets.items():
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._patch.setenv(name, str(path))
        # It would send llmp's cache elsewhere once a test unsets LLMP_CACHE_DIR.
        self._patch.delenv("LLM_CACHE_DIR", raising=False)
        self.active = True
        sys.addaudithook(self._audit)

    def _in_real(self, path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return False
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(text == p or text.startswith(p + os.sep) for p in self._prefixes)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event in _PATH_EVENTS and args and self._in_real(args[0]):
            found = f"{event} {os.fsdecode(args[0])}"
        elif event in ("os.rename", "shutil.copyfile") and len(args) > 1 and self._in_real(args[1]):
            found = f"{event} -> {os.fsdecode(args[1])}"
        elif event == "subprocess.Popen" and (env := args[3]) is not None and not self._away(env):
            found = f"a subprocess ({args[1]!r:.60}) with HOME={env.get('HOME')!r}"
        else:
            return
        self.touched.append(found)
        raise PermissionError(f"a test reached the real home's llmp files: {found} (see conftest.py)")

    def _away(self, env: Any) -> bool:
        home = env.get("HOME") or env.get(b"HOME")
        return bool(home) and not Path(os.fsdecode(home)).absolute().is_relative_to(self.real_home)

    def check(self) -> tuple[list[str], list[str]]:
        """(what the audit hook refused, real llmp paths that changed) since the last check."""
        touched, self.touched = self.touched, []
        now = _snapshot(self.real)
        changed = [root for root in now if self.baseline.get(root) != now[root]]
        self.baseline = now
        return touched, changed

    def restore(self) -> None:
        self.active = False
        self._patch.undo()
        shutil.rmtree(self.session_dir, ignore_errors=True)


_guard: _HomeGuard | None = None


def _changed_message(changed: list[str]) -> str:
    return (
        f"the real home's llmp files changed: {', '.join(changed)}. Tests must write only under "
        "tmp_path or the session's redirected HOME / LLMP_CACHE_DIR (see conftest.py)."
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _real_home_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _guard is None:
        return
    touched, changed = _guard.check()
    if touched and not request.node.stash.get(_CALL_FAILED, False):  # else the test already says it
        pytest.fail(f"a test reached the real home's llmp files: {'; '.join(touched)}", pytrace=False)
    if changed and _strict():
        pytest.fail(_changed_message(changed), pytrace=False)
    _guard.seen_elsewhere += [f"{path} (during {request.node.nodeid})" for path in changed]  # not strict


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # What session-scoped fixtures did in their teardown, after the last test's own check.
    if _guard is None:
        return
    touched, changed = _guard.check()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if touched or (changed and _strict()):
        if reporter is not None:
            reporter.write_line(f"ERROR: {_changed_message(touched + changed)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif (seen := _guard.seen_elsewhere + changed) and reporter is not None:
        reporter.write_line(
            f"WARNING: {_changed_message(seen)} Not a failure outside CI: another process (the "
            "user's own llmp, a test run of an older checkout) may have written them.",
            yellow=True,
        )
