"""Rich requests and results through the real litellm to the fake Anthropic server: tools,
thinking (with a tool loop), structured output, images, refusals, finish reasons, what is sent."""

import base64
import copy
from typing import Any

import pytest
from pydantic import BaseModel

import llmp
from llmp import errors
from llmp_litellm.testing import FakeAnthropicServer
from llmp_litellm.testing._anthropic_content import STRUCTURED_OUTPUTS_BETA

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def weather(city: str) -> str:
    """The current weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def clock(zone: str) -> str:
    """The current time in a time zone.

    Args:
        zone: An IANA time zone.
    """
    return f"noon in {zone}"


class City(BaseModel):
    name: str
    population: int


def bodies(server: FakeAnthropicServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path == "/v1/messages"]


# -- tools -------------------------------------------------------------------------------------


def test_tools_go_as_anthropic_tools_and_results_as_tool_result_blocks(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    llm = make_llm()
    answer = llm.complete("weather in Paris?", tools=[weather], tool_choice="weather", max_turns=3)
    assert answer.text == "The tool said: sunny in city"
    first, second = bodies(fake_anthropic)
    (tool,) = first["tools"]
    assert tool["name"] == "weather"
    assert tool["input_schema"]["properties"]["city"]["type"] == "string"
    assert tool["description"].startswith("The current weather in a city.")
    assert first["tool_choice"] == {"type": "tool", "name": "weather"}
    assistant, results = second["messages"][1:]
    (use,) = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert (use["name"], use["input"]) == ("weather", {"city": "city"})
    assert use["id"].startswith("toolu_")
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": use["id"], "content": "sunny in city"}
    ]


def test_parallel_calls_and_their_switch(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm()
    both = llm.complete("parallel: weather and time", tools=[weather, clock])
    assert [c.name for c in both.tool_calls] == ["weather", "clock"]
    assert both.finish_reason == "tool_calls"
    assert len({c.id for c in both.tool_calls}) == 2
    one = llm.complete("parallel: weather and time", tools=[weather, clock], parallel_tool_calls=False)
    assert [c.name for c in one.tool_calls] == ["weather"]
    assert bodies(fake_anthropic)[-1]["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_streamed_tool_arguments_arrive_in_fragments(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    fake_anthropic.chunk_count = 5  # five input_json_delta events per call
    llm = make_llm()
    events = llm.stream_events("parallel: weather and time", tools=[weather, clock])
    deltas = [c.tool_call for c in events if c.tool_call is not None]
    by_position: dict[int, list[Any]] = {}
    for delta in deltas:
        by_position.setdefault(delta.position, []).append(delta)
    assert sorted(by_position) == [0, 1]
    for position, name in ((0, "weather"), (1, "clock")):
        pieces = by_position[position]
        assert (pieces[0].id is not None, pieces[0].name) == (True, name)
        assert len([p for p in pieces if p.arguments]) == 5
    streamed = events.response
    assert [(c.name, c.args()) for c in streamed.tool_calls] == [
        ("weather", {"city": "city"}),
        ("clock", {"zone": "zone"}),
    ]
    assert streamed.finish_reason == "tool_calls"


# -- thinking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        ("minimal", {"type": "enabled", "budget_tokens": 1024}),
        ("low", {"type": "enabled", "budget_tokens": 2048}),
        ("high", {"type": "enabled", "budget_tokens": 16384}),
        (5000, {"type": "enabled", "budget_tokens": 5000}),
        (False, {"type": "disabled"}),
    ],
)
def test_reasoning_is_a_thinking_budget(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, reasoning: Any, thinking: dict[str, Any]
) -> None:
    response = make_llm().complete("think about it", reasoning=reasoning)
    assert bodies(fake_anthropic)[-1]["thinking"] == thinking
    if thinking["type"] == "enabled":
        assert response.reasoning == "Thinking about think about it."
        (block,) = response.choices[0].extra["thinking_blocks"]
        assert (block["type"], block["thinking"]) == ("thinking", response.reasoning)
        assert block["signature"]
    else:
        assert response.reasoning is None
        assert response.choices[0].extra is None
    assert response.text == "Echo: think about it"
    assert response.usage.reasoning_tokens == 0  # Anthropic does not count them; no estimate


def test_streamed_thinking_equals_the_call(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm()
    called = llm.complete("think about it", reasoning="low")
    events = llm.stream_events("think about it", reasoning="low")
    chunks = list(events)
    assert len([c for c in chunks if c.reasoning]) == 5  # one thinking_delta per word
    assert "".join(c.reasoning for c in chunks) == called.reasoning
    assert events.response.choices[0].extra == called.choices[0].extra  # signature included
    assert events.response.text == called.text


@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_loop_with_thinking_sends_the_signed_blocks_back(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, streamed: bool
) -> None:
    llm = make_llm()
    prompt = [{"role": "user", "content": "weather in Paris?"}]
    if streamed:
        events = llm.stream_events(prompt, tools=[weather], reasoning="low")
        list(events)
        first = events.response
    else:
        first = llm.complete(prompt, tools=[weather], reasoning="low")
    (call,) = first.tool_calls
    turn = first.choices[0].message()
    assert turn["extra"]["thinking_blocks"][0]["signature"]
    result = {"role": "tool", "tool_call_id": call.id, "content": weather(**call.args())}
    answer = llm.complete([*prompt, turn, result], tools=[weather], reasoning="low")
    assert answer.text == "The tool said: sunny in city"
    sent = bodies(fake_anthropic)[-1]["messages"][1]
    assert [b["type"] for b in sent["content"]] == ["thinking", "tool_use"]
    assert sent["content"][0] == turn["extra"]["thinking_blocks"][0]
    assert "extra" not in sent
    assert "reasoning" not in sent
    looped = llm.complete(prompt, tools=[weather], reasoning="low", max_turns=3)
    assert looped.text == "The tool said: sunny in city"


def test_an_altered_thinking_block_is_refused_by_the_api(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    llm = make_llm()
    prompt = [{"role": "user", "content": "weather in Paris?"}]
    first = llm.complete(prompt, tools=[weather], reasoning="low")
    (call,) = first.tool_calls
    result = {"role": "tool", "tool_call_id": call.id, "content": "sunny"}
    altered = copy.deepcopy(first.choices[0].message())
    altered["extra"]["thinking_blocks"][0]["thinking"] = "I changed my mind."
    with pytest.raises(errors.BadRequestError, match="Invalid `signature`"):
        llm.complete([*prompt, altered, result], tools=[weather], reasoning="low")
    dropped = {k: v for k, v in first.choices[0].message().items() if k != "extra"}
    with pytest.raises(errors.BadRequestError, match="must start with a thinking block"):
        llm.complete([*prompt, dropped, result], tools=[weather], reasoning="low")


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"reasoning": 500}, "smallest thinking budget"),
        ({"reasoning": "low", "max_tokens": 2048}, "greater than the thinking budget"),
        ({"reasoning": "low", "temperature": 0.2}, "temperature"),
        ({"reasoning": "low", "top_k": 5}, "top_k"),
        ({"reasoning": "low", "tools": [weather], "tool_choice": "weather"}, "forces a tool"),
        ({"reasoning": "low", "tools": [weather], "tool_choice": "required"}, "forces a tool"),
    ],
)
def test_thinking_settings_the_api_refuses_fail_before_sending(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, options: dict[str, Any], complaint: str
) -> None:
    llm = make_llm()
    with pytest.raises(errors.UnsupportedParameterError, match=complaint):
        llm.complete("x", **options)
    with pytest.raises(errors.UnsupportedParameterError, match=complaint):
        list(llm.stream_events("x", **options))
    assert fake_anthropic.request_count == 0
    assert llm.chat("x") == "Echo: x"  # nothing was left holding a slot


# -- structured output, images -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-6", "anthropic/claude-haiku-4-5"])
def test_structured_output_as_litellm_sends_it(
    fake_anthropic: FakeAnthropicServer, registry: llmp.Registry, model: str
) -> None:
    llm = llmp.LLM(model, registry=registry, cache=False, max_retries=0)
    assert llm.generate(["describe a city"], response_format=City) == [[City(name="name", population=1)]]
    streamed = llm.stream_events("describe a city", response_format=City)
    list(streamed)
    assert streamed.response.parsed == City(name="name", population=1)
    assert streamed.response.finish_reason == "stop"
    record = fake_anthropic.requests[-1]
    if model.endswith("sonnet-4-6"):
        # Sonnet/Opus 4.5 and later: Anthropic's own structured outputs, under their beta header.
        assert record.body["output_format"]["type"] == "json_schema"
        assert record.body["output_format"]["schema"]["additionalProperties"] is False
        assert STRUCTURED_OUTPUTS_BETA in record.headers["anthropic-beta"]
        assert "tools" not in record.body
    else:
        # Older models: litellm's forced json_tool_call tool, read back as text.
        assert [t["name"] for t in record.body["tools"]] == ["json_tool_call"]
        assert record.body["tool_choice"] == {"name": "json_tool_call", "type": "tool"}
        assert "output_format" not in record.body


def test_an_image_data_url_becomes_an_image_block(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    message = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, llmp.image(PNG)]}]
    assert make_llm().complete(message).text == "Echo: What is this? [saw 1 image(s)]"
    (image,) = [b for b in bodies(fake_anthropic)[-1]["messages"][0]["content"] if b["type"] == "image"]
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG).decode(),
    }
    wrong = {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(PNG).decode()},
    }
    with pytest.raises(errors.BadRequestError, match="does not match the provided media type"):
        make_llm().complete([{"role": "user", "content": [wrong]}])


# -- how answers end ---------------------------------------------------------------------------


def test_finish_reasons_in_llmps_words(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    llm = make_llm()
    assert llm.complete("one two three").finish_reason == "stop"  # end_turn
    assert llm.complete("one two three", stop=["two"]).finish_reason == "stop"  # stop_sequence
    assert llm.complete("one two three", max_tokens=2).finish_reason == "length"  # max_tokens
    assert llm.complete("x", tools=[weather]).finish_reason == "tool_calls"  # tool_use


@pytest.mark.parametrize("streamed", [False, True])
def test_a_refusal_is_a_refusal_and_never_cached(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, streamed: bool
) -> None:
    llm = make_llm(cache=True)
    if streamed:
        events = llm.stream_events("REFUSE this")
        list(events)
        response = events.response
    else:
        response = llm.complete("REFUSE this")
    assert response.finish_reason == "content_filter"  # stop_reason "refusal"
    assert response.choices[0].refusal is not None
    assert "refusal" in response.choices[0].refusal
    with pytest.raises(errors.RefusalError):
        llm.chat("REFUSE this")
    assert fake_anthropic.request_count == 2, "a refusal was served from the cache"
