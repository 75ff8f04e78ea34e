"""llmp-cohere through `llmp.LLM`: the wire format, parameters, rich results, usage and cost."""

from __future__ import annotations

import json

import llmp
import pytest
from llmp.errors import MissingAPIKeyError, UnsupportedFeatureError, UnsupportedParameterError
from llmp.testing import StatusError
from llmp.types import Request, Usage

from llmp_cohere._conversion import StreamReader, request_body
from llmp_cohere._prices import cost
from llmp_cohere.testing import TEMPLATE_TOKENS, FakeCohereServer

MODEL = "cohere/command-r-08-2024"


def test_installed_plugin_is_discovered_through_its_entry_point() -> None:
    routes = {r.pattern: r for r in llmp.routes()}
    assert routes["cohere/*"].plugin == "llmp-cohere"
    info = next(p for p in llmp.default_registry().plugins() if p.distribution == "llmp-cohere")
    assert info.apis == ("cohere",)


def test_generate_over_http2_sends_cohere_body(fake_cohere: FakeCohereServer) -> None:
    llm = llmp.LLM(MODEL, temperature=0.2, max_tokens=50, top_p=0.9, stop="END")
    assert llm.generate(["one two", "three"], system_prompt="Be brief.") == [
        ["Echo: one two"],
        ["Echo: three"],
    ]
    records = [r for r in fake_cohere.requests if r.path == "/v2/chat"]
    assert {r.http_version for r in records} == {"2"}
    body = next(r.body for r in records if r.body["messages"][-1]["content"] == "one two")
    assert body == {
        "model": "command-r-08-2024",  # the route prefix is stripped
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two"}],
        "stream": False,
        "temperature": 0.2,
        "max_tokens": 50,
        "p": 0.9,
        "stop_sequences": ["END"],
    }
    assert records[0].headers["authorization"] == f"Bearer {fake_cohere.api_key}"


def test_usage_counts_billed_units_and_prices_them(fake_cohere: FakeCohereServer) -> None:
    llm = llmp.LLM(MODEL)
    llm.chat("alpha beta gamma")
    streamed = "".join(llm.stream("alpha beta gamma delta"))
    assert streamed == "Echo: alpha beta gamma delta"
    # Billed input is the prompt's words; the template tokens Cohere adds are not billed.
    assert llm.total_input_tokens == 3 + 4
    assert llm.total_input_tokens < 3 + 4 + 2 * TEMPLATE_TOKENS
    assert llm.total_output_tokens == 4 + 5
    assert llm.total_cost == pytest.approx((7 * 0.15 + 9 * 0.60) / 1e6)


def test_tools_and_their_results_go_out_in_cohere_s_shape(fake_cohere: FakeCohereServer) -> None:
    def lookup(term: str) -> str:
        """Looks a term up."""
        return f"{term} means hello"

    llm = llmp.LLM(MODEL, cache=False)
    answer = llm.complete("What does ciao mean?", tools=[lookup], max_turns=2)
    assert answer.text.startswith("The tool said: ")
    first, second = (r.body for r in fake_cohere.requests)
    assert first["tools"][0] == {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Looks a term up.",
            "parameters": llmp.tool(lookup).parameters,
        },
    }
    assert second["messages"][1]["tool_calls"][0]["function"]["name"] == "lookup"
    assert second["messages"][2]["role"] == "tool"
    assert second["messages"][2]["tool_call_id"] == second["messages"][1]["tool_calls"][0]["id"]


def test_a_named_tool_choice_offers_only_that_tool_and_requires_it() -> None:
    request = Request(
        "command-r",
        [{"role": "user", "content": "x"}],
        tools=[llmp.Tool("a"), llmp.Tool("b")],
        tool_choice="b",
    )
    body = request_body(request, stream=False)
    assert [t["function"]["name"] for t in body["tools"]] == ["b"]
    assert body["tool_choice"] == "REQUIRED"


def test_n_is_sent_as_separate_requests_by_the_core(fake_cohere: FakeCohereServer) -> None:
    llm = llmp.LLM(MODEL, cache=False)
    assert llm.generate(["hi"], n=2) == [["Echo: hi", "Echo: hi"]]
    assert fake_cohere.request_count == 2
    assert llm.usage.requests == 2


def test_a_rejected_key_and_a_missing_key(
    fake_cohere: FakeCohereServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", "co-wrong-key-123456")
    with pytest.raises(llmp.errors.AuthenticationError) as info:
        llmp.LLM(MODEL, cache=False).chat("hi")
    assert info.value.status_code == 401
    assert "co-wrong-key-123456" not in str(info.value)
    monkeypatch.delenv("COHERE_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="COHERE_API_KEY or COHERE_KEYS"):
        llmp.LLM(MODEL)


def test_context_window_errors_are_recognised(fake_cohere: FakeCohereServer) -> None:
    fake_cohere.inject(StatusError(400, message="too many tokens: the prompt exceeds 128000"), times=None)
    with pytest.raises(llmp.errors.ContextWindowExceededError):
        llmp.LLM(MODEL, cache=False).chat("hi")


def test_what_cohere_cannot_do_fails_before_sending(fake_cohere: FakeCohereServer) -> None:
    llm = llmp.LLM(MODEL, cache=False)
    with pytest.raises(UnsupportedFeatureError, match="read images"):
        llm.complete([{"role": "user", "content": [llmp.image(b"\x89PNG\r\n\x1a\n0000")]}])
    with pytest.raises(UnsupportedFeatureError, match="logprobs"):
        llm.chat("hi", logprobs=True)
    with pytest.raises(UnsupportedParameterError, match="logit_bias"):
        llm.chat("hi", logit_bias={"1": 1})
    assert fake_cohere.request_count == 0


def test_stream_events_and_prices_offline() -> None:
    end = json.dumps(
        {
            "type": "message-end",
            "delta": {
                "finish_reason": "MAX_TOKENS",
                "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}},
            },
        }
    )
    reader = StreamReader()
    finish, usage = reader.feed(end)
    assert (finish.finish_reason, usage.usage) == ("length", Usage(5, 0, 2))
    assert reader.ended
    assert reader.feed('{"type": "content-start", "index": 0}') == []
    total = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost("cohere", "command-a-03-2025", total, "standard").total == pytest.approx(12.50)
    assert cost("cohere", "command-a-03-2025", total, "batch") is None
    assert cost("cohere", "no-such-model", total, "standard") is None
