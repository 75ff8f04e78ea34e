"""Where llmp keeps its files on disk: the response cache and the machine-wide concurrency slots.

The cache lives in a directory the user picks (`LLMP_CACHE_DIR`); the slots must not follow it,
because a cap on the machine's requests in flight has to be one set of slots for every process of
the user, whatever cache each one uses.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from llmp.errors import ConfigurationError

__all__ = ["CACHE_DIR_ENV_VARS", "SLOTS_DIR_ENV_VAR", "default_cache_dir", "default_slots_dir"]

# Checked in order. `LLM_CACHE_DIR` is accepted because users of other LLM clients already set it.
CACHE_DIR_ENV_VARS: tuple[str, ...] = ("LLMP_CACHE_DIR", "LLM_CACHE_DIR")
SLOTS_DIR_ENV_VAR = "LLMP_GLOBAL_SLOTS_DIR"


def default_cache_dir() -> Path:
    """`LLMP_CACHE_DIR`, else `LLM_CACHE_DIR`, else `~/.cache/llmp`; created if missing.

    An empty variable counts as unset, so `LLMP_CACHE_DIR= cmd` falls through instead of
    caching into the current directory.
    """
    for name in CACHE_DIR_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            path = Path(value).expanduser()
            break
    else:
        path = Path("~/.cache/llmp").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_slots_dir() -> Path:
    """`LLMP_GLOBAL_SLOTS_DIR`, else one fixed directory per user on this machine; created if missing.

    The default is `/tmp/llmp-<uid>/slots` on POSIX: it depends on no environment variable
    (`XDG_RUNTIME_DIR` is missing under cron, docker or `su`, and `TMPDIR` differs per batch job),
    so every process of the user finds the same slots. Because `/tmp` is shared with other users,
    `/tmp/llmp-<uid>` must be a real directory (not a symlink) owned by the user; it is made
    private (mode 0700). On Windows the user's own temporary directory is per user already.
    """
    configured = os.environ.get(SLOTS_DIR_ENV_VAR, "").strip()
    if configured:
        path = Path(configured).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    if sys.platform == "win32":  # pragma: no cover - Linux is what CI runs
        path = Path(tempfile.gettempdir()) / "llmp" / "slots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return _private_dir(Path("/tmp") / f"llmp-{os.getuid()}") / "slots"


def _private_dir(root: Path) -> Path:
    """`root` created 0700, or checked to be ours if it exists; then `root/slots` inside it."""
    try:
        with contextlib.suppress(FileExistsError):  # whatever is there is checked below
            root.mkdir(mode=0o700)
        info = os.lstat(root)
    except OSError as exc:
        raise _unsafe(root, f"cannot be created ({exc})") from exc
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _unsafe(root, "is not a directory (a symlink or a file someone else put there)")
    if info.st_uid != os.getuid():
        raise _unsafe(root, f"belongs to uid {info.st_uid}, not to you (uid {os.getuid()})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(root, 0o700)  # ours, but others could write into it: make it private
    (root / "slots").mkdir(mode=0o700, exist_ok=True)
    return root


def _unsafe(root: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"the machine-wide slot directory {root} {why}; remove it, or set {SLOTS_DIR_ENV_VAR} "
        "to a directory of your own (every process sharing the cap must use the same one)"
    )
