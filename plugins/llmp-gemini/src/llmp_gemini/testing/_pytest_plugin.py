"""pytest fixtures for the fake Gemini server (entry point ``pytest11: llmp_gemini``).

Imports nothing heavy at module level: the server code loads inside the fixtures, only for tests
that use them.

- ``fake_gemini_server`` (session): one running ``FakeGeminiServer``, started on first use. It
  accepts only ``server.api_key`` (``"AIzaTest"`` + 31 random characters).
- ``fake_gemini`` (function): resets that server (records, faults, counters, knobs), points the
  environment at it (``SSL_CERT_FILE``, ``GEMINI_BASE_URL``, ``GEMINI_API_KEY``, no
  ``GEMINI_KEYS`` or ``GOOGLE_GENAI_API_VERSION``, ``LLMP_CACHE_DIR`` under ``tmp_path``) and
  yields it. Create HTTP clients after
  the fixture has run: httpx2 reads ``SSL_CERT_FILE`` when a client is created.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp_gemini.testing import FakeGeminiServer

_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(scope="session")
def fake_gemini_server() -> Iterator[FakeGeminiServer]:
    from llmp_gemini.testing import FakeGeminiServer

    key = "AIzaTest" + "".join(secrets.choice(_ALPHABET) for _ in range(31))
    with FakeGeminiServer(api_keys=[key]) as server:
        yield server


@pytest.fixture
def fake_gemini(
    fake_gemini_server: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeGeminiServer]:
    server = fake_gemini_server
    server.reset()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    monkeypatch.setenv("GEMINI_BASE_URL", server.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", server.api_key)
    # A rotated list would win over GEMINI_API_KEY and point at keys the fake refuses.
    monkeypatch.delenv("GEMINI_KEYS", raising=False)
    # google-genai reads this for its default API version; tests expect the SDK's own default.
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "llmp-cache"))
    yield server
    # Faults a test scheduled but never triggered must not leak into the next test.
    server.reset()
