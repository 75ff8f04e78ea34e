"""Requests as llmp-openai sends them: parameters, messages, tools, schemas, reasoning.

Bodies are checked against the openai SDK's own request types (the ground truth for the wire).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from llmp.errors import UnsupportedParameterError
from llmp.types import ClientSettings, OutputSchema, Reasoning, Request, Tool
from llmp_openai._client import OpenAIClient
from llmp_openai._hosts import HOSTS, host_for
from llmp_openai._params import effective_params
from llmp_openai._prices import cost
from llmp_openai._request import request_body

USER = [{"role": "user", "content": "hi"}]
WEATHER = Tool("weather", "The weather.", {"type": "object", "properties": {"city": {"type": "string"}}})


def body(request: Request, provider: str = "openai", *, stream: bool = False) -> dict[str, Any]:
    return request_body(request, host_for(provider), None, stream=stream, provider=provider)


def sdk_valid(data: dict[str, Any]) -> None:
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    TypeAdapter(CompletionCreateParamsNonStreaming).validate_python(data)


def test_reasoning_models_take_max_completion_tokens_and_refuse_other_sampling() -> None:
    openai = HOSTS["openai"]
    assert effective_params("openai", openai, "o3-mini", {"max_tokens": 50}) == {"max_completion_tokens": 50}
    assert effective_params("openai", openai, "gpt-5-mini", {"temperature": 1}) == {"temperature": 1}
    for name in ("temperature", "top_p"):
        with pytest.raises(UnsupportedParameterError, match=f"o4-mini is a reasoning model.*{name}"):
            effective_params("openai", openai, "o4-mini", {name: 0.2})
    with pytest.raises(UnsupportedParameterError, match="not both"):
        effective_params("openai", openai, "o3", {"max_tokens": 5, "max_completion_tokens": 6})
    # Chat models, "gpt-5-chat" and other hosts' o-like names keep their parameters.
    assert effective_params("openai", openai, "gpt-5-chat-latest", {"temperature": 0.2, "max_tokens": 5}) == {
        "temperature": 0.2,
        "max_tokens": 5,
    }
    assert effective_params("local", HOSTS["local"], "o3-local", {"max_tokens": 5}) == {"max_tokens": 5}


def test_host_rules_refuse_and_rename_parameters() -> None:
    with pytest.raises(UnsupportedParameterError, match="top_k"):
        effective_params("openai", HOSTS["openai"], "gpt-4.1-mini", {"top_k": 5})
    assert effective_params("local", HOSTS["local"], "m", {"top_k": 5}) == {"top_k": 5}
    assert effective_params("mistral", HOSTS["mistral"], "mistral-small-latest", {"seed": 3}) == {
        "random_seed": 3
    }


def test_a_plain_request_is_just_model_and_messages_and_streams_ask_for_usage() -> None:
    request = Request("gpt-4.1-mini", list(USER), params={"max_tokens": 5, "temperature": 0})
    assert body(request) == {"model": "gpt-4.1-mini", "messages": USER, "max_tokens": 5, "temperature": 0}
    streamed = body(request, stream=True)
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body(Request("mistral-small-latest", list(USER)), "mistral", stream=True)
    sdk_valid(body(request))


def test_extra_body_is_merged_raw_and_route_extras_fill_in() -> None:
    request = Request("m", list(USER), params={"extra_body": {"provider": {"order": ["a"]}, "top_a": 1}})
    out = request_body(request, host_for("openrouter"), {"provider": {"sort": "price"}}, stream=False)
    assert out["provider"] == {"order": ["a"]}, "the request's own extra_body wins"
    assert out["top_a"] == 1
    assert "extra_body" not in out
    out = request_body(
        Request("m", list(USER)), host_for("openrouter"), {"provider": {"sort": "price"}}, stream=False
    )
    assert out["provider"] == {"sort": "price"}


def test_llmp_keys_on_assistant_turns_are_not_sent() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning": "let me think",
            "extra": {"signature": "x"},
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": "{}"},
                    "extra": {"thought_signature": "y"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    sent = body(Request("gpt-4.1-mini", messages, tools=[WEATHER]))["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    }
    assert messages[1]["reasoning"] == "let me think", "the caller's messages are not changed"
    assert sent[0] is messages[0]
    assert sent[2] is messages[2]
    plain = [{"role": "user", "content": "x"}]
    assert body(Request("gpt-4.1-mini", plain))["messages"] is plain, "no copy when nothing is to drop"


def test_deepseek_gets_the_reasoning_of_tool_calling_turns_back() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "reasoning": "use the tool", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "sunny", "reasoning": "easy"},
        {"role": "user", "content": "thanks"},
    ]
    sent = body(Request("deepseek-reasoner", messages, tools=[WEATHER]), "deepseek")["messages"]
    assert sent[1]["reasoning_content"] == "use the tool"
    assert "reasoning" not in sent[1]
    assert sent[3] == {"role": "assistant", "content": "sunny"}, "a turn without tool calls does not need it"
    assert "reasoning_content" not in body(Request("gpt-4.1", messages, tools=[WEATHER]))["messages"][1]


def test_tools_tool_choice_and_parallel_calls() -> None:
    strict = Tool("strict_one", "", {"type": "object", "properties": {"a": {"type": "integer"}}}, strict=True)
    request = Request(
        "gpt-4.1-mini", list(USER), tools=[WEATHER, strict], tool_choice="weather", parallel_tool_calls=False
    )
    out = body(request)
    sdk_valid(out)
    assert out["tools"][0] == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather.",
            "parameters": dict(WEATHER.parameters),
        },
    }
    assert out["tools"][1]["function"]["strict"] is True
    assert out["tools"][1]["function"]["parameters"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert out["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert out["parallel_tool_calls"] is False
    assert (
        body(Request("m", list(USER), tools=[WEATHER], tool_choice="required"))["tool_choice"] == "required"
    )


def test_mistral_says_any_and_offers_only_the_named_tool() -> None:
    other = Tool("other", "", {"type": "object", "properties": {}})
    out = body(
        Request("mistral-small-latest", list(USER), tools=[WEATHER, other], tool_choice="other"), "mistral"
    )
    assert out["tool_choice"] == "any"
    assert [t["function"]["name"] for t in out["tools"]] == ["other"]
    out = body(
        Request("mistral-small-latest", list(USER), tools=[WEATHER], tool_choice="required"), "mistral"
    )
    assert out["tool_choice"] == "any"


def test_output_schema_is_json_schema_in_strict_form() -> None:
    schema = OutputSchema("City report!", {"type": "object", "properties": {"name": {"type": "string"}}})
    out = body(Request("gpt-4.1-mini", list(USER), output_schema=schema))
    sdk_valid(out)
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "City_report_",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    loose = body(Request("m", list(USER), output_schema=OutputSchema("x", dict(schema.schema), strict=False)))
    assert loose["response_format"]["json_schema"]["schema"] == dict(schema.schema)


@pytest.mark.parametrize(
    ("model", "reasoning", "sent"),
    [
        ("o4-mini", Reasoning(effort="high"), "high"),
        ("gpt-5-mini", Reasoning(effort="minimal"), "minimal"),
        ("gpt-5.1", Reasoning(enabled=False), "none"),
        ("o3", Reasoning(), "medium"),
    ],
)
def test_reasoning_is_reasoning_effort(model: str, reasoning: Reasoning, sent: str) -> None:
    out = body(Request(model, list(USER), reasoning=reasoning))
    assert out["reasoning_effort"] == sent
    sdk_valid(out)


@pytest.mark.parametrize(
    ("model", "reasoning", "match"),
    [
        ("o4-mini", Reasoning(budget_tokens=2000), "token budget"),
        ("o4-mini", Reasoning(enabled=False), "cannot turn reasoning off"),
        ("gpt-5", Reasoning(enabled=False), "reasoning='minimal'"),
        ("o3", Reasoning(effort="minimal"), "'minimal' is for the gpt-5 family"),
        ("gpt-4.1", Reasoning(effort="low"), "not a reasoning model"),
    ],
)
def test_a_reasoning_setting_the_model_cannot_take_is_refused(
    model: str, reasoning: Reasoning, match: str
) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        body(Request(model, list(USER), reasoning=reasoning))


def test_openrouter_gets_its_reasoning_object_and_other_hosts_an_effort() -> None:
    def sent(reasoning: Reasoning, provider: str = "openrouter") -> Any:
        out = body(Request("deepseek/deepseek-r1", list(USER), reasoning=reasoning), provider)
        return out.get("reasoning", out.get("reasoning_effort"))

    assert sent(Reasoning(effort="low")) == {"effort": "low"}
    assert sent(Reasoning(budget_tokens=900)) == {"max_tokens": 900}
    assert sent(Reasoning(enabled=False)) == {"enabled": False}
    assert sent(Reasoning(effort="high"), "groq") == "high"
    with pytest.raises(UnsupportedParameterError, match="token budget"):
        sent(Reasoning(budget_tokens=900), "xai")
    with pytest.raises(UnsupportedParameterError, match="takes no reasoning setting"):
        sent(Reasoning(effort="low"), "zhipu")
    assert sent(Reasoning(effort="high"), "deepseek") == "high"
    off = body(Request("deepseek-reasoner", list(USER), reasoning=Reasoning(enabled=False)), "deepseek")
    assert off["thinking"] == {"type": "disabled"}
    assert "reasoning_effort" not in off


def test_capabilities_by_model_family() -> None:
    client = OpenAIClient(ClientSettings("openai", "openai", "https://example.invalid/v1", "k"))
    mini = client.capabilities("gpt-4.1-mini")
    assert (mini.tools, mini.parallel_tool_calls, mini.json_schema, mini.vision, mini.logprobs) == (True,) * 5
    assert (mini.reasoning, mini.reasoning_text, mini.batch, mini.embeddings) == (
        True is False,
        False,
        True,
        False,
    )
    o4 = client.capabilities("o4-mini")
    assert (o4.reasoning, o4.reasoning_text, o4.logprobs, o4.tools) == (True, False, False, True)
    assert not client.capabilities("o1").parallel_tool_calls
    assert not client.capabilities("o3-mini").vision
    legacy = client.capabilities("gpt-3.5-turbo")
    assert (legacy.tools, legacy.json_schema, legacy.vision) == (True, False, False)
    assert not client.capabilities("chatgpt-4o-latest").tools
    embed = client.capabilities("text-embedding-3-small")
    assert (embed.embeddings, embed.tools, embed.streaming) == (True, False, False)
    assert "verbosity" in mini.params


def test_hosts_capabilities_and_route_overrides() -> None:
    def caps(provider: str, model: str, **options: Any) -> Any:
        return OpenAIClient(
            ClientSettings(provider, "openai", "https://x.invalid/v1", "k", options)
        ).capabilities(model)

    deepseek = caps("deepseek", "deepseek-reasoner")
    assert (deepseek.tools, deepseek.reasoning_text, deepseek.json_schema, deepseek.n) == (
        True,
        True,
        False,
        False,
    )
    assert deepseek.reasoning, "reasoning_effort, and thinking disabled for off"
    assert caps("groq", "openai/gpt-oss-120b").reasoning
    assert not caps("groq", "llama-3.3-70b-versatile").reasoning
    assert caps("xai", "grok-3-mini").reasoning
    assert not caps("xai", "grok-4").reasoning
    assert caps("mistral", "pixtral-large-latest").vision
    assert not caps("mistral", "mistral-small-latest").vision
    assert caps("mistral", "mistral-embed").embeddings
    assert not caps("sambanova", "Meta-Llama-3.3-70B-Instruct").batch
    overridden = caps("local", "m", capabilities={"tools": False, "params": ["foo"]})
    assert not overridden.tools
    assert overridden.params == frozenset({"foo"})
    with pytest.raises(Exception, match="unknown capabilities"):
        caps("local", "m", capabilities={"toools": False})


def test_prices() -> None:
    from llmp.types import Usage

    usage = Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000_000)
    c = cost("openai", "gpt-4.1-mini-2025-04-14", usage, "standard")
    assert c is not None
    assert c.total == pytest.approx(0.5 * 0.40 + 0.5 * 0.10 + 1.60)
    b = cost("openai", "gpt-4.1-mini", usage, "batch")
    assert b is not None
    assert b.total == pytest.approx(c.total / 2)
    assert cost("openai", "gpt-unknown-model", usage, "standard") is None
    assert cost("local", "whatever", usage, "standard") is None
    assert cost("ollama", "llama3", usage, "standard") is None
    assert cost("sambanova", "Meta-Llama-3.3-70B-Instruct", usage, "batch") is None
    deepseek = cost("deepseek", "deepseek-chat", usage, "standard")
    assert deepseek is not None
    assert deepseek.total == pytest.approx(0.5 * 0.28 + 0.5 * 0.028 + 0.42)
    embedding = cost("openai", "text-embedding-3-small", Usage(input_tokens=1_000_000), "standard")
    assert embedding is not None
    assert embedding.total == pytest.approx(0.02)
