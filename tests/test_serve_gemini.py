"""``python -m llmp.testing.serve gemini`` in its own process, reached over TLS/HTTP/2 by llmp and
by plain google-genai (its default transport), as the Gemini benchmark uses it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmp
from llmp.testing import SpawnedServer
from llmp.testing.serve import main, spawn

KEY = "AIzaServeTest" + "k" * 26


@pytest.fixture(scope="module")
def server() -> Iterator[SpawnedServer]:
    # chunk_count=3 and a short token delay: a real (if tiny) stream, and the module stays fast.
    with spawn("gemini", ttft=0.01, token_delay=0.002, chunk_count=3, api_keys=[KEY]) as handle:
        yield handle
    assert handle.process.returncode == 0, "the child shuts down cleanly when its stdin closes"


@pytest.fixture
def gemini_env(server: SpawnedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SpawnedServer:
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    monkeypatch.setenv("GEMINI_BASE_URL", server.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("GEMINI_KEYS", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
    server.reset()
    return server


def test_llmp_generates_and_streams_through_the_spawned_fake(gemini_env: SpawnedServer) -> None:
    llm = llmp.LLM("gemini/gemini-2.5-flash", cache=False, max_concurrent=4)
    assert llm.generate(["one two", "three four"]) == [["Echo: one two"], ["Echo: three four"]]

    async def stream() -> list[str]:
        return [delta async for delta in llm.astream("five six seven")]

    deltas = asyncio.run(stream())
    assert len(deltas) == 3, "chunk_count reached the child"
    assert "".join(deltas) == "Echo: five six seven"
    stats = gemini_env.stats()
    assert stats["request_count"] == 3
    assert stats["in_flight"] == 0
    assert 1 <= stats["max_in_flight"] <= 2


def test_google_genai_default_transport_reaches_the_spawned_fake(gemini_env: SpawnedServer) -> None:
    from google import genai
    from google.genai import types

    async def call() -> str | None:
        client = genai.Client(
            api_key=KEY, vertexai=False, http_options=types.HttpOptions(base_url=gemini_env.base_url)
        )
        try:
            response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        finally:
            await client.aio.aclose()
        return response.text

    assert asyncio.run(call()) == "Echo: hi"
    assert gemini_env.stats()["request_count"] == 1
    gemini_env.reset()
    assert gemini_env.stats() == {"request_count": 0, "in_flight": 0, "max_in_flight": 0}


@pytest.mark.parametrize(
    "argv",
    [
        ["gemini", "--rpm", "10"],
        ["openai", "--non-stream-delay", "0.1"],
        ["anthropic", "--reasoning-tokens", "5"],
    ],
)
def test_flags_a_fake_does_not_have_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "does not apply" in capsys.readouterr().err
