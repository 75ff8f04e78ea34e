"""llmp-together: conformance, HTTP/1.1 on the wire, prices."""

from typing import Any

import pytest

import llmp
from llmp.testing import ProviderConformance
from llmp.types import Usage
from llmp_openai.testing import FakeOpenAIServer
from llmp_together import _hooks
from llmp_together._prices import cost

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"


class TestTogetherConformance(ProviderConformance):
    plugin = _hooks
    provider = "together"
    model = MODEL
    sdk_modules = ("openai", "httpx2")

    @pytest.fixture
    def server(self, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Any:
        monkeypatch.setenv("TOGETHER_API_KEY", fake_openai.api_key)
        monkeypatch.setenv("TOGETHER_BASE_URL", fake_openai.base_url)
        return fake_openai


def test_together_uses_http1_and_strips_the_prefix(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", fake_openai.api_key)
    monkeypatch.setenv("TOGETHER_BASE_URL", fake_openai.base_url)
    llm = llmp.LLM(MODEL)
    assert llm.generate(["a", "b"]) == [["Echo: a"], ["Echo: b"]]
    records = [r for r in fake_openai.requests if r.path.endswith("/chat/completions")]
    assert {r.http_version for r in records} == {"1.1"}
    assert {r.body["model"] for r in records} == {"meta-llama/Llama-3.3-70B-Instruct-Turbo"}
    expected = (llm.total_input_tokens + llm.total_output_tokens) * 0.88 / 1e6
    assert llm.total_cost == pytest.approx(expected)


def test_streams_over_http1_reuse_one_connection(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A streamed body left unread after [DONE] would make httpcore2 close the HTTP/1.1
    # connection, and every stream would pay for a new TCP and TLS handshake.
    monkeypatch.setenv("TOGETHER_API_KEY", fake_openai.api_key)
    monkeypatch.setenv("TOGETHER_BASE_URL", fake_openai.base_url)
    llm = llmp.LLM(MODEL, cache=False)
    for prompt in ("a b", "c d", "e f"):
        assert "".join(llm.stream(prompt)) == f"Echo: {prompt}"
    records = [r for r in fake_openai.requests if r.path.endswith("/chat/completions")]
    assert [r.http_version for r in records] == ["1.1"] * 3
    assert len({r.client_port for r in records}) == 1


def test_missing_key_names_together_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.delenv("TOGETHER_KEYS", raising=False)
    with pytest.raises(llmp.errors.MissingAPIKeyError, match="TOGETHER_API_KEY or TOGETHER_KEYS"):
        llmp.LLM(MODEL)


def test_prices() -> None:
    usage = Usage(input_tokens=2_000_000, output_tokens=1_000_000)
    c = cost("together", "deepseek-ai/DeepSeek-R1-0528", usage, "standard")
    assert c is not None
    assert c.total == pytest.approx(2 * 3.00 + 7.00)
    assert cost("together", "deepseek-ai/DeepSeek-R1-0528", usage, "batch") is None
    assert cost("together", "Kimi/K2.5", usage, "standard") is None


def test_together_has_no_batch_api_and_says_which_do(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
    llm = llmp.LLM(MODEL, api_key="sk-together-test")
    with pytest.raises(llmp.errors.ConfigurationError, match="openai, anthropic, gemini"):
        llm.batch_submit(["a"])
