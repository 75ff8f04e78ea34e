"""The on-disk response cache: one SQLite file managed by sqlitedict, JSON values, many processes.

File: `<dir>/llmp-cache.sqlite`, table `responses` in sqlitedict's schema (`key TEXT PRIMARY KEY,
value BLOB`); every value is a JSON object stored as text, so
`SqliteDict(path, tablename="responses", decode=json.loads, journal_mode="WAL")` reads the file
too (without WAL there, sqlitedict would try to switch the shared file out of WAL mode).

Writes go through sqlitedict's worker thread: `set()` serialises the value on the caller's thread
(so a non-JSON value fails at the call site) and queues the statement, never waiting for SQLite.
The worker's connection is in autocommit mode, so each write is its own small WAL transaction,
committed as soon as the worker reaches it: a crash loses only what is still queued, and the
cross-process write lock is held for microseconds, not for a batching interval.
`flush()` waits for the queue to drain.

Reads bypass the worker. A round trip through its queue costs ~250 us per `get` (a thread
hand-off each way), so reads use a separate connection on the caller's thread (~10 us); WAL
readers never wait for writers. Writes still queued are served from an in-memory map, so a
process always reads its own writes; the worker drops each entry once its statement has run.

Values that are not JSON objects (a pickle planted by another tool, a truncated row) are treated
as misses and never unpickled: the next successful call overwrites them.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlitedict import SqliteDict

from llmp._paths import default_cache_dir

__all__ = ["FILENAME", "TABLE", "DiskCache", "cache_key", "default_cache_dir", "open_cache", "shared_cache"]

_log = logging.getLogger("llmp.cache")
_T = TypeVar("_T")

FILENAME = "llmp-cache.sqlite"
TABLE = "responses"

# Keys per SELECT in get_many: well under SQLite's bound-parameter limit (999 before 3.32).
_CHUNK = 500
# The worker waits this long for another process's write lock before giving up on one write;
# lock holds are microseconds, so reaching it means something outside llmp holds the file.
_WRITER_BUSY_MS = 60_000
# Readers run on the caller's thread (often an event loop): in WAL mode they only wait during
# crash recovery, and a read that waits longer than this is reported as a miss instead.
_READER_BUSY_S = 2.0
# Opening races with other processes switching a fresh file to WAL; retry for this long.
_OPEN_DEADLINE_S = 30.0
_RETRIES = 5

_CREATE_SQL = f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB)'
_GET_SQL = f'SELECT value FROM "{TABLE}" WHERE key = ?'
_PUT_SQL = f'REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)'


def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex of canonical JSON (sorted keys, no whitespace, unescaped unicode) of payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate is a valid Python str and must hash, not raise.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _encode(value: dict[str, Any]) -> str:
    # ASCII-only JSON: a lone surrogate in model output cannot be stored as UTF-8 text and would
    # otherwise fail later on the worker thread, far from the caller.
    return json.dumps(value, separators=(",", ":"))


def _decode(raw: object) -> dict[str, Any]:
    """sqlitedict's decode hook: JSON objects stored as text, nothing else, never unpickled."""
    if type(raw) is not str:
        raise ValueError(f"cache value is {type(raw).__name__}, not JSON text; refusing to decode it")
    value = json.loads(raw)
    if type(value) is not dict:
        raise ValueError(f"cache value is a JSON {type(value).__name__}, not an object")
    return value


class _WriteDone:
    """Stands in for sqlitedict's per-statement response queue for one queued write.

    The worker calls `put()` after running the statement; the connection autocommits, so by then
    the row is readable from disk and the in-memory copy can go. Only the newest write of a key
    removes it. sqlitedict holds this object weakly, so the pending map keeps it alive.
    """

    __slots__ = ("__weakref__", "_lock", "_pending", "key", "text")

    def __init__(self, pending: dict[str, _WriteDone], lock: threading.Lock, key: str, text: str) -> None:
        self._pending = pending
        self._lock = lock
        self.key = key
        self.text = text

    def put(self, _item: object) -> None:
        with self._lock:
            if self._pending.get(self.key) is self:
                del self._pending[self.key]


def _retry_open(open_: Callable[[], _T]) -> _T:
    # Several processes opening a fresh file at once race to create it and switch it to WAL,
    # which can fail with "database is locked". Opening is rare, so wait it out.
    deadline = time.monotonic() + _OPEN_DEADLINE_S
    delay = 0.005
    while True:
        try:
            return open_()
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _connect_reader(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_READER_BUSY_S, isolation_level=None, check_same_thread=False)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if str(mode).lower() != "wal":
            # e.g. a network filesystem: still correct, but writers block readers there.
            _log.warning("llmp cache %s: SQLite refused WAL mode (got %r)", path, mode)
        conn.execute(_CREATE_SQL)
    except BaseException:
        conn.close()
        raise
    return conn


def _open_writer(path: Path) -> Any:
    # autocommit=True only for the worker's connection mode; set() bypasses SqliteDict.__setitem__,
    # which would block on a commit round trip after every write.
    db = SqliteDict(
        str(path),
        tablename=TABLE,
        autocommit=True,
        journal_mode="WAL",
        encode=_encode,
        decode=_decode,
        outer_stack=False,  # True captures a full stack on every queued statement
    )
    # Queued ahead of any write. NORMAL instead of sqlitedict's OFF: in WAL mode that costs no
    # fsync per commit but keeps the file intact through a power loss, not only a process kill.
    db.conn.execute(f"PRAGMA busy_timeout = {_WRITER_BUSY_MS}")
    db.conn.execute("PRAGMA synchronous = NORMAL")
    return db


class DiskCache:
    """A response cache in `<directory>/llmp-cache.sqlite`; thread-safe, shareable by processes."""

    def __init__(self, directory: Path | str | None = None) -> None:
        base = default_cache_dir() if directory is None else Path(directory).expanduser()
        base.mkdir(parents=True, exist_ok=True)
        self.path: Path = base / FILENAME
        self._closed = False
        self._bad_value_logged = False
        self._many_sql: dict[int, str] = {}
        self._db: Any = None
        self._reader: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None
        self._reset_locks()
        self._open()
        _LIVE.add(self)

    def _reset_locks(self) -> None:
        self._lock = threading.Lock()  # guards _pending
        self._read_lock = threading.Lock()  # one statement at a time on the reader connection
        self._open_lock = threading.Lock()
        self._pending: dict[str, _WriteDone] = {}

    def _open(self) -> None:
        reader = _retry_open(lambda: _connect_reader(self.path))
        try:
            self._db = _retry_open(lambda: _open_writer(self.path))
        except BaseException:
            reader.close()
            raise
        self._reader = reader
        self._cursor = reader.cursor()

    def _reopen(self) -> tuple[Any, sqlite3.Cursor]:
        with self._open_lock:
            if self._closed:
                raise RuntimeError(f"DiskCache({self.path}) is closed")
            if self._db is None or self._cursor is None:
                # Only reached in a forked child (see _forget_after_fork).
                self._open()
                _close_at_multiprocessing_exit()
            assert self._cursor is not None
            return self._db, self._cursor

    def _writer(self) -> Any:
        db = self._db
        return db if db is not None else self._reopen()[0]

    def _retrying(self, op: Callable[..., _T], *args: Any) -> _T:
        # sqlitedict re-raises an error from an earlier queued write at the next call, whatever
        # that call is; it is cleared once raised, so retrying runs this call normally.
        for attempt in range(_RETRIES):
            try:
                return op(*args)
            except sqlite3.OperationalError as exc:
                if attempt == _RETRIES - 1:
                    raise
                _log.warning("llmp cache %s: SQLite error (an earlier write may be lost): %s", self.path, exc)
        raise AssertionError("unreachable")

    @property
    def closed(self) -> bool:
        return self._closed

    def _decoded(self, raw: object) -> dict[str, Any] | None:
        try:
            return _decode(raw)
        except ValueError as exc:
            if not self._bad_value_logged:
                self._bad_value_logged = True
                _log.warning(
                    "llmp cache %s: ignoring an undecodable entry (treated as a miss): %s", self.path, exc
                )
            return None

    def get(self, key: str) -> dict[str, Any] | None:
        pending = self._pending.get(key)  # a single dict lookup is atomic; no lock needed
        if pending is not None:
            return _decode(pending.text)
        cursor = self._cursor or self._reopen()[1]
        try:
            with self._read_lock:
                rows = cursor.execute(_GET_SQL, (key,)).fetchall()  # fetchall ends the read transaction
        except sqlite3.OperationalError as exc:
            _log.warning("llmp cache %s: read failed, treating as a miss: %s", self.path, exc)
            return None
        return self._decoded(rows[0][0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The hits among keys, keyed by key; one SELECT per 500 keys."""
        found: dict[str, dict[str, Any]] = {}
        todo: Sequence[str] = keys
        if self._pending:
            pending = self._pending
            todo = []
            for key in keys:
                entry = pending.get(key)
                if entry is None:
                    todo.append(key)
                else:
                    found[key] = _decode(entry.text)
        if not todo:
            return found
        cursor = self._cursor or self._reopen()[1]
        decode = self._decoded
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            sql = self._many_sql.get(len(chunk)) or self._select_many_sql(len(chunk))
            try:
                with self._read_lock:
                    rows = cursor.execute(sql, chunk).fetchall()
            except sqlite3.OperationalError as exc:
                _log.warning("llmp cache %s: read failed, treating as misses: %s", self.path, exc)
                continue
            for key, raw in rows:
                value = decode(raw)
                if value is not None:
                    found[key] = value
        return found

    def _select_many_sql(self, n: int) -> str:
        sql = f'SELECT key, value FROM "{TABLE}" WHERE key IN ({",".join("?" * n)})'
        self._many_sql[n] = sql
        return sql

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store value (a JSON-serialisable dict); returns once queued, without waiting for SQLite."""
        done = _WriteDone(self._pending, self._lock, key, _encode(value))
        db = self._writer()
        with self._lock:
            self._pending[key] = done
        try:
            # The worker is handed `done` weakly as the statement's response queue (see _WriteDone).
            self._retrying(db.conn.execute, _PUT_SQL, (key, done.text), done)
        except BaseException:
            done.put(None)
            raise

    def flush(self) -> None:
        """Wait until every earlier set() is committed and visible to other processes."""
        self._retrying(self._writer().commit, True)

    def __len__(self) -> int:
        # Through the worker's queue, so writes still queued are counted.
        return int(self._retrying(len, self._writer()))

    def clear(self) -> None:
        db = self._writer()
        with self._lock:
            self._pending.clear()
        self._retrying(db.clear)

    def close(self) -> None:
        """Flush and release the file; idempotent. Further use raises RuntimeError."""
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            db, reader = self._db, self._reader
            self._db = self._reader = self._cursor = None
        _LIVE.discard(self)
        try:
            if db is not None:
                self._retrying(db.commit, True)
                db.close()
        finally:
            if reader is not None:
                with self._read_lock:  # not under another thread's running SELECT
                    reader.close()

    def _forget_after_fork(self) -> None:
        # In a forked child the parent's worker thread does not exist and SQLite forbids using a
        # connection across fork. Abandon both without closing them (closing could disturb the
        # parent's locks) and reopen on first use.
        _ABANDONED.extend(h for h in (self._db, self._reader) if h is not None)
        self._db = self._reader = self._cursor = None
        self._reset_locks()

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r})"


_LIVE: weakref.WeakSet[DiskCache] = weakref.WeakSet()
_ABANDONED: list[object] = []
_SHARED: dict[Path, DiskCache] = {}
_SHARED_LOCK = threading.Lock()
_MP_EXIT_HOOKED_PID: int | None = None


def shared_cache(directory: Path | str | None = None) -> DiskCache:
    """The process-wide DiskCache for a directory (default: `default_cache_dir()`)."""
    base = default_cache_dir() if directory is None else Path(directory).expanduser()
    base.mkdir(parents=True, exist_ok=True)
    resolved = base.resolve()
    with _SHARED_LOCK:
        cache = _SHARED.get(resolved)
        if cache is None or cache.closed:
            cache = _SHARED[resolved] = DiskCache(resolved)
        return cache


def _close_all() -> None:
    # At exit the worker is a daemon thread about to be killed: drain its queue first.
    for cache in list(_LIVE):
        try:
            cache.close()
        except Exception:
            _log.exception("llmp cache %s: could not flush at exit", cache.path)


def _close_at_multiprocessing_exit() -> None:
    # A forked multiprocessing worker leaves through os._exit, skipping atexit; its own exit
    # hook (multiprocessing.util finalizers) still runs, so flush there.
    global _MP_EXIT_HOOKED_PID
    if "multiprocessing" not in sys.modules or os.getpid() == _MP_EXIT_HOOKED_PID:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _close_all, exitpriority=10)
    _MP_EXIT_HOOKED_PID = os.getpid()


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for cache in list(_LIVE):
        cache._forget_after_fork()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def open_cache(spec: object) -> DiskCache | None:
    """`LLM(cache=...)`: True (the shared cache), False/None, a directory, or a `DiskCache`."""
    from llmp.errors import CacheError

    if spec is False or spec is None:
        return None
    if spec is True:
        return shared_cache()
    if isinstance(spec, DiskCache):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if "://" in text:
            raise CacheError(f"cache={text!r}: URL caches are not supported by this llmp; pass a directory")
        return shared_cache(Path(text))
    raise CacheError(
        f"cache must be True, False, a directory path or a cache object, got {type(spec).__name__}"
    )
