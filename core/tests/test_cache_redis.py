"""The Redis cache against a real redis-server: same values as SQLite, TTL, pipelined lookups,
event loops, Redis going away mid-job, and bad URLs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmp._cache import DiskCache, RedisCache, cache_key, open_cache
from llmp.errors import CacheError
from llmp.testing._redis import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def cache(redis_server: RedisServer) -> Iterator[RedisCache]:
    c = RedisCache(redis_server.url)
    yield c
    c.close()


def _clients(server: RedisServer) -> int:
    info = server.command("INFO", "clients").decode()
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("connected_clients")))


def _raw_get(server: RedisServer, name: str) -> bytes:
    reply = server.command("GET", name)
    assert reply.startswith(b"$"), reply
    header, _, rest = reply.partition(b"\r\n")
    return rest[: int(header[1:])]


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


def test_round_trip_sync_and_async(cache: RedisCache) -> None:
    value = {"texts": ["héllo 世界 🎉 \u0000 \ud800"], "usage": {"input_tokens": 3}}
    key = cache_key({"content": "世界"})
    cache.set(key, value)
    assert cache.get(key) == value
    assert cache.get("missing") is None

    async def main() -> None:
        assert await cache.aget(key) == value
        await cache.aset("k2", {"v": 2})
        assert await cache.aget("k2") == {"v": 2}
        assert await cache.aget("missing") is None

    asyncio.run(main())
    cache.delete(key)
    assert cache.get(key) is None


def test_the_stored_value_is_the_sqlite_cache_text(
    cache: RedisCache, redis_server: RedisServer, tmp_path: Path
) -> None:
    value = {"texts": ["é \ud800"], "finish_reasons": ["stop"], "usage": {"output_tokens": 1}}
    disk = DiskCache(tmp_path)
    try:
        disk.set("k", value)
        disk.flush()
        row = disk._reader.execute("SELECT value FROM responses WHERE key = 'k'").fetchone()[0]  # type: ignore[union-attr]
    finally:
        disk.close()
    cache.set("k", value)
    raw = _raw_get(redis_server, "llmp:cache:k")
    assert raw.decode("ascii") == row  # byte for byte what SQLite stores: JSON text, not pickle
    assert json.loads(raw) == value


def test_a_planted_non_json_value_is_a_miss(cache: RedisCache, redis_server: RedisServer) -> None:
    redis_server.command("SET", "llmp:cache:bad", b"\x80\x04\x95pickle")
    redis_server.command("SET", "llmp:cache:list", "[1, 2]")
    assert cache.get("bad") is None
    assert cache.get_many(["bad", "list"]) == {}


def test_ttl_is_a_redis_expiry(cache: RedisCache, redis_server: RedisServer) -> None:
    cache.set("short", {"v": 1}, ttl=0.3)
    cache.set("forever", {"v": 2})
    pttl = int(redis_server.command("PTTL", "llmp:cache:short")[1:].split(b"\r\n")[0])
    assert 0 < pttl <= 300
    assert redis_server.command("PTTL", "llmp:cache:forever").startswith(b":-1")
    _wait_until(lambda: cache.get("short") is None)
    assert cache.get("forever") == {"v": 2}
    with_default = RedisCache(redis_server.url, ttl=60)
    try:
        with_default.set("d", {"v": 3})
        assert 59_000 < int(redis_server.command("PTTL", "llmp:cache:d")[1:].split(b"\r\n")[0]) <= 60_000
    finally:
        with_default.close()


def test_aget_many_mixes_hits_and_misses_across_chunks(cache: RedisCache) -> None:
    stored = {f"hit-{i}": {"i": i} for i in range(2500)}
    for key, value in stored.items():
        cache.set(key, value)
    keys = [k for i in range(2500) for k in (f"hit-{i}", f"miss-{i}")]  # 5,000: several MGETs

    async def main() -> None:
        assert await cache.aget_many(keys) == stored
        assert await cache.aget_many(keys[:10]) == {f"hit-{i}": {"i": i} for i in range(5)}
        assert await cache.aget_many([]) == {}

    asyncio.run(main())
    assert cache.get_many(keys) == stored


def test_hundreds_of_lookups_in_flight_wait_for_a_connection(cache: RedisCache) -> None:
    # A job's window of 500 prompts awaiting aget at once: redis-py's default pool raised
    # "Too many connections" past its limit, which read as an outage (all misses).
    for i in range(500):
        cache.set(f"k{i}", {"i": i})

    async def main() -> list[object]:
        return await asyncio.gather(*(cache.aget(f"k{i}") for i in range(500)))

    assert asyncio.run(main()) == [{"i": i} for i in range(500)]
    assert not cache.health.down
    assert cache.health.failures == 0


def test_clear_and_stats_touch_only_llmp_keys(cache: RedisCache, redis_server: RedisServer) -> None:
    redis_server.command("SET", "someone-else", "keep me")
    for i in range(1500):
        cache.set(f"k{i}", {"i": i})
    stats = cache.stats()
    assert (stats.backend, stats.entries, stats.size_bytes) == ("redis", 1500, None)
    cache.clear()
    assert cache.stats().entries == 0
    assert _raw_get(redis_server, "someone-else") == b"keep me"


def test_repeated_asyncio_run_does_not_leak_connections(cache: RedisCache, redis_server: RedisServer) -> None:
    async def once(i: int) -> None:
        await cache.aset(f"k{i}", {"i": i})
        assert await cache.aget(f"k{i}") == {"i": i}

    asyncio.run(once(0))
    baseline = _clients(redis_server)
    for i in range(40):
        asyncio.run(once(i))
    assert _clients(redis_server) <= baseline  # each loop's client closed when its loop shut down
    assert len(cache._clients) == 0


def test_several_loops_at_once_each_get_their_own_client(cache: RedisCache) -> None:
    cache.set("shared", {"v": 1})
    results: list[object] = []

    def in_thread() -> None:
        async def main() -> None:
            for _ in range(50):
                results.append(await cache.aget("shared"))

        asyncio.run(main())

    threads = [threading.Thread(target=in_thread) for _ in range(4)]
    for t in threads:
        t.start()

    async def here() -> object:
        return await cache.aget("shared")

    loop = asyncio.new_event_loop()  # a loop the user keeps open between calls
    try:
        assert loop.run_until_complete(here()) == {"v": 1}
        assert loop.run_until_complete(here()) == {"v": 1}
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    for t in threads:
        t.join()
    assert results == [{"v": 1}] * 200


def test_redis_killed_and_restarted_mid_job(
    cache: RedisCache, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def job() -> tuple[int, int]:
        hits = misses = 0
        for i in range(300):
            if i == 100:
                redis_server.kill()
            if i == 200:
                redis_server.start()
                cache.health._skip_until = 0.0  # the next call tries at once instead of after the pause
            value = await cache.aget(f"p{i}")
            if value is None:
                misses += 1
                await cache.aset(f"p{i}", {"i": i})  # what the engine does after asking the provider
            else:
                hits += 1
        return hits, misses

    with caplog.at_level(logging.WARNING, logger="llmp.cache"):
        assert asyncio.run(job()) == (0, 300)  # every prompt answered: misses, never an error
        assert cache.get("p150") is None  # written while Redis was down: dropped
        assert cache.get("p250") == {"i": 250}  # after the restart: cached again
        assert asyncio.run(cache.aget_many(["p50", "p250"])) == {"p250": {"i": 250}}  # restart emptied it
    messages = [r.getMessage() for r in caplog.records if r.name == "llmp.cache"]
    down = [m for m in messages if "failed" in m]
    assert len(down) == 1, messages  # one warning for the outage, not one per prompt
    assert "127.0.0.1" in down[0]
    assert "misses" in down[0]
    assert "dropped" in down[0]
    assert any("answers again" in m for m in messages)


def test_an_unreachable_url_is_a_clear_error_with_the_password_masked(redis_server: RedisServer) -> None:
    port = redis_server.port
    redis_server.stop()
    url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
    with pytest.raises(CacheError) as info:
        open_cache(url)
    message = str(info.value)
    assert f"redis://:***@127.0.0.1:{port}/0" in message
    assert "hunter2-secret" not in message
    assert "hunter2-secret" not in repr(info.value.__cause__)
    assert info.value.__cause__ is None
    assert "LLMP_CACHE_FALLBACK" in message


def test_a_local_fallback_when_asked_for(
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
    url = redis_server.url
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="llmp.cache"):
        cache = open_cache(url, fallback=True)
        monkeypatch.setenv("LLMP_CACHE_FALLBACK", "1")
        monkeypatch.setenv("LLMP_CACHE_URL", url)
        from_env = open_cache(True)
    assert isinstance(cache, DiskCache)
    assert from_env is cache
    assert cache.path == tmp_path.resolve() / "llmp-cache.sqlite"
    warning = next(r.getMessage() for r in caplog.records if "local SQLite cache instead" in r.getMessage())
    assert url in warning


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:notaport/0", "malformed Redis URL"),
        ("redis://127.0.0.1:6379/abc", "database number"),
        ("redis://:pw@127.0.0.1:99999/0", "malformed Redis URL"),
    ],
)
def test_a_malformed_url_is_a_clear_error(url: str, says: str) -> None:
    with pytest.raises(CacheError, match=says) as info:
        open_cache(url)
    assert "pw@" not in str(info.value)


def test_open_cache_uses_llmp_cache_url(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMP_CACHE_URL", redis_server.url)
    cache = open_cache(True, ttl=30)
    assert isinstance(cache, RedisCache)
    try:
        assert cache.ttl == 30.0
        cache.set("k", {"v": 1})
        assert _raw_get(redis_server, "llmp:cache:k") == b'{"v":1}'
    finally:
        cache.close()
    monkeypatch.setenv("LLMP_CACHE_URL", "memcached://x")
    with pytest.raises(CacheError, match="LLMP_CACHE_URL"):
        open_cache(True)
