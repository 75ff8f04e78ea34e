"""The OpenAI-compatible hosts llmp-openai routes to (issue 14, item 27), each through the wire
to the fake server with its own key variable and base-URL variable, as litellm names them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmp
from llmp_openai.testing import FakeOpenAIServer

# (model as the user writes it, provider, key prefix, model sent, priced)
HOSTS = [
    ("deepseek/deepseek-chat", "deepseek", "DEEPSEEK", "deepseek-chat", True),
    ("zhipu/glm-4.6", "zhipu", "ZAI", "glm-4.6", True),
    ("zai/glm-4.5-air", "zhipu", "ZAI", "glm-4.5-air", True),
    ("dashscope/qwen-plus", "dashscope", "DASHSCOPE", "qwen-plus", True),
    ("mistral/mistral-small-latest", "mistral", "MISTRAL", "mistral-small-latest", True),
    ("groq/llama-3.3-70b-versatile", "groq", "GROQ", "llama-3.3-70b-versatile", True),
    ("xai/grok-3-mini", "xai", "XAI", "grok-3-mini", True),
    (
        "fireworks_ai/accounts/fireworks/models/gpt-oss-120b",
        "fireworks_ai",
        "FIREWORKS",
        "accounts/fireworks/models/gpt-oss-120b",
        True,
    ),
    (
        "deepinfra/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "deepinfra",
        "DEEPINFRA",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        True,
    ),
    ("deepseek/some-future-model", "deepseek", "DEEPSEEK", "some-future-model", False),
]


@pytest.mark.parametrize(("model", "provider", "prefix", "sent", "priced"), HOSTS, ids=[h[0] for h in HOSTS])
def test_each_host_with_its_own_key_variable(
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    provider: str,
    prefix: str,
    sent: str,
    priced: bool,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")  # only the host's own variables
    monkeypatch.setenv(f"{prefix}_API_KEY", fake_openai.api_key)
    monkeypatch.setenv(f"{prefix}_API_BASE", fake_openai.base_url)
    llm = llmp.LLM(model, cache=False)
    assert llm.provider == provider
    assert llm.chat("hi there") == "Echo: hi there"
    assert "".join(llm.stream("a b")) == "Echo: a b"
    (record, streamed) = [r for r in fake_openai.requests if r.path == "/v1/chat/completions"]
    assert record.body["model"] == sent
    assert record.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert (llm.total_cost is not None) == priced
    if provider == "mistral":
        assert "stream_options" not in streamed.body, "Mistral refuses stream_options"
    else:
        assert streamed.body["stream_options"] == {"include_usage": True}
    monkeypatch.delenv(f"{prefix}_API_KEY")
    with pytest.raises(llmp.errors.MissingAPIKeyError, match=f"{prefix}_API_KEY or {prefix}_KEYS"):
        llmp.LLM(model)


def test_default_base_urls_are_litellms() -> None:
    from llmp_openai import _hooks

    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    expected = {
        "deepseek/x": "https://api.deepseek.com/beta",
        "ollama/x": "http://localhost:11434/v1",
        "zhipu/x": "https://api.z.ai/api/paas/v4",
        "dashscope/x": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "mistral/x": "https://api.mistral.ai/v1",
        "groq/x": "https://api.groq.com/openai/v1",
        "xai/x": "https://api.x.ai/v1",
        "fireworks_ai/x": "https://api.fireworks.ai/inference/v1",
        "deepinfra/x": "https://api.deepinfra.com/v1/openai",
    }
    for model, url in expected.items():
        route = registry.resolve(model).route
        assert (route.base_url, route.api) == (url, "openai"), model


@pytest.fixture
def keyless_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:  # accepts any request, like a local Ollama
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        yield server


def test_ollama_needs_no_key_and_takes_litellms_root_base_url(
    keyless_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    # litellm's OLLAMA_API_BASE is the server's root (http://localhost:11434); the OpenAI API is /v1.
    monkeypatch.setenv("OLLAMA_API_BASE", keyless_server.base_url.removesuffix("/v1"))
    llm = llmp.LLM("ollama/llama3.2", cache=False)
    assert llm._engine.keys is None
    assert llm.chat("local") == "Echo: local"
    (record,) = keyless_server.requests
    assert record.path == "/v1/chat/completions"
    assert record.body["model"] == "llama3.2"
    assert llm.total_cost is None, "a local model has no price"
