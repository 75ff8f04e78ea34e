"""pytest fixtures for the fake Cohere server (entry point ``pytest11: llmp_cohere``): one server
per session; each test gets it reset, with the environment pointed at it (``COHERE_BASE_URL``,
``COHERE_API_KEY``, ``SSL_CERT_FILE``) and a private cache.

pytest imports this module in every run where llmp-cohere is installed, so the server (and
llmp.testing's hypercorn) is imported inside the fixture, only by tests that use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp_cohere.testing import FakeCohereServer


# --8<-- [start:fixture]
@pytest.fixture(scope="session")
def fake_cohere_server() -> Iterator[FakeCohereServer]:
    from llmp_cohere.testing import FakeCohereServer

    with FakeCohereServer() as server:
        yield server


@pytest.fixture
def fake_cohere(
    fake_cohere_server: FakeCohereServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeCohereServer]:
    server = fake_cohere_server
    server.reset()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    monkeypatch.setenv("COHERE_BASE_URL", server.base_url)
    monkeypatch.setenv("COHERE_API_KEY", server.api_key)
    monkeypatch.delenv("COHERE_KEYS", raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "cache"))
    yield server
    server.reset()  # faults a test left unused must not leak into the next one


# --8<-- [end:fixture]
