"""llmp-openai passes the provider conformance suite."""

from typing import Any

import pytest

from llmp.testing import ProviderConformance
from llmp_openai import _hooks
from llmp_openai.testing import FakeOpenAIServer


class TestOpenAIConformance(ProviderConformance):
    plugin = _hooks
    provider = "openai"
    model = "gpt-4.1-mini"
    sdk_modules = ("openai", "httpx2")

    @pytest.fixture
    def server(self, fake_openai: FakeOpenAIServer) -> Any:
        return fake_openai


class TestSambaNovaConformance(TestOpenAIConformance):
    provider = "sambanova"
    model = "sambanova/Meta-Llama-3.3-70B-Instruct"

    @pytest.fixture
    def server(self, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Any:
        monkeypatch.setenv("SAMBANOVA_API_KEY", fake_openai.api_key)
        return fake_openai

    def make_llm(self, server: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cache", False)
        import llmp

        return llmp.LLM(self.model, base_url=server.base_url, **kwargs)
