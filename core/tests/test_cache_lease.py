"""`LLMP_CACHE_LEASE`: how long a Redis claim outlives its owner (a Ray actor killed mid-request,
say) before the prompt's other askers stop waiting and ask themselves."""

from __future__ import annotations

import asyncio

import pytest

from llmp._cache import RedisCache
from llmp.errors import CacheError
from llmp.testing._redis import RedisServer

pytestmark = pytest.mark.redis


def _pttl(redis_server: RedisServer, key: str) -> int:
    return int(redis_server.command("PTTL", key)[1:].split(b"\r\n")[0])


def test_the_lease_of_a_claim_comes_from_llmp_cache_lease(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def held_lease(cache: RedisCache) -> int:
        async with cache.claim("k") as claim:
            assert claim.owner
            return _pttl(redis_server, "llmp:claim:k")

    default = RedisCache(redis_server.url)
    assert 50_000 < asyncio.run(held_lease(default)) <= 60_000
    default.close()
    monkeypatch.setenv("LLMP_CACHE_LEASE", "2.5")
    short = RedisCache(redis_server.url)
    assert short.lease == 2.5
    assert 1_500 < asyncio.run(held_lease(short)) <= 2_500
    short.close()


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_lease_that_is_not_a_positive_number_is_refused_naming_the_variable(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LLMP_CACHE_LEASE", value)
    with pytest.raises(CacheError, match=f"LLMP_CACHE_LEASE='{value}' must be a positive number of seconds"):
        RedisCache(redis_server.url)
