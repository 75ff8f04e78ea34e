"""Calls through the real litellm to the fake Anthropic server: what is sent, what comes back."""

from typing import Any

import pytest

import llmp
from llmp import errors
from llmp_litellm.testing import FakeAnthropicServer
from llmp_openai.testing import FakeOpenAIServer


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


def test_one_hour_cache_writes_are_a_usage_detail_priced_at_twice_the_input(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    fake_anthropic.cache_creation_tokens = 4
    fake_anthropic.cache_creation_1h_tokens = 3
    llm = make_llm()
    prompt = "one two three four five six"
    response = llm.complete(prompt)
    assert response.usage.cache_write_tokens == 4
    assert response.usage.details == {"cache_creation_1h_input_tokens": 3}
    # 2 plain at $3/M, one 5-minute write at 1.25x, three 1-hour writes at 2x; 7 output at $15/M.
    assert response.cost == pytest.approx((2 * 3.00 + 1 * 3.75 + 3 * 6.00 + 7 * 15.00) / 1e6)
    events = llm.stream_events(prompt)
    list(events)
    assert events.response.usage.details == {"cache_creation_1h_input_tokens": 3}


def test_n_samples_are_single_requests_each_counted(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    """Issue 14 item 12: with n=2 over 2 prompts, 4 POSTs reach Anthropic and 4 are counted."""
    llm = make_llm()
    assert llm.generate(["p q", "r s"], n=2) == [["Echo: p q"] * 2, ["Echo: r s"] * 2]
    assert fake_anthropic.request_count == 4
    assert all("n" not in r.body for r in fake_anthropic.requests)  # the API would reject it
    assert llm.usage.requests == 4
    assert (llm.total_input_tokens, llm.total_output_tokens) == (8, 12)
    one = make_llm().complete("p q").cost
    assert llm.total_cost == pytest.approx(4 * one)


def test_unsupported_parameter_is_refused_before_sending(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    """Issue 14 item 16: llmp's own advice, not litellm's drop_params."""
    llm = make_llm()
    for name, value in (("logit_bias", {"1": 1}), ("seed", 3), ("presence_penalty", 0.5)):
        with pytest.raises(errors.UnsupportedParameterError, match=name) as info:
            llm.chat("x", **{name: value})
        message = str(info.value)
        assert "drop_params" not in message
        assert "never drops" in message
        assert "extra_body" in message
    assert fake_anthropic.request_count == 0


def test_litellms_unsupported_parameter_error_drops_its_drop_params_advice(
    fake_openai: FakeOpenAIServer, registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 16 through the catch-all: litellm's own refusal, with llmp's advice instead."""
    monkeypatch.setenv("MISTRAL_API_KEY", fake_openai.api_key)
    llm = llmp.LLM(
        "mistral/mistral-large-latest", registry=registry, base_url=fake_openai.base_url, cache=False
    )
    with pytest.raises(errors.UnsupportedParameterError, match="logit_bias") as info:
        llm.chat("x", logit_bias={"1": 1})
    message = str(info.value)
    assert "drop_params" not in message
    assert "allowed_openai_params" not in message
    assert "never drops" in message
    assert type(info.value.__cause__).__name__ == "UnsupportedParamsError"
    assert fake_openai.request_count == 0


def test_extra_body_fields_reach_the_wire(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm(extra_body={"service_tier": "standard_only"})
    assert llm.chat("a b") == "Echo: a b"
    assert fake_anthropic.requests[-1].body["service_tier"] == "standard_only"


def test_missing_key_names_the_environment_variables(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(errors.MissingAPIKeyError, match="ANTHROPIC_API_KEY") as info:
        make_llm()
    assert "ANTHROPIC_KEYS" in str(info.value)
