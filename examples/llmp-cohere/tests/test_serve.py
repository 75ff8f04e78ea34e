"""The fake ships in the plugin: ``python -m llmp.testing.serve cohere`` finds it through the
``llmp.testing.fakes`` entry point and runs it in its own process, reached by llmp over TLS."""

from __future__ import annotations

from pathlib import Path

import llmp
import pytest
from llmp.testing.serve import fake_names, spawn


def test_the_fake_runs_in_its_own_process_by_its_registered_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert fake_names()["cohere"] == "llmp_cohere.testing.serve:serve_fake"
    with spawn("cohere") as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        monkeypatch.setenv("COHERE_BASE_URL", server.base_url)
        monkeypatch.setenv("COHERE_API_KEY", server.api_key or "")
        monkeypatch.delenv("COHERE_KEYS", raising=False)
        monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
        llm = llmp.LLM("cohere/command-r-08-2024", cache=False)
        assert llm.generate(["one two", "three"]) == [["Echo: one two"], ["Echo: three"]]
        assert server.stats()["request_count"] == 2
        server.reset()
        assert server.stats()["request_count"] == 0
