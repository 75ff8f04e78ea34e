"""TTL in the SQLite cache: expired entries are misses and go away; old files read unchanged."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlitedict import SqliteDict

from llmp._cache import FILENAME, TABLE, DiskCache, shared_cache
from llmp.errors import ConfigurationError


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DiskCache]:
    c = DiskCache(tmp_path)
    yield c
    c.close()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _rows(path: Path) -> dict[str, float | None]:
    with _raw(path) as conn:
        return dict(conn.execute(f"SELECT key, expires FROM {TABLE}").fetchall())


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


def test_an_entry_expires_after_its_ttl(cache: DiskCache, tmp_path: Path) -> None:
    before = time.time()
    cache.set("short", {"v": 1}, ttl=0.2)
    cache.set("forever", {"v": 2})
    assert cache.get("short") == {"v": 1}  # still queued: served from memory, TTL applies there too
    cache.flush()
    expires = _rows(tmp_path / FILENAME)
    assert expires["forever"] is None
    assert before + 0.2 <= (expires["short"] or 0) <= time.time() + 0.2
    _wait_until(lambda: cache.get("short") is None)
    assert cache.get_many(["short", "forever"]) == {"forever": {"v": 2}}
    assert len(cache) == 1  # expired entries are not counted


def test_an_expired_read_deletes_the_row(cache: DiskCache, tmp_path: Path) -> None:
    with _raw(tmp_path / FILENAME) as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (key, value, expires) VALUES ('old', '{{\"v\": 1}}', ?)", (time.time() - 1,)
        )
    assert cache.get("old") is None
    cache.flush()
    assert "old" not in _rows(tmp_path / FILENAME)


def test_opening_purges_expired_entries(tmp_path: Path) -> None:
    DiskCache(tmp_path).close()
    with _raw(tmp_path / FILENAME) as conn:
        for i in range(20):
            expires = time.time() + (-10 if i % 2 else 3600)
            conn.execute(
                f"INSERT INTO {TABLE} (key, value, expires) VALUES (?, '{{}}', ?)", (f"k{i}", expires)
            )
    cache = DiskCache(tmp_path)  # nobody reads the expired ones: the open removes them
    try:
        cache.flush()
        assert sorted(_rows(tmp_path / FILENAME)) == sorted(f"k{i}" for i in range(0, 20, 2))
    finally:
        cache.close()


def test_a_fresh_write_is_not_deleted_by_a_late_expiry_cleanup(cache: DiskCache, tmp_path: Path) -> None:
    with _raw(tmp_path / FILENAME) as conn:
        conn.execute(f"INSERT INTO {TABLE} (key, value, expires) VALUES ('k', '{{}}', ?)", (time.time() - 1,))
    assert cache.get("k") is None  # queues the conditional delete of the expired row
    cache.set("k", {"new": True})  # queued after it: the delete must not remove this one
    cache.flush()
    assert cache.get("k") == {"new": True}
    assert _rows(tmp_path / FILENAME) == {"k": None}


def test_the_cache_default_ttl_and_a_per_entry_ttl(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, ttl=3600)
    try:
        now = time.time()
        cache.set("default", {"v": 1})
        cache.set("own", {"v": 2}, ttl=60)
        cache.flush()
        rows = _rows(tmp_path / FILENAME)
        assert now + 3590 < (rows["default"] or 0) < now + 3610
        assert now + 50 < (rows["own"] or 0) < now + 70
    finally:
        cache.close()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "60", True])
def test_a_bad_ttl_is_a_typed_error_naming_it(cache: DiskCache, tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="ttl must be a positive number of seconds"):
        cache.set("k", {"v": 1}, ttl=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ttl"):
        DiskCache(tmp_path, ttl=bad)  # type: ignore[arg-type]
    assert cache.get("k") is None


def test_shared_caches_with_different_default_ttls_are_distinct(tmp_path: Path) -> None:
    plain, short = shared_cache(tmp_path), shared_cache(tmp_path, ttl=5)
    try:
        assert plain is shared_cache(tmp_path)
        assert short is shared_cache(tmp_path, ttl=5.0)
        assert plain is not short
        assert (short.ttl, plain.ttl) == (5.0, None)
    finally:
        plain.close()
        short.close()


def test_delete_removes_an_entry_even_while_its_write_is_queued(cache: DiskCache) -> None:
    cache.set("k", {"v": 1})
    cache.delete("k")
    assert cache.get("k") is None
    assert cache.get_many(["k"]) == {}
    cache.flush()
    assert cache.get("k") is None
    cache.delete("never-there")  # not an error


# -- files written by llmp before the TTL column ----------------------------------------------


def _old_format_file(directory: Path) -> Path:
    """Exactly what the cache wrote before TTLs: sqlitedict's two-column table, WAL mode."""
    path = directory / FILENAME
    conn = _raw(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB)')
    for i in range(50):
        conn.execute(f"INSERT INTO {TABLE} VALUES (?, ?)", (f"k{i}", json.dumps({"i": i})))
    conn.close()
    return path


def test_an_old_cache_file_reads_and_its_entries_never_expire(tmp_path: Path) -> None:
    path = _old_format_file(tmp_path)
    with _raw(path) as conn:
        before = conn.execute(f"SELECT key, value FROM {TABLE} ORDER BY key").fetchall()
    cache = DiskCache(tmp_path)
    try:
        assert cache.get("k7") == {"i": 7}
        assert len(cache.get_many([f"k{i}" for i in range(50)])) == 50
        cache.set("new", {"ttl": True}, ttl=60)
        cache.flush()
    finally:
        cache.close()
    with _raw(path) as conn:
        after = conn.execute(f"SELECT key, value FROM {TABLE} WHERE key != 'new' ORDER BY key").fetchall()
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")]
        never = conn.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE expires IS NULL").fetchone()[0]
    assert after == before  # existing rows untouched
    assert columns == ["key", "value", "expires"]
    assert never == 50
    # sqlitedict (and so an older llmp) still reads the upgraded file.
    with SqliteDict(str(path), tablename=TABLE, decode=json.loads, flag="r", journal_mode="WAL") as db:
        assert db["k3"] == {"i": 3}
        assert db["new"] == {"ttl": True}


def test_two_caches_upgrading_one_old_file_at_once(tmp_path: Path) -> None:
    _old_format_file(tmp_path)
    first, second = DiskCache(tmp_path), DiskCache(tmp_path)  # the second finds the column added
    try:
        assert first.get("k1") == second.get("k1") == {"i": 1}
    finally:
        first.close()
        second.close()
