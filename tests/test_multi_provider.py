"""The mission's multi-model example: OpenAI, Gemini, Together and Anthropic at once, each through
its own SDK path to its own local fake, in parallel."""

from __future__ import annotations

import pytest

import llmp
from llmp_gemini.testing import FakeGeminiServer
from llmp_litellm.testing import FakeAnthropicServer
from llmp_openai.testing import FakeOpenAIServer

MODELS = {
    "gpt-4.1-mini": "openai",
    "gemini/gemini-3-flash-preview": "gemini",
    "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo": "together",
    "anthropic/claude-sonnet-4-6": "anthropic",
}
PROMPTS = ["What is 2+2?", "Name a color."]


@pytest.fixture
def four_fakes(
    fake_openai: FakeOpenAIServer,
    fake_gemini: FakeGeminiServer,
    fake_anthropic: FakeAnthropicServer,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[FakeOpenAIServer, FakeGeminiServer, FakeAnthropicServer]:
    # Together speaks OpenAI's wire: the OpenAI fake serves it too (over HTTP/1.1).
    monkeypatch.setenv("TOGETHER_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("TOGETHER_API_KEY", fake_openai.api_key)
    # The fakes of one process share one throwaway CA, so one SSL_CERT_FILE trusts them all.
    assert (
        fake_openai.ca_path.read_bytes()
        == fake_gemini.ca_path.read_bytes()
        == fake_anthropic.ca_path.read_bytes()
    )
    return fake_openai, fake_gemini, fake_anthropic


def test_multi_generate_over_four_providers(
    four_fakes: tuple[FakeOpenAIServer, FakeGeminiServer, FakeAnthropicServer],
) -> None:
    openai_fake, gemini_fake, anthropic_fake = four_fakes
    llms = [llmp.LLM(model) for model in MODELS]
    # Import the SDKs and connect first (litellm alone takes seconds to import), so the timed
    # run below shows the models overlapping rather than the import of the slowest one.
    assert llmp.multi_chat(llms, "warm up") == {m: "Echo: warm up" for m in MODELS}
    for fake in four_fakes:
        fake.reset()
        fake.ttft = 0.3
    warm_cost = {llm.model: llm.total_cost for llm in llms}
    out = llmp.multi_generate(llms, PROMPTS)
    assert set(out) == set(MODELS)
    for model in MODELS:
        assert out[model] == [[f"Echo: {p}"] for p in PROMPTS], model

    chat = [r for r in openai_fake.requests if r.path.endswith("/chat/completions")]
    by_model = {r.body["model"]: r.http_version for r in chat}
    assert by_model["gpt-4.1-mini"] == "2", "OpenAI over HTTP/2"
    assert by_model["meta-llama/Llama-3.3-70B-Instruct-Turbo"] == "1.1", "Together over HTTP/1.1"
    assert {r.http_version for r in gemini_fake.requests} == {"2"}, "Gemini over HTTP/2"
    assert anthropic_fake.request_count == 2

    # In parallel: the whole run took about one round of latency per model, not four.
    starts = sorted(r.timestamp for r in [*chat, *gemini_fake.requests, *anthropic_fake.requests])
    assert starts[-1] - starts[0] < 0.3 * 3

    for llm in llms:
        assert llm.total_input_tokens > 0, llm.model
        assert llm.total_output_tokens > 0, llm.model
        assert llm.total_cost is not None, llm.model
        assert llm.total_cost > (warm_cost[llm.model] or 0), llm.model

    # The rerun is served from the cache for every provider: no request, no cost.
    before = (openai_fake.request_count, gemini_fake.request_count, anthropic_fake.request_count)
    again = [llmp.LLM(model) for model in MODELS]
    assert llmp.multi_generate(again, PROMPTS) == out
    assert (openai_fake.request_count, gemini_fake.request_count, anthropic_fake.request_count) == before
    assert all(llm.total_cost == 0.0 and llm.usage.cache_hits == 2 for llm in again)
