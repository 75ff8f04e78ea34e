"""pytest fixtures for the fake OpenAI server (entry point ``pytest11: llmp_openai``).

pytest loads this module in every run in an environment with llmp-openai installed, so it imports
nothing heavy: the server code is imported inside the fixtures, only by tests that use them.

- ``fake_openai_server`` (session): one running ``FakeOpenAIServer``, started on first use. It
  accepts only ``server.api_key`` (``"sk-test-"`` + 24 random characters).
- ``fake_openai`` (function): resets that server (records, faults, counters, rate limits, knobs),
  points the environment at it (``SSL_CERT_FILE``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
  ``LLMP_CACHE_DIR`` under ``tmp_path``) and yields it. Create HTTP clients after the fixture
  has run: httpx2 reads ``SSL_CERT_FILE`` when a client is created.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp_openai.testing import FakeOpenAIServer

_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    from llmp_openai.testing import FakeOpenAIServer

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
