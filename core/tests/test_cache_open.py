"""`open_cache`: what each `cache=` argument becomes, and the errors for the ones that are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmp._cache import FILENAME, Cache, DiskCache, open_cache, shared_cache
from llmp.errors import CacheError, ConfigurationError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "default"))
    monkeypatch.delenv("LLMP_CACHE_URL", raising=False)
    monkeypatch.delenv("LLMP_CACHE_FALLBACK", raising=False)
    monkeypatch.chdir(tmp_path)


def test_true_false_none_and_directories(tmp_path: Path) -> None:
    assert open_cache(False) is None
    assert open_cache(None) is None
    default = open_cache(True)
    assert isinstance(default, DiskCache)
    assert default is shared_cache()
    assert default.path == (tmp_path / "default").resolve() / FILENAME
    elsewhere = open_cache(str(tmp_path / "elsewhere"))
    assert elsewhere is open_cache(tmp_path / "elsewhere")  # str and Path: one shared cache
    assert isinstance(elsewhere, DiskCache)
    assert elsewhere.path == (tmp_path / "elsewhere").resolve() / FILENAME
    assert isinstance(elsewhere, Cache)  # both backends satisfy the protocol


def test_a_ttl_makes_a_cache_with_that_default(tmp_path: Path) -> None:
    cache = open_cache(True, ttl=30)
    assert isinstance(cache, DiskCache)
    assert cache.ttl == 30.0
    assert cache is not open_cache(True)
    with pytest.raises(ConfigurationError, match="ttl"):
        open_cache(True, ttl=-1)


def test_a_ready_cache_object_is_used_as_it_is(tmp_path: Path) -> None:
    mine = DiskCache(tmp_path / "mine")
    try:
        assert open_cache(mine) is mine
    finally:
        mine.close()


@pytest.mark.parametrize(
    "spec", ["redis:/host", "memcached://host:11211", "s3://bucket/cache", "https://example.com/cache"]
)
def test_a_url_that_is_no_cache_is_an_error_not_a_directory(spec: str, tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="cache=") as info:
        open_cache(spec)
    message = str(info.value)
    assert "redis://" in message
    assert "directory" in message
    assert sorted(os.listdir(tmp_path)) == []  # created no directory named "memcached:" or the like


def test_redis_url_no_longer_creates_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14.11: cache="redis://host:6379/0" made a directory named "redis:". Now it is a
    # Redis cache; a host that does not answer is an error naming the URL.
    with pytest.raises(CacheError, match=r"redis://127\.0\.0\.1:1/0"):
        open_cache("redis://127.0.0.1:1/0")
    assert not (tmp_path / "redis:").exists()


def test_a_file_where_a_directory_belongs(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CacheError, match="is a file, not a directory"):
        open_cache(str(tmp_path / "afile"))


@pytest.mark.parametrize("spec", [5, 2.5, b"/tmp", object(), "", "   "])
def test_other_types_name_the_argument_and_what_to_pass(spec: object) -> None:
    with pytest.raises(CacheError, match="cache=") as info:
        open_cache(spec)
    assert "True" in str(info.value)
    assert "False" in str(info.value)


def test_a_redis_url_without_the_redis_package_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if llmp-core was installed without the extra\n"
        "from llmp._cache import open_cache\n"
        "from llmp.errors import CacheError\n"
        "try:\n"
        "    open_cache('redis://127.0.0.1:6379/0', fallback=True)\n"
        "except CacheError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "llmp-core[redis]"' in out.stdout, out.stderr


def test_importing_the_cache_does_not_import_redis() -> None:
    script = "import sys, llmp._cache, llmp; open = llmp._cache.open_cache; print('redis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
