"""The disk cache: keys, JSON round trips, read-your-writes, many processes, no pickle."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlitedict import SqliteDict

from llmp._cache import FILENAME, TABLE, DiskCache, cache_key, default_cache_dir, shared_cache

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DiskCache]:
    c = DiskCache(tmp_path)
    yield c
    c.close()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- keys -------------------------------------------------------------------------------------


def test_cache_key_is_sha256_of_canonical_json() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 1}
    canonical = '{"messages":[{"content":"hi","role":"user"}],"model":"m","n":1}'
    assert cache_key(payload) == hashlib.sha256(canonical.encode()).hexdigest()


def test_cache_key_ignores_dict_order_at_every_depth() -> None:
    a = {
        "model": "m",
        "params": {"temperature": 0.5, "top_p": 1},
        "messages": [{"role": "u", "content": "x"}],
    }
    b = {
        "messages": [{"content": "x", "role": "u"}],
        "params": {"top_p": 1, "temperature": 0.5},
        "model": "m",
    }
    assert cache_key(a) == cache_key(b)


@pytest.mark.parametrize(
    "other",
    [
        {"model": "m", "messages": ["hi"], "n": 2},
        {"model": "m2", "messages": ["hi"], "n": 1},
        {"model": "m", "messages": ["hi "], "n": 1},
        {"model": "m", "messages": ["hi"], "n": 1.5},
        {"model": "m", "messages": ["hi"]},
    ],
)
def test_cache_key_differs_for_different_payloads(other: dict[str, Any]) -> None:
    assert cache_key({"model": "m", "messages": ["hi"], "n": 1}) != cache_key(other)


def test_cache_key_unicode_is_hashed_unescaped() -> None:
    payload = {"content": "héllo 世界 🎉"}
    assert cache_key(payload) == hashlib.sha256('{"content":"héllo 世界 🎉"}'.encode()).hexdigest()
    assert cache_key(payload) != cache_key({"content": "hello"})
    # A lone surrogate is a legal str (e.g. from a JSON "\ud800" escape) and must still hash.
    assert len(cache_key({"content": "\ud800"})) == 64


# -- single process -----------------------------------------------------------------------------


def test_round_trip_before_and_after_flush_and_reopen(cache: DiskCache, tmp_path: Path) -> None:
    value = {"text": "answer", "usage": {"input": 3, "output": 5}, "cost": None, "choices": [1.5, True]}
    assert cache.get("k") is None
    cache.set("k", value)
    assert cache.get("k") == value  # read-your-writes while the write may still be queued
    cache.flush()
    assert cache.get("k") == value
    cache.close()
    reopened = DiskCache(tmp_path)
    try:
        assert reopened.get("k") == value
        assert reopened.path == tmp_path / FILENAME
    finally:
        reopened.close()


def test_get_returns_a_fresh_copy(cache: DiskCache) -> None:
    value = {"list": [1, 2]}
    cache.set("k", value)
    value["list"].append(3)  # the caller mutating its dict must not change the cached value
    got = cache.get("k")
    assert got == {"list": [1, 2]}
    assert got is not None
    got["list"].append(4)
    assert cache.get("k") == {"list": [1, 2]}


def test_overwrite_keeps_the_last_value(cache: DiskCache) -> None:
    for i in range(50):
        cache.set("k", {"i": i})
    assert cache.get("k") == {"i": 49}
    cache.flush()
    assert cache.get("k") == {"i": 49}
    assert len(cache) == 1


def test_unicode_value_round_trip(cache: DiskCache, tmp_path: Path) -> None:
    value = {"text": "héllo 世界 🎉 \u0000 \ud800", "nested": {"ключ": ["значение"]}}
    key = cache_key({"content": "世界"})
    cache.set(key, value)
    cache.flush()
    other = DiskCache(tmp_path)
    try:
        assert other.get(key) == value
    finally:
        other.close()


def test_set_rejects_values_that_are_not_json(cache: DiskCache) -> None:
    with pytest.raises(TypeError):
        cache.set("k", {"obj": object()})
    assert cache.get("k") is None


def test_get_many_mixes_hits_and_misses_across_chunks(cache: DiskCache) -> None:
    stored = {f"hit-{i}": {"i": i} for i in range(1200)}
    for key, value in list(stored.items())[:700]:
        cache.set(key, value)
    cache.flush()
    for key, value in list(stored.items())[700:]:
        cache.set(key, value)  # some still pending, served from memory
    keys = [k for i in range(1200) for k in (f"hit-{i}", f"miss-{i}")]
    assert cache.get_many(keys) == stored
    cache.flush()
    assert cache.get_many(keys) == stored
    assert cache.get_many([]) == {}
    assert cache.get_many(("miss-1", "hit-3", "hit-3")) == {"hit-3": {"i": 3}}


def test_len_and_clear(cache: DiskCache) -> None:
    for i in range(10):
        cache.set(str(i), {"i": i})
    assert len(cache) == 10  # counts writes still queued
    cache.clear()
    assert len(cache) == 0
    assert cache.get("3") is None
    assert cache.get_many([str(i) for i in range(10)]) == {}
    cache.set("3", {"again": True})
    assert cache.get("3") == {"again": True}


def test_close_is_idempotent_and_flushes(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.set("k", {"v": 1})
    cache.close()
    cache.close()
    assert cache.closed
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("k")
    with pytest.raises(RuntimeError, match="closed"):
        cache.set("k", {"v": 2})
    assert json.loads(_raw(tmp_path / FILENAME).execute(f"SELECT value FROM {TABLE}").fetchone()[0]) == {
        "v": 1
    }


def test_set_does_not_wait_for_a_locked_database(cache: DiskCache, tmp_path: Path) -> None:
    """Another connection holds the write lock: set() must still return and be readable."""
    blocker = _raw(tmp_path / FILENAME)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute(f"INSERT INTO {TABLE} (key, value) VALUES ('other', '{{}}')")

    def write() -> None:
        for i in range(100):
            cache.set(f"k{i}", {"i": i})

    try:
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive(), "set() blocked behind another connection's write lock"
        outside = _raw(tmp_path / FILENAME)
        assert outside.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone() == (0,)  # nothing written yet
        outside.close()
        assert cache.get("k99") == {"i": 99}
        assert cache.get_many(["k0", "k1"]) == {"k0": {"i": 0}, "k1": {"i": 1}}
    finally:
        blocker.execute("COMMIT")
    cache.flush()
    assert blocker.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0] == 101
    blocker.close()


def test_an_earlier_failed_write_does_not_surface_to_the_caller(cache: DiskCache) -> None:
    # sqlitedict re-raises a failure of an earlier queued write at the next call; plant one.
    try:
        raise sqlite3.OperationalError("database is locked")
    except sqlite3.OperationalError as exc:
        cache._db.conn.exception = (type(exc), exc, exc.__traceback__)
    cache.set("k", {"v": 1})
    cache.flush()
    assert cache.get("k") == {"v": 1}


def test_threads_share_one_cache(cache: DiskCache) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(200):
                cache.set(f"{t}-{i}", {"t": t, "i": i})
                assert cache.get(f"{t}-{i}") == {"t": t, "i": i}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    cache.flush()
    assert len(cache.get_many([f"{t}-{i}" for t in range(4) for i in range(200)])) == 800


# -- JSON, never pickle -------------------------------------------------------------------------


def _touch(path: str) -> None:
    Path(path).touch()


class _Booby:
    """Unpickling this runs _touch: proof that a planted pickle was (not) loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (_touch, (str(self.marker),))


def test_values_are_stored_as_json_text(cache: DiskCache, tmp_path: Path) -> None:
    cache.set("k", {"text": "é", "n": 1})
    cache.flush()
    kind, raw = _raw(tmp_path / FILENAME).execute(f"SELECT typeof(value), value FROM {TABLE}").fetchone()
    assert kind == "text"
    assert json.loads(raw) == {"text": "é", "n": 1}
    assert not raw.startswith("\x80")  # not a pickle stream
    # The file is a plain sqlitedict table: other tools can read it with a JSON decoder. (WAL,
    # because sqlitedict otherwise tries to switch the open file back to rollback journaling.)
    path = str(tmp_path / FILENAME)
    with SqliteDict(path, tablename=TABLE, decode=json.loads, flag="r", journal_mode="WAL") as db:
        assert db["k"] == {"text": "é", "n": 1}


def test_planted_pickle_is_never_unpickled_and_reads_as_a_miss(cache: DiskCache, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    conn = _raw(tmp_path / FILENAME)
    conn.execute(f"INSERT INTO {TABLE} (key, value) VALUES (?, ?)", ("evil", pickle.dumps(_Booby(marker))))
    conn.execute(f"INSERT INTO {TABLE} (key, value) VALUES (?, ?)", ("pickled-dict", pickle.dumps({"a": 1})))
    conn.execute(f"INSERT INTO {TABLE} (key, value) VALUES (?, ?)", ("not-json", "{truncated"))
    conn.execute(f"INSERT INTO {TABLE} (key, value) VALUES (?, ?)", ("json-list", "[1, 2]"))
    conn.close()
    cache.set("good", {"ok": True})
    cache.flush()
    bad = ["evil", "pickled-dict", "not-json", "json-list"]
    for key in bad:
        assert cache.get(key) is None
    assert cache.get_many([*bad, "good"]) == {"good": {"ok": True}}
    with pytest.raises(ValueError, match="not JSON text"):
        cache._db["evil"]  # sqlitedict's own decode path refuses too
    assert not marker.exists()
    cache.set("evil", {"fixed": True})  # the next real answer overwrites the bad row
    assert cache.get("evil") == {"fixed": True}


# -- sharing between objects and processes -------------------------------------------------------


def test_two_caches_on_one_directory_see_each_others_flushed_writes(tmp_path: Path) -> None:
    a, b = DiskCache(tmp_path), DiskCache(str(tmp_path))
    try:
        a.set("from-a", {"v": "a"})
        b.set("from-b", {"v": "b"})
        a.flush()
        b.flush()
        assert b.get("from-a") == {"v": "a"}
        assert a.get_many(["from-a", "from-b"]) == {"from-a": {"v": "a"}, "from-b": {"v": "b"}}
    finally:
        a.close()
        b.close()


def test_shared_cache_is_one_instance_per_resolved_directory(tmp_path: Path) -> None:
    first = shared_cache(tmp_path / "c")
    other = shared_cache(tmp_path / "d")
    direct = DiskCache(tmp_path / "c")
    try:
        assert shared_cache(str(tmp_path / "c")) is first
        assert shared_cache(tmp_path / "x" / ".." / "c") is first
        assert other is not first
        first.set("k", {"v": 1})
        first.flush()
        assert direct.get("k") == {"v": 1}
        first.close()
        replacement = shared_cache(tmp_path / "c")  # a closed instance is replaced, not reused
        assert replacement is not first
        assert replacement.get("k") == {"v": 1}
        replacement.close()
    finally:
        for c in (first, other, direct):
            c.close()


def test_shared_cache_is_thread_safe(tmp_path: Path) -> None:
    results: list[DiskCache] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        results.append(shared_cache(tmp_path))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 8
    assert all(r is results[0] for r in results)
    results[0].close()


# Child processes run these sources through `exec` so that they import only llmp, not this
# module: importing pytest costs ~0.5 s per child, which would dominate the test.
_WRITER_SRC = """
from llmp._cache import DiskCache
cache = DiskCache(directory)
barrier.wait()  # all processes write at the same time
for i in range(n):
    cache.set(f"{worker}-{i}", {"worker": worker, "i": i, "pad": "x" * 200})
    if i % 20 == 0:
        cache.get(f"{(worker + 1) % 8}-{i}")  # read while the others write
mine = cache.get_many([f"{worker}-{i}" for i in range(n)])
if len(mine) != n:
    raise SystemExit(f"worker {worker} read back {len(mine)} of {n}")
cache.flush()
cache.close()
"""


def test_eight_processes_write_and_read_one_file(tmp_path: Path) -> None:
    n = 300
    barrier = SPAWN.Barrier(8)
    procs = [
        SPAWN.Process(
            target=exec,
            args=(_WRITER_SRC, {"directory": str(tmp_path), "worker": w, "n": n, "barrier": barrier}),
        )
        for w in range(8)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=90)
    assert [p.exitcode for p in procs] == [0] * 8
    cache = DiskCache(tmp_path)
    try:
        got = cache.get_many([f"{w}-{i}" for w in range(8) for i in range(n)])
        assert len(got) == 8 * n
        assert got["5-299"] == {"worker": 5, "i": 299, "pad": "x" * 200}
    finally:
        cache.close()
    assert _raw(tmp_path / FILENAME).execute("PRAGMA integrity_check").fetchone() == ("ok",)


_WRITE_FOREVER_SRC = """
from llmp._cache import DiskCache
cache = DiskCache(directory)
for i in range(100):
    cache.set(f"durable-{i}", {"i": i})
cache.flush()
flushed.set()
i = 0
while True:  # killed by the test mid-write
    cache.set(f"volatile-{i}", {"i": i, "pad": "y" * 1000})
    i += 1
"""


def test_kill_9_mid_write_leaves_a_sound_file(tmp_path: Path) -> None:
    flushed = SPAWN.Event()
    proc = SPAWN.Process(
        target=exec, args=(_WRITE_FOREVER_SRC, {"directory": str(tmp_path), "flushed": flushed})
    )
    proc.start()
    try:
        assert flushed.wait(timeout=60)
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    cache = DiskCache(tmp_path)
    try:
        assert len(cache.get_many([f"durable-{i}" for i in range(100)])) == 100
    finally:
        cache.close()
    assert _raw(tmp_path / FILENAME).execute("PRAGMA integrity_check").fetchone() == ("ok",)


FORK_SCRIPT = """
import multiprocessing, os, sys
from llmp._cache import DiskCache

def child(cache):
    cache.set("from-child", {"pid": os.getpid()})  # no flush: the child's exit must flush it

cache = DiskCache(sys.argv[1])
cache.set("before-fork", {"v": 1})
proc = multiprocessing.get_context("fork").Process(target=child, args=(cache,))
proc.start()
proc.join(timeout=60)
assert proc.exitcode == 0, proc.exitcode
got = cache.get("from-child")
assert got is not None and got["pid"] == proc.pid, got
assert cache.get("before-fork") == {"v": 1}
print("fork ok")
"""


def test_forked_child_reopens_and_flushes_at_exit(tmp_path: Path) -> None:
    # In a fresh interpreter: forking the test process itself, which runs other tests' threads
    # (servers, event loops), could copy a lock held mid-operation into the child and hang it,
    # a hazard of fork in any threaded program that says nothing about the cache.
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "fork ok" in out.stdout, out.stderr[-2000:]


# -- where the cache lives ---------------------------------------------------------------------


def test_cache_dir_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "llmp"))
    monkeypatch.setenv("LLM_CACHE_DIR", str(tmp_path / "llm"))
    assert default_cache_dir() == tmp_path / "llmp"
    assert (tmp_path / "llmp").is_dir()
    monkeypatch.setenv("LLMP_CACHE_DIR", "")  # empty counts as unset
    assert default_cache_dir() == tmp_path / "llm"
    monkeypatch.delenv("LLMP_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "llm"
    monkeypatch.delenv("LLM_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "llmp"
    assert (tmp_path / "home" / ".cache" / "llmp").is_dir()
    monkeypatch.setenv("LLM_CACHE_DIR", "~/elsewhere")
    assert default_cache_dir() == tmp_path / "home" / "elsewhere"


def test_default_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "env"))
    cache = DiskCache()
    shared = shared_cache()
    try:
        assert cache.path == tmp_path / "env" / FILENAME
        assert shared.path == (tmp_path / "env").resolve() / FILENAME
    finally:
        cache.close()
        shared.close()


def test_unflushed_writes_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from llmp._cache import DiskCache\n"
        "c = DiskCache(sys.argv[1])\n"
        "for i in range(500):\n"
        "    c.set(f'k{i}', {'i': i})\n"
        # no flush, no close: the atexit hook has to drain the background queue
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=60)
    rows = _raw(tmp_path / FILENAME).execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()
    assert rows == (500,)
