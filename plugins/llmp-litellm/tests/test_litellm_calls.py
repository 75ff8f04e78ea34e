"""Calls through the real litellm to the fake Anthropic server: what is sent, what comes back."""

from typing import Any

import pytest

from llmp import errors
from llmp.testing import FakeAnthropicServer
from llmp.types import ClientSettings, Request
from llmp_litellm import _hooks


def test_request_is_anthropics_wire(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm(temperature=0.5, max_tokens=50, stop=["END"])
    assert llm.chat("alpha beta", system_prompt="be brief") == "Echo: alpha beta"
    record = fake_anthropic.requests[-1]
    assert (record.method, record.path) == ("POST", "/v1/messages")
    assert record.headers["x-api-key"] == fake_anthropic.api_key
    assert record.headers["anthropic-version"] == "2023-06-01"
    body = record.body
    assert body["model"] == "claude-sonnet-4-6"  # the route prefix is not sent
    assert body["system"] == [{"type": "text", "text": "be brief"}]
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert (body["temperature"], body["max_tokens"], body["stop_sequences"]) == (0.5, 50, ["END"])
    assert "stream" not in body


def test_base_url_may_end_in_v1(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm(base_url=fake_anthropic.base_url + "/v1")
    assert llm.chat("x y") == "Echo: x y"
    assert fake_anthropic.requests[-1].path == "/v1/messages"


def test_cache_reads_and_writes_are_counted_and_priced(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    fake_anthropic.cache_read_tokens = 3
    fake_anthropic.cache_creation_tokens = 2
    llm = make_llm()
    prompt = "one two three four five six seven eight"
    assert llm.chat(prompt) == "Echo: " + prompt
    # The API counts 3 uncached + 3 read + 2 written; llmp's input includes all of them.
    assert (llm.total_input_tokens, llm.total_cached_tokens, llm.total_output_tokens) == (8, 3, 9)
    # claude-sonnet-4-6: $3/M input, cache writes 1.25x that, reads $0.30/M, output $15/M.
    expected = (3 * 3.00 + 2 * 3.75 + 3 * 0.30 + 9 * 15.00) / 1e6
    assert llm.total_cost == pytest.approx(expected)
    assert "".join(llm.stream(prompt)) == "Echo: " + prompt
    assert (llm.total_input_tokens, llm.total_cached_tokens, llm.total_output_tokens) == (16, 6, 18)
    assert llm.total_cost == pytest.approx(2 * expected)


def test_n_is_emulated_by_concurrent_calls(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm()
    assert llm.generate(["p q"], n=3) == [["Echo: p q"] * 3]
    assert fake_anthropic.request_count == 3
    assert all("n" not in r.body for r in fake_anthropic.requests)  # the API would reject it
    assert (llm.total_input_tokens, llm.total_output_tokens) == (6, 9)


async def test_streamed_n_keeps_samples_apart(fake_anthropic: FakeAnthropicServer) -> None:
    settings = ClientSettings("anthropic", "litellm", fake_anthropic.base_url, fake_anthropic.api_key)
    client = _hooks.llmp_create_client(provider="anthropic", settings=settings)
    request = Request("anthropic", "claude-sonnet-4-6", [{"role": "user", "content": "a b"}], n=2)
    chunks = [chunk async for chunk in _hooks.llmp_stream(client=client, request=request)]
    texts = {i: "".join(c.text for c in chunks if c.index == i and c.usage is None) for i in (0, 1)}
    assert texts == {0: "Echo: a b", 1: "Echo: a b"}
    assert {c.finish_reason for c in chunks if c.finish_reason} == {"stop"}
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1
    assert (usages[0].input_tokens, usages[0].output_tokens) == (4, 6)


def test_unsupported_parameter_is_a_clear_error(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm()
    with pytest.raises(errors.UnsupportedParameterError, match="logit_bias"):
        llm.chat("x", logit_bias={"1": 1})
    assert fake_anthropic.request_count == 0


def test_missing_key_names_the_environment_variables(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(errors.MissingAPIKeyError, match="ANTHROPIC_API_KEY") as info:
        make_llm()
    assert "ANTHROPIC_KEYS" in str(info.value)
