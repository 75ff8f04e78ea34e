"""pytest fixtures for the fake Anthropic server (entry point ``pytest11: llmp_litellm``).

Imports nothing heavy at module level: the server code loads inside the fixtures, only for tests
that use them.

- ``fake_anthropic_server`` (session): one running ``FakeAnthropicServer``, started on first use.
  It accepts only ``server.api_key`` (``"sk-ant-test-"`` + 24 random characters).
- ``fake_anthropic`` (function): resets that server (records, faults, counters, knobs), points the
  environment at it (``SSL_CERT_FILE``, ``ANTHROPIC_BASE_URL`` = the server's origin, which
  llmp-litellm passes to litellm as ``api_base``, ``ANTHROPIC_API_KEY``, no ``ANTHROPIC_KEYS``,
  ``LLMP_CACHE_DIR`` under ``tmp_path``) and yields it. Create HTTP clients after the fixture has
  run: they read ``SSL_CERT_FILE`` when they are created.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp_litellm.testing import FakeAnthropicServer

_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[FakeAnthropicServer]:
    from llmp_litellm.testing import FakeAnthropicServer

    key = "sk-ant-test-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))
    with FakeAnthropicServer(api_keys=[key]) as server:
        yield server


@pytest.fixture
def fake_anthropic(
    fake_anthropic_server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeAnthropicServer]:
    server = fake_anthropic_server
    server.reset()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", server.api_key)
    # A rotated list would win over ANTHROPIC_API_KEY and point at keys the fake refuses.
    monkeypatch.delenv("ANTHROPIC_KEYS", raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "llmp-cache"))
    yield server
    # Faults a test scheduled but never triggered must not leak into the next test.
    server.reset()
