"""pytest fixtures for the fake provider servers (entry point ``pytest11: llmp``).

pytest loads this module in every run in an environment with llmp-core installed, so it imports
nothing heavy: the server code is imported inside the fixtures, only by tests that use them.

- ``fake_openai_server`` (session): one running ``FakeOpenAIServer``, started on first use. It
  accepts only ``server.api_key`` (``"sk-test-"`` + 24 random characters).
- ``fake_openai`` (function): resets that server (records, faults, counters, rate limits, knobs),
  points the environment at it (``SSL_CERT_FILE``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
  ``LLMP_CACHE_DIR`` under ``tmp_path``) and yields it. Create HTTP clients after the fixture
  has run: httpx2 reads ``SSL_CERT_FILE`` when a client is created.
- ``redis_server`` (function): a real ``redis-server`` on a free port (one per session),
  running and flushed; ``redis_server.url``, ``.kill()``, ``.restart()``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp.testing import FakeOpenAIServer
    from llmp.testing._redis import RedisServer

_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    from llmp.testing import FakeOpenAIServer

    key = "sk-test-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))
    with FakeOpenAIServer(api_keys=[key]) as server:
        yield server


@pytest.fixture
def fake_openai(
    fake_openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeOpenAIServer]:
    server = fake_openai_server
    server.reset()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "llmp-cache"))
    yield server
    # Faults a test scheduled but never triggered must not leak into the next test.
    server.reset()


@pytest.fixture(scope="session")
def redis_server_process() -> Iterator[RedisServer]:
    """One real ``redis-server`` for the session (see `llmp.testing.RedisServer`)."""
    from llmp.testing._redis import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_server(redis_server_process: RedisServer) -> Iterator[RedisServer]:
    """The session's ``redis-server``, running (restarted if a test stopped it) and empty."""
    server = redis_server_process
    server.start()
    server.flush()
    yield server
    if server.running:
        server.flush()


# Registered here so pytest sees them; the module imports only pytest until a fixture runs.
from llmp.testing._pytest_anthropic import fake_anthropic, fake_anthropic_server  # noqa: E402, F401
from llmp.testing._pytest_gemini import fake_gemini, fake_gemini_server  # noqa: E402, F401
