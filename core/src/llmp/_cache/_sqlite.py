"""The on-disk response cache: one SQLite file managed by sqlitedict, JSON values, many processes.

File: `<dir>/llmp-cache.sqlite` (schema, TTL and corrupt files: see `_sqlite_file`); every value is
a JSON object stored as text, so `SqliteDict(path, tablename="responses", decode=json.loads,
journal_mode="WAL")` reads the file too (without WAL there, sqlitedict would try to switch the
shared file out of WAL mode).

Writes go through sqlitedict's worker thread: `set()` serialises the value on the caller's thread
(so a non-JSON value fails at the call site) and queues the statement, never waiting for SQLite.
The worker's connection is in autocommit mode, so each write is its own small WAL transaction,
committed as soon as the worker reaches it: a crash loses only what is still queued, and the
cross-process write lock is held for microseconds, not for a batching interval.
`flush()` waits for the queue to drain.

Reads bypass the worker. A round trip through its queue costs ~250 us per `get` (a thread
hand-off each way), so reads use a separate connection on the caller's thread (~10 us); WAL
readers never wait for writers. The async methods call the same code directly: a thread hop
would cost more than the read. Writes (and deletes) still queued are served from an in-memory
map, so a process always reads its own writes; the worker drops each entry once its statement
has run.

An entry with a TTL is a miss once expired; the read that finds it queues its deletion, and every
open purges what has expired. Values that are not JSON objects (a pickle planted by another tool,
a truncated row) are misses and never unpickled; so are rows in damaged pages of the file (one
warning): the next successful call overwrites them, and `clear()` moves a damaged file aside.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlitedict

from llmp._cache._claims import LocalClaims, ReadyClaim
from llmp._cache._codec import check_ttl, decode, encode
from llmp._cache._protocol import DEFAULT_LEASE, CacheStats, Claim
from llmp._cache._sqlite_file import (
    FILENAME,
    TABLE,
    connect_reader,
    file_id,
    is_corrupt,
    open_writer,
    quarantine,
    retry_open,
    sidecar_files,
)
from llmp._paths import default_cache_dir
from llmp.errors import CacheError

__all__ = ["FILENAME", "LIVE", "TABLE", "DiskCache"]

_log = logging.getLogger("llmp.cache")
_T = TypeVar("_T")

# Keys per SELECT in get_many: well under SQLite's bound-parameter limit (999 before 3.32).
_CHUNK = 500
_RETRIES = 5
# What sqlitedict's worker puts after a statement's last row.
_NO_MORE = getattr(sqlitedict, "_RESPONSE_NO_MORE", "--no more--")

_GET_SQL = f'SELECT value, expires FROM "{TABLE}" WHERE key = ?'
_PUT_SQL = f'REPLACE INTO "{TABLE}" (key, value, expires) VALUES (?, ?, ?)'
_DELETE_SQL = f'DELETE FROM "{TABLE}" WHERE key = ?'
_DELETE_EXPIRED_SQL = f'DELETE FROM "{TABLE}" WHERE key = ? AND expires <= ?'
_PURGE_SQL = f'DELETE FROM "{TABLE}" WHERE expires IS NOT NULL AND expires <= ?'
_CLEAR_SQL = f'DELETE FROM "{TABLE}"'
_NOOP_SQL = "SELECT 1 WHERE 0"
_COUNT_SQL = f'SELECT COUNT(*) FROM "{TABLE}" WHERE expires IS NULL OR expires > ?'


class _WriteDone:
    """Stands in for sqlitedict's per-statement response queue for one queued write or delete.

    The worker calls `put()` after running the statement; the connection autocommits, so by then
    the row is readable from disk and the in-memory copy can go. Only the newest write of a key
    removes it. sqlitedict holds this object weakly, so the pending map keeps it alive.
    `text` None is a queued delete.
    """

    __slots__ = ("__weakref__", "_lock", "_pending", "expires", "key", "text")

    def __init__(
        self,
        pending: dict[str, _WriteDone],
        lock: threading.Lock,
        key: str,
        text: str | None,
        expires: float | None,
    ) -> None:
        self._pending = pending
        self._lock = lock
        self.key = key
        self.text = text
        self.expires = expires

    def put(self, _item: object) -> None:
        with self._lock:
            if self._pending.get(self.key) is self:
                del self._pending[self.key]


class _Ran:
    """A statement's response sink that says when the worker has run the statement."""

    __slots__ = ("__weakref__", "event")

    def __init__(self) -> None:
        self.event = threading.Event()

    def put(self, item: object) -> None:
        if item == _NO_MORE:
            self.event.set()


class DiskCache:
    """A response cache in `<directory>/llmp-cache.sqlite`; thread-safe, shareable by processes.

    `ttl`: the default lifetime in seconds of entries written without one (None: forever).
    """

    backend = "sqlite"

    def __init__(self, directory: Path | str | None = None, *, ttl: float | None = None) -> None:
        self.ttl = check_ttl(ttl)
        base = default_cache_dir() if directory is None else Path(directory).expanduser()
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot use {str(base)!r} as the cache directory ({exc}): pass cache=<a writable "
                "directory> (or set LLMP_CACHE_DIR), or cache=False"
            ) from exc
        self.path: Path = base / FILENAME
        self._closed = False
        self._warned: set[str] = set()
        self._many_sql: dict[int, str] = {}
        self._db: Any = None
        self._reader: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None
        self._claims = LocalClaims()
        self._reset_locks()
        self._open()
        LIVE.add(self)

    def _reset_locks(self) -> None:
        self._lock = threading.Lock()  # guards _pending
        self._read_lock = threading.Lock()  # one statement at a time on the reader connection
        self._open_lock = threading.Lock()
        self._pending: dict[str, _WriteDone] = {}

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> None:
        reader = retry_open(lambda: connect_reader(self.path))
        try:
            db = retry_open(lambda: open_writer(self.path, encode, decode))
        except BaseException:
            reader.close()
            raise
        self._reader, self._cursor, self._db = reader, reader.cursor(), db
        db.conn.execute(_PURGE_SQL, (time.time(),))  # queued: expired entries go in the background

    def _open(self) -> None:
        found = file_id(self.path)
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise CacheError(
                    f"cannot open the cache file {self.path} ({exc}): pass cache=<another directory> "
                    "(or set LLMP_CACHE_DIR), or cache=False"
                ) from exc
            quarantine(self.path, found, exc, self._connect)

    def _reopen(self) -> tuple[Any, sqlite3.Cursor]:
        with self._open_lock:
            if self._closed:
                raise RuntimeError(f"DiskCache({self.path}) is closed")
            if self._db is None or self._cursor is None:
                # Only reached in a forked child (see _forget_after_fork).
                self._open()
                from llmp._cache._shared import close_at_multiprocessing_exit

                close_at_multiprocessing_exit()
            assert self._cursor is not None
            return self._db, self._cursor

    def _writer(self) -> Any:
        db = self._db
        return db if db is not None else self._reopen()[0]

    # -- faults ------------------------------------------------------------------------------

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            _log.warning(message, *args)

    def _read_failed(self, exc: sqlite3.DatabaseError) -> None:
        if is_corrupt(exc):
            self._warn_once(
                "corrupt",
                "llmp cache %s is damaged (%s): entries in the damaged part are misses and writes "
                "there are dropped; `llmp cache clear --yes` moves the file aside for a fresh one",
                self.path,
                exc,
            )
        else:
            _log.warning("llmp cache %s: read failed, treating as a miss: %s", self.path, exc)

    def _write_failed(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc):
            self._read_failed(exc)
        else:
            _log.warning("llmp cache %s: SQLite error (a queued write may be lost): %s", self.path, exc)

    def _take_worker_error(self) -> BaseException | None:
        # sqlitedict keeps the error of a failed queued write and re-raises it (after logging it
        # as ERROR) at the next call, whatever that call is: take it first, and report it once.
        conn = getattr(self._db, "conn", None)
        info = getattr(conn, "exception", None)
        if not info:
            return None
        conn.exception = None  # type: ignore[union-attr]
        self._write_failed(info[1])
        return info[1]  # type: ignore[no-any-return]

    def _retrying(self, op: Callable[..., _T], *args: Any) -> _T:
        for attempt in range(_RETRIES):
            self._take_worker_error()
            try:
                return op(*args)
            except sqlite3.DatabaseError as exc:  # the worker failed a write in between
                if attempt == _RETRIES - 1:
                    raise
                self._write_failed(exc)
        raise AssertionError("unreachable")

    def _sync_point(
        self, db: Any, sql: str = _NOOP_SQL, timeout: float | None = None
    ) -> BaseException | None:
        """Queue sql and wait until the worker has run it, so every earlier write is committed
        (autocommit); returns the error of a write that failed meanwhile (reported), or None."""
        ran = _Ran()
        self._retrying(db.conn.execute, sql, None, ran)
        ran.event.wait(timeout)
        return self._take_worker_error()

    def quiesce_before_fork(self) -> None:
        # A child forked while the worker is inside SQLite inherits SQLite's process-wide
        # mutexes held by a thread that does not exist there, and hangs in its first connect:
        # let the worker go idle first (bounded: a fork must not wait on another process's lock).
        db = self._db
        if db is not None and not self._closed:
            with contextlib.suppress(Exception):
                self._sync_point(db, timeout=1.0)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- reads -------------------------------------------------------------------------------

    def _decoded(self, key: str, raw: object, expires: object) -> dict[str, Any] | None:
        if expires is not None and type(expires) is float and expires <= time.time():
            self._forget_expired(key)
            return None
        try:
            return decode(raw)
        except ValueError as exc:
            self._warn_once(
                "value",
                "llmp cache %s: ignoring an undecodable entry (treated as a miss): %s",
                self.path,
                exc,
            )
            return None

    def _forget_expired(self, key: str) -> None:
        db = self._db
        if db is not None:
            with contextlib.suppress(sqlite3.Error):  # best effort: the next purge gets it anyway
                db.conn.execute(_DELETE_EXPIRED_SQL, (key, time.time()))

    def _from_pending(self, entry: _WriteDone) -> dict[str, Any] | None:
        if entry.text is None or (entry.expires is not None and entry.expires <= time.time()):
            return None
        return decode(entry.text)

    def get(self, key: str) -> dict[str, Any] | None:
        pending = self._pending.get(key)  # a single dict lookup is atomic; no lock needed
        if pending is not None:
            return self._from_pending(pending)
        cursor = self._cursor or self._reopen()[1]
        try:
            with self._read_lock:
                rows = cursor.execute(_GET_SQL, (key,)).fetchall()  # fetchall ends the read transaction
        except sqlite3.DatabaseError as exc:
            self._read_failed(exc)
            return None
        return self._decoded(key, rows[0][0], rows[0][1]) if rows else None

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
                elif (value := self._from_pending(entry)) is not None:
                    found[key] = value
        if not todo:
            return found
        cursor = self._cursor or self._reopen()[1]
        decoded = self._decoded
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            sql = self._many_sql.get(len(chunk)) or self._select_many_sql(len(chunk))
            try:
                with self._read_lock:
                    rows = cursor.execute(sql, chunk).fetchall()
            except sqlite3.DatabaseError as exc:
                self._read_failed(exc)
                if is_corrupt(exc):  # one damaged page must not hide the chunk's other hits
                    found.update((k, v) for k in chunk if (v := self.get(k)) is not None)
                continue
            for key, raw, expires in rows:
                value = decoded(key, raw, expires)
                if value is not None:
                    found[key] = value
        return found

    def _select_many_sql(self, n: int) -> str:
        sql = f'SELECT key, value, expires FROM "{TABLE}" WHERE key IN ({",".join("?" * n)})'
        self._many_sql[n] = sql
        return sql

    async def aget(self, key: str) -> dict[str, Any] | None:
        return self.get(key)

    async def aget_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.get_many(keys)

    # -- writes ------------------------------------------------------------------------------

    def _queue(
        self, key: str, text: str | None, expires: float | None, sql: str, args: tuple[Any, ...]
    ) -> None:
        done = _WriteDone(self._pending, self._lock, key, text, expires)
        db = self._writer()
        with self._lock:
            self._pending[key] = done
        try:
            # The worker is handed `done` weakly as the statement's response queue (see _WriteDone).
            self._retrying(db.conn.execute, sql, args, done)
        except sqlite3.DatabaseError as exc:
            done.put(None)
            self._read_failed(exc)  # a cache fault never fails the caller
        except BaseException:
            done.put(None)
            raise

    def set(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        """Store value (a JSON object); returns once queued, without waiting for SQLite.

        `ttl`: seconds until the entry expires; None: the cache's default (`ttl=` of the cache)."""
        text = encode(value)
        seconds = self.ttl if ttl is None else check_ttl(ttl)
        expires = None if seconds is None else time.time() + seconds
        self._queue(key, text, expires, _PUT_SQL, (key, text, expires))

    async def aset(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        self.set(key, value, ttl=ttl)

    def delete(self, key: str) -> None:
        self._queue(key, None, None, _DELETE_SQL, (key,))

    def flush(self) -> None:
        """Wait until every earlier set() is committed and visible to other processes."""
        self._sync_point(self._writer())

    def __len__(self) -> int:
        """Live entries, counting writes still queued (flushed first)."""
        self.flush()
        cursor = self._cursor or self._reopen()[1]
        with self._read_lock:
            return int(cursor.execute(_COUNT_SQL, (time.time(),)).fetchone()[0])

    def stats(self) -> CacheStats:
        try:
            entries: int | None = len(self)
        except sqlite3.DatabaseError as exc:
            self._read_failed(exc)
            entries = None
        size = sum(p.stat().st_size for p in sidecar_files(self.path) if p.is_file())
        return CacheStats(self.backend, str(self.path), entries, size)

    def clear(self) -> None:
        """Delete every entry; a damaged file is moved aside and replaced by a fresh one."""
        db = self._writer()
        with self._lock:
            self._pending.clear()
        error = self._sync_point(db, _CLEAR_SQL) or self._sync_point(db)
        if error is not None and isinstance(error, sqlite3.DatabaseError) and is_corrupt(error):
            self._replace_damaged(error)

    def _replace_damaged(self, error: sqlite3.DatabaseError) -> None:
        with self._open_lock:
            broken = file_id(self.path)
            db, reader = self._db, self._reader
            self._db = self._reader = self._cursor = None
            self._close_handles(db, reader)
            quarantine(self.path, broken, error, self._connect)

    # -- in-flight claims --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def claim(self, key: str, *, lease: float = DEFAULT_LEASE) -> AsyncIterator[Claim]:
        """In-process de-duplication (see `Cache.claim`); `lease` has no use within one process,
        where the owner's block always ends."""
        async with self._claims.hold(key, self.aget) as local:
            if local.owner and (value := self.get(key)) is not None:
                yield ReadyClaim(value)  # answered between the caller's miss and this claim
            else:
                yield local

    # -- closing -----------------------------------------------------------------------------

    def _close_handles(self, db: Any, reader: sqlite3.Connection | None) -> None:
        try:
            if db is not None:
                self._sync_point(db)
                self._retrying(db.close)
        finally:
            if reader is not None:
                with self._read_lock:  # not under another thread's running SELECT
                    reader.close()

    def close(self) -> None:
        """Flush and release the file; idempotent. Further use raises RuntimeError."""
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            db, reader = self._db, self._reader
            self._db = self._reader = self._cursor = None
        LIVE.discard(self)
        self._close_handles(db, reader)

    async def aclose(self) -> None:
        self.close()

    def forget_after_fork(self) -> None:
        # In a forked child the parent's worker thread does not exist and SQLite forbids using a
        # connection across fork. Abandon both without closing them (closing could disturb the
        # parent's locks) and reopen on first use.
        ABANDONED.extend(h for h in (self._db, self._reader) if h is not None)
        self._db = self._reader = self._cursor = None
        self._claims = LocalClaims()
        self._reset_locks()

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r})"


LIVE: weakref.WeakSet[DiskCache] = weakref.WeakSet()
ABANDONED: list[object] = []
