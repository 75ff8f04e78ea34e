"""Rich results end to end over the wire: tool loops with Gemini 3's thought signatures, streamed
tool calls and thoughts, images, tool choice and schemas as Gemini receives them, and the cache."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp.errors import BadRequestError, UnsupportedParameterError
from llmp.testing._conformance import PNG
from llmp_gemini.testing import FakeGeminiServer

MakeLLM = Callable[..., llmp.LLM]


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


def bodies(server: FakeGeminiServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("Content")]


def test_a_tool_loop_on_gemini_3_sends_each_signature_back(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    answer = llm.complete("parallel: weather and time", tools=[weather, clock], max_turns=3, reasoning="low")
    assert answer.text == "The tool said: sunny in city; noon in zone"
    first, second = bodies(fake_gemini)
    assert first["generationConfig"]["thinkingConfig"] == {"thinking_level": "LOW", "include_thoughts": True}
    call_turn, results = second["contents"][1:]
    signed, unsigned = call_turn["parts"]
    assert signed["functionCall"] == {"args": {"city": "city"}, "name": "weather"}
    assert signed["thoughtSignature"], "the first call of the step goes back with its signature"
    assert "thoughtSignature" not in unsigned
    assert [p["functionResponse"] for p in results["parts"]] == [
        {"name": "weather", "response": {"result": "sunny in city"}},
        {"name": "clock", "response": {"result": "noon in zone"}},
    ]
    assert results["role"] == "user"
    # The fake refuses the turn without the signature, as Gemini 3 does: the signature matters.
    messages = answer.messages
    assert messages is not None
    stripped = [dict(m) for m in messages[:-1]]
    stripped[1]["tool_calls"] = [
        {k: v for k, v in c.items() if k != "extra"} for c in stripped[1]["tool_calls"]
    ]
    with pytest.raises(BadRequestError, match="missing a thought_signature") as info:
        llm.complete(stripped, tools=[weather, clock])
    assert info.value.status_code == 400


def test_a_streamed_tool_call_arrives_whole_with_its_signature_and_thoughts(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    events = llm.stream_events("weather please", tools=[weather], reasoning="low")
    chunks = list(events)
    assert "".join(c.reasoning for c in chunks) == "Thinking about weather please."
    (delta,) = [c.tool_call for c in chunks if c.tool_call is not None]
    assert (delta.position, delta.name, delta.arguments) == (0, "weather", '{"city":"city"}')
    assert delta.extra is not None
    assert delta.extra["thought_signature"]
    response = events.response
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert call.id == delta.id
    assert call.extra == delta.extra
    streamed_turn = response.choices[0].message()
    follow = llm.complete(
        [
            {"role": "user", "content": "weather please"},
            streamed_turn,
            {"role": "tool", "tool_call_id": call.id, "content": "rain"},
        ],
        tools=[weather],
    )
    assert follow.text == "The tool said: rain"


def test_tool_choice_and_output_schema_reach_the_wire(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    llm = make_llm("gemini/gemini-2.5-flash")
    forced = llm.complete("what time is it?", tools=[weather, clock], tool_choice="clock")
    assert [c.name for c in forced.tool_calls] == ["clock"]
    assert bodies(fake_gemini)[-1]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["clock"]}
    }
    assert llm.generate(["a city"], response_format=City) == [[City(name="name")]]
    config = bodies(fake_gemini)[-1]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"] == {"name": {"title": "Name", "type": "string"}}


def test_images_go_inline_or_by_url_and_unsupported_ones_are_refused(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    message = [{"role": "user", "content": [{"type": "text", "text": "what?"}, llmp.image(PNG)]}]
    assert llm.chat(message) == "Echo: what? [saw 1 image(s)]"
    url = [
        {"role": "user", "content": [{"type": "text", "text": "and?"}, llmp.image("https://x.test/a.jpeg")]}
    ]
    assert llm.chat(url) == "Echo: and? [saw 1 image(s)]"
    inline, by_url = (body["contents"][0]["parts"][1] for body in bodies(fake_gemini))
    assert inline == {"inlineData": {"data": base64.b64encode(PNG).decode(), "mime_type": "image/png"}}
    assert by_url == {"fileData": {"file_uri": "https://x.test/a.jpeg", "mime_type": "image/jpeg"}}
    gif = [{"role": "user", "content": [llmp.image(b"GIF89a" + b"\0" * 8)]}]
    with pytest.raises(UnsupportedParameterError, match="does not take image/gif"):
        llm.chat(gif)
    assert fake_gemini.request_count == 2


def test_the_cache_keeps_signatures_so_a_cached_turn_continues(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm(cache=True)
    first = llm.complete("weather in Paris?", tools=[weather])
    again = make_llm(cache=True).complete("weather in Paris?", tools=[weather])
    assert again.cached
    assert fake_gemini.request_count == 1
    assert again.tool_calls == first.tool_calls, "ids, arguments and thought signatures"
    turn = [
        {"role": "user", "content": "weather in Paris?"},
        again.choices[0].message(),
        {"role": "tool", "tool_call_id": again.tool_calls[0].id, "content": "cloudy"},
    ]
    assert llm.complete(turn, tools=[weather]).text == "The tool said: cloudy"
