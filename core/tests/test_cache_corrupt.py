"""A damaged cache file never blocks llmp nor fails a prompt (issue 15, item 15).

Every file here is really damaged (truncated, a garbage header, garbage pages in the middle) and
opened through SQLite, as a user's broken `llmp-cache.sqlite` would be.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import sqlite3
from pathlib import Path

import pytest

from llmp._cache import FILENAME, DiskCache, open_cache
from llmp.errors import CacheError

SPAWN = multiprocessing.get_context("spawn")
N = 3000


def _filled(directory: Path) -> Path:
    cache = DiskCache(directory)
    for i in range(N):
        cache.set(f"k{i}", {"text": "x" * 300, "i": i})
    cache.close()  # checkpoints the WAL into the file
    path = directory / FILENAME
    for suffix in ("-wal", "-shm"):
        (directory / (FILENAME + suffix)).unlink(missing_ok=True)
    return path


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(15)
    if how == "truncated-to-1000-bytes":
        data = data[:1000]
    elif how == "truncated-to-half":
        data = data[: len(data) // 2]
    elif how == "garbage-header":
        data[:100] = rng.randbytes(100)
    elif how == "all-garbage":
        data = bytearray(rng.randbytes(len(data)))
    else:
        raise AssertionError(how)
    path.write_bytes(bytes(data))


def _aside(directory: Path) -> list[Path]:
    """The database files moved aside (without their -wal/-shm companions)."""
    moved = directory.glob(FILENAME + ".corrupt-*")
    return sorted(p for p in moved if not p.name.endswith(("-wal", "-shm")))


@pytest.mark.parametrize(
    "how", ["truncated-to-1000-bytes", "truncated-to-half", "garbage-header", "all-garbage"]
)
def test_a_broken_file_is_moved_aside_with_a_warning_and_a_fresh_one_works(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _filled(tmp_path)
    _damage(path, how)
    broken = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="llmp.cache"):
        cache = open_cache(tmp_path)  # what LLM(cache=dir) calls: raised sqlite3.DatabaseError before
    assert isinstance(cache, DiskCache)
    try:
        (aside,) = _aside(tmp_path)
        assert aside.read_bytes() == broken  # kept for the user, not deleted
        (record,) = [r for r in caplog.records if r.name == "llmp.cache"]
        assert str(path) in record.getMessage()
        assert str(aside) in record.getMessage()
        assert "corrupt" in record.getMessage()
        assert cache.get("k1") is None  # a miss, not an error
        cache.set("k1", {"fresh": True})
        cache.flush()
        assert cache.get("k1") == {"fresh": True}
    finally:
        cache.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _damage_middle_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(15)
    page = 4096
    for offset in range(8 * page, len(data) - 8 * page, 16 * page):  # schema page 1 stays intact
        data[offset : offset + page] = rng.randbytes(page)
    path.write_bytes(bytes(data))


def test_garbage_pages_inside_the_file_are_misses_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _filled(tmp_path)
    _damage_middle_pages(path)
    with caplog.at_level(logging.WARNING):
        cache = DiskCache(tmp_path)  # opens: the damage is not where opening looks
        try:
            assert _aside(tmp_path) == []
            singles = {i: cache.get(f"k{i}") for i in range(N)}  # failed every prompt before
            many = cache.get_many([f"k{i}" for i in range(N)])
            for i in range(200):
                cache.set(f"new{i}", {"i": i})
            cache.flush()
            assert sum(cache.get(f"new{i}") is not None for i in range(200)) >= 1
        finally:
            cache.close()
    hits = {i for i, v in singles.items() if v is not None}
    assert 0 < len(hits) < N  # the intact pages still serve their entries...
    assert set(many) == {f"k{i}" for i in hits}  # ...through get_many too, one bad page aside
    assert all(singles[i] == {"text": "x" * 300, "i": i} for i in hits)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one warning, no sqlitedict spew
    assert str(path) in warnings[0].getMessage()
    assert "llmp cache clear" in warnings[0].getMessage()


def test_clear_moves_a_damaged_file_aside_and_starts_fresh(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    _damage_middle_pages(path)
    cache = DiskCache(tmp_path)
    try:
        cache.clear()
        (aside,) = _aside(tmp_path)
        assert aside.stat().st_size > 0
        assert len(cache) == 0
        cache.set("k", {"v": 1})
        cache.flush()
        assert cache.get("k") == {"v": 1}
    finally:
        cache.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_cache_file_that_cannot_be_opened_is_a_typed_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / FILENAME).mkdir()  # something that is no SQLite file and cannot be moved into one
    with pytest.raises(CacheError) as info:
        DiskCache(tmp_path)
    message = str(info.value)
    assert str(tmp_path / FILENAME) in message
    assert "cache=False" in message
    assert "LLMP_CACHE_DIR" in message


_OPENER_SRC = """
from llmp._cache import DiskCache
barrier.wait()
cache = DiskCache(directory)
cache.set(f"from-{worker}", {"worker": worker})
cache.flush()
cache.close()
"""


def test_four_processes_opening_one_broken_file_move_it_aside_once(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    _damage(path, "garbage-header")
    barrier = SPAWN.Barrier(4)
    procs = [
        SPAWN.Process(
            target=exec, args=(_OPENER_SRC, {"directory": str(tmp_path), "worker": w, "barrier": barrier})
        )
        for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=90)
    assert [p.exitcode for p in procs] == [0] * 4
    assert len(_aside(tmp_path)) == 1  # nobody moved another process's fresh file aside
    cache = DiskCache(tmp_path)
    try:
        assert cache.get_many([f"from-{w}" for w in range(4)]) == {
            f"from-{w}": {"worker": w} for w in range(4)
        }
    finally:
        cache.close()
    assert os.path.getsize(path) > 0
