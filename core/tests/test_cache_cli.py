"""`llmp cache stats|clear` on the Redis cache (`--cache URL` or `LLMP_CACHE_URL`)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from llmp._cache import RedisCache
from llmp._cli import main
from llmp.testing._redis import RedisServer

pytestmark = pytest.mark.redis


def cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "disk"))
    monkeypatch.delenv("LLMP_CACHE_URL", raising=False)


def _fill(url: str, n: int) -> None:
    cache = RedisCache(url)
    try:
        for i in range(n):
            cache.set(f"k{i}", {"i": i})
    finally:
        cache.close()


def test_stats_and_clear_with_the_cache_option(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(redis_server.url, 3)
    code, out, _ = cli(["cache", "stats", "--json", "--cache", redis_server.url], capsys, monkeypatch)
    assert code == 0
    assert json.loads(out) == {"backend": "redis", "location": redis_server.url, "entries": 3, "bytes": None}
    code, out, _ = cli(["cache", "--cache", redis_server.url], capsys, monkeypatch)
    assert out.splitlines() == [f"redis:   {redis_server.url}", "entries: 3", "size:    -"]
    code, _, err = cli(["cache", "clear", "--cache", redis_server.url], capsys, monkeypatch)
    assert (code, err) == (2, "llmp: error: refusing to delete 3 cached responses without --yes\n")
    code, _, err = cli(["cache", "clear", "--yes", "--cache", redis_server.url], capsys, monkeypatch)
    assert code == 0
    assert f"deleted 3 cached responses from {redis_server.url}" in err
    assert RedisCache(redis_server.url).stats().entries == 0


def test_llmp_cache_url_is_the_default_and_dir_overrides_it(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fill(redis_server.url, 2)
    url = redis_server.url.replace("redis://", "redis://:s3cret-pass@")  # no auth on the server: ignored
    monkeypatch.setenv("LLMP_CACHE_URL", url)
    code, out, _ = cli(["cache", "stats", "--json"], capsys, monkeypatch)
    data = json.loads(out)
    assert (code, data["entries"], data["backend"]) == (0, 2, "redis")
    assert "s3cret-pass" not in out
    assert ":***@" in data["location"]
    code, out, _ = cli(["cache", "stats", "--json", "--dir", str(tmp_path / "d")], capsys, monkeypatch)
    assert json.loads(out)["backend"] == "sqlite"


def test_an_unreachable_redis_is_one_clear_line(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_server.url.replace("redis://", "redis://:s3cret-pass@")
    redis_server.stop()
    code, out, err = cli(["cache", "stats", "--cache", url], capsys, monkeypatch)
    assert code == 1
    assert out == ""
    assert err.startswith("llmp: error: cannot reach the Redis cache at redis://:***@127.0.0.1:")
    assert "s3cret-pass" not in err
