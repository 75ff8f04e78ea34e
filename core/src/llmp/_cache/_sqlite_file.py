"""Opening `llmp-cache.sqlite`: the schema (with its TTL column), WAL, and what to do with a
corrupt file.

Schema: table `responses` in sqlitedict's shape (`key TEXT PRIMARY KEY, value BLOB`) plus a
nullable `expires REAL` (Unix time; NULL: never expires), added to an older file on open with
`ALTER TABLE ... ADD COLUMN`, which rewrites no row: existing entries stay as they were and never
expire, and sqlitedict (or an older llmp) still reads the file. A partial index on `expires`
covers only entries that have one, so purging expired entries never scans the rest.

A corrupt file (truncated, a garbage header: SQLite says "file is not a database" or "database
disk image is malformed" while opening) is moved aside to `llmp-cache.sqlite.corrupt-<time>-<pid>`
(with its -wal/-shm) and a fresh file is opened in its place. Several processes may find the same
broken file at once: the move and the reopen happen under an flock on `llmp-cache.sqlite.lock`,
and a process moves the file only if the path still names the file it found broken.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlitedict import SqliteDict

from llmp.errors import CacheError

__all__ = [
    "FILENAME",
    "TABLE",
    "connect_reader",
    "file_id",
    "is_corrupt",
    "open_writer",
    "quarantine",
    "retry_open",
    "sidecar_files",
]

_log = logging.getLogger("llmp.cache")
_T = TypeVar("_T")

FILENAME = "llmp-cache.sqlite"
TABLE = "responses"

# The worker waits this long for another process's write lock before giving up on one write;
# lock holds are microseconds, so reaching it means something outside llmp holds the file.
_WRITER_BUSY_MS = 60_000
# Readers run on the caller's thread (often an event loop): in WAL mode they only wait during
# crash recovery, and a read that waits longer than this is reported as a miss instead.
_READER_BUSY_S = 2.0
# Opening races with other processes switching a fresh file to WAL; retry for this long.
_OPEN_DEADLINE_S = 30.0

_CREATE_SQL = f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB, expires REAL)'
_ADD_EXPIRES_SQL = f'ALTER TABLE "{TABLE}" ADD COLUMN expires REAL'
_INDEX_SQL = f'CREATE INDEX IF NOT EXISTS "{TABLE}_expires" ON "{TABLE}" (expires) WHERE expires IS NOT NULL'
# SQLite's primary result codes for a damaged file (the extended codes share the low byte).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

SIDECARS = ("-wal", "-shm", "-journal")


def sidecar_files(path: Path) -> list[Path]:
    """The database file and the WAL-mode files that belong to it."""
    return [path, *(path.with_name(path.name + suffix) for suffix in SIDECARS)]


def is_corrupt(exc: BaseException) -> bool:
    """True for SQLite's "malformed" / "not a database" errors, not for locks or I/O errors."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return not isinstance(exc, sqlite3.OperationalError)


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of path, to tell "the file I found broken" from a replacement."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def retry_open(open_: Callable[[], _T]) -> _T:
    # Several processes opening a fresh file at once race to create it and switch it to WAL,
    # which can fail with "database is locked". Opening is rare, so wait it out.
    deadline = time.monotonic() + _OPEN_DEADLINE_S
    delay = 0.005
    while True:
        try:
            return open_()
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", _SQLITE_BUSY) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(_CREATE_SQL)
    columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{TABLE}")').fetchall()}
    if "expires" not in columns:
        try:
            conn.execute(_ADD_EXPIRES_SQL)
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process added it first
                raise
    conn.execute(_INDEX_SQL)


def connect_reader(path: Path) -> sqlite3.Connection:
    """The caller-thread connection; also creates or upgrades the schema."""
    conn = sqlite3.connect(path, timeout=_READER_BUSY_S, isolation_level=None, check_same_thread=False)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if str(mode).lower() != "wal":
            # e.g. a network filesystem: still correct, but writers block readers there.
            _log.warning("llmp cache %s: SQLite refused WAL mode (got %r)", path, mode)
        _migrate(conn)
        # Read a row: a file damaged past its schema page fails here rather than at the first get.
        conn.execute(f'SELECT key FROM "{TABLE}" LIMIT 1').fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


class _QuietWorker(logging.Filter):
    """sqlitedict logs each failed statement as several ERROR lines from its worker thread; llmp
    reports those failures itself (once), so drop the records of llmp's own workers."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.threads


_QUIET = _QuietWorker()
logging.getLogger("sqlitedict.SqliteMultithread").addFilter(_QUIET)


def open_writer(path: Path, encode: Callable[[Any], str], decode: Callable[[Any], Any]) -> Any:
    # autocommit=True only for the worker's connection mode; set() bypasses SqliteDict.__setitem__,
    # which would block on a commit round trip after every write.
    db = SqliteDict(
        str(path),
        tablename=TABLE,
        autocommit=True,
        journal_mode="WAL",
        encode=encode,
        decode=decode,
        outer_stack=False,  # True captures a full stack on every queued statement
    )
    if db.conn.ident is not None:
        _QUIET.threads.add(db.conn.ident)
    # Queued ahead of any write. NORMAL instead of sqlitedict's OFF: in WAL mode that costs no
    # fsync per commit but keeps the file intact through a power loss, not only a process kill.
    db.conn.execute(f"PRAGMA busy_timeout = {_WRITER_BUSY_MS}")
    db.conn.execute("PRAGMA synchronous = NORMAL")
    return db


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock; the file-id check still applies
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _fix_hint(path: Path) -> str:
    return (
        f"delete {path} (and its -wal/-shm files), or pass cache=<another directory> "
        "(or set LLMP_CACHE_DIR), or cache=False"
    )


def quarantine(
    path: Path, broken: tuple[int, int] | None, error: BaseException, reopen: Callable[[], _T]
) -> _T:
    """Move the broken file at path aside (unless someone already did) and `reopen()` a fresh one.

    Raises CacheError naming the path and the fix when the file cannot be moved or the fresh
    file cannot be opened either.
    """
    with _locked(path):
        if broken is not None and file_id(path) == broken:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
            try:
                os.replace(path, target)
            except OSError as exc:
                raise CacheError(
                    f"the cache file {path} is corrupt ({error}) and could not be moved aside ({exc}): "
                    f"{_fix_hint(path)}"
                ) from error
            for src, dst in zip(sidecar_files(path)[1:], sidecar_files(target)[1:], strict=True):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(src, dst)
            _log.warning(
                "llmp cache %s is corrupt (%s): moved it aside to %s and started a fresh cache file",
                path,
                error,
                target,
            )
        try:
            return reopen()
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open the cache file {path} ({exc}): {_fix_hint(path)}") from exc
