"""Rich results through the public API: tools, the tool loop, structured output, images, events."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypedDict

import pytest
from pydantic import BaseModel

import llmp
from llmp import errors
from llmp.types import Choice, Request, Response, ToolCall, Usage

MakeLLM = Callable[..., Any]


class City(BaseModel):
    name: str
    population: int


class CityDict(TypedDict):
    name: str
    population: int


@dataclasses.dataclass
class CityData:
    name: str
    population: int


def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The current weather in a city.

    Args:
        city: The city's name, e.g. "Paris".
        unit: Celsius or Fahrenheit.
    """
    return f"sunny and 21 {unit} in {city}"


def agent(request: Request) -> Any:
    """Calls `weather` for a user turn, answers with the tool's result after one."""
    last = request.messages[-1]
    if last["role"] == "tool":
        return f"Answer: {last['content']}"
    return Choice(tool_calls=[ToolCall("call_1", "weather", json.dumps({"city": "Paris"}))])


# -- tool definitions ----------------------------------------------------------------------


def test_a_tool_from_a_typed_function_has_its_schema_and_docs() -> None:
    tool = llmp.tool(weather)
    assert tool.name == "weather"
    assert tool.description == "The current weather in a city."
    props = tool.parameters["properties"]
    assert props["city"]["type"] == "string"
    assert props["city"]["description"] == 'The city\'s name, e.g. "Paris".'
    assert props["unit"]["enum"] == ["C", "F"]
    assert tool.parameters["required"] == ["city"]


@pytest.mark.parametrize(
    ("func", "problem"),
    [
        (lambda city: city, "no type annotation"),
        (lambda *args: None, "cannot be described"),
    ],
)
def test_a_tool_whose_schema_cannot_be_built_is_a_typed_error(func: Any, problem: str) -> None:
    func.__name__ = "bad_tool"
    with pytest.raises(errors.ToolDefinitionError, match=problem):
        llmp.tool(func)


def test_a_tool_with_an_unserialisable_parameter_type_is_a_typed_error() -> None:
    def f(x: Callable[[int], int]) -> None:
        """Takes a callable."""

    with pytest.raises(errors.ToolDefinitionError, match="pydantic cannot build"):
        llmp.tool(f)


def test_tools_given_as_dicts_in_both_shapes(make_llm: MakeLLM) -> None:
    llm, client = make_llm(agent, cache=False)
    plain = {"name": "weather", "description": "d", "parameters": {"type": "object", "properties": {}}}
    openai_shape = {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}}}
    llm.complete("hi", tools=[plain, openai_shape])
    assert [t.name for t in client.requests[0].tools] == ["weather", "time"]


@pytest.mark.parametrize(
    ("tools", "match"),
    [
        ([{"name": "has space"}], "1-64 letters"),
        ([{"name": "f", "parameters": {"type": "array"}}], "JSON Schema object"),
        ([weather, weather], "two tools are named"),
        ("weather", "must be a list"),
    ],
)
def test_bad_tools_are_refused_before_sending(make_llm: MakeLLM, tools: Any, match: str) -> None:
    llm, client = make_llm(agent)
    with pytest.raises(errors.ToolDefinitionError, match=match):
        llm.complete("hi", tools=tools)
    assert client.request_count == 0


def test_tool_choice_must_name_a_tool(make_llm: MakeLLM) -> None:
    llm, client = make_llm(agent)
    with pytest.raises(errors.ConfigurationError, match="tool_choice"):
        llm.complete("hi", tools=[weather], tool_choice="nope")
    llm.complete("hi", tools=[weather], tool_choice="weather")
    assert client.requests[0].tool_choice == "weather"


def test_text_results_with_tools_need_rich_or_a_loop(make_llm: MakeLLM) -> None:
    llm, client = make_llm(agent)
    with pytest.raises(errors.ConfigurationError, match="rich=True"):
        llm.generate(["hi"], tools=[weather])
    assert client.request_count == 0


# -- the tool loop ---------------------------------------------------------------------------


def test_a_tool_round_trip_runs_the_function_and_returns_the_answer(make_llm: MakeLLM) -> None:
    llm, client = make_llm(agent)
    response = llm.complete("Weather in Paris?", tools=[weather], max_turns=3)
    assert response.text == "Answer: sunny and 21 C in Paris"
    assert response.messages is not None
    assert [m["role"] for m in response.messages] == ["user", "assistant", "tool", "assistant"]
    assert response.messages[2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "sunny and 21 C in Paris",
    }
    assert response.usage.input_tokens == sum(
        sum(len(str(m.get("content") or "").split()) for m in r.messages) for r in client.requests
    )
    # A rerun is served from the cache, turn by turn: no request.
    again = llm.complete("Weather in Paris?", tools=[weather], max_turns=3)
    assert again.text == response.text
    assert again.cached
    assert client.request_count == 2


def test_the_tool_loop_works_inside_a_running_event_loop(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(agent)

    async def main() -> tuple[str, str]:
        sync_answer = llm.complete("Weather?", tools=[weather], max_turns=3).text  # sync inside a loop
        async_answer = (await llm.acomplete("Weather?", tools=[weather], max_turns=3)).text
        return sync_answer, async_answer

    assert asyncio.run(main()) == ("Answer: sunny and 21 C in Paris",) * 2


def test_generate_runs_the_loop_per_prompt(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(agent)
    assert llm.generate(["a", "b"], tools=[weather], max_turns=2) == [["Answer: sunny and 21 C in Paris"]] * 2


def test_parallel_calls_run_concurrently_and_answer_in_order(make_llm: MakeLLM) -> None:
    started: list[str] = []
    both = asyncio.Event()

    async def slow_lookup(key: str) -> str:
        """Looks a key up."""
        started.append(key)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)  # finishes only if the other call runs at once
        return f"value of {key}"

    def two_calls(request: Request) -> Any:
        if request.messages[-1]["role"] == "tool":
            return " | ".join(m["content"] for m in request.messages if m["role"] == "tool")
        calls = [ToolCall(f"c{i}", "slow_lookup", json.dumps({"key": k})) for i, k in enumerate("xy")]
        return Choice(tool_calls=calls)

    llm, _ = make_llm(two_calls)
    answer = llm.complete("both", tools=[slow_lookup], max_turns=2)
    assert answer.text == "value of x | value of y"


def test_malformed_or_invalid_arguments_go_back_to_the_model(make_llm: MakeLLM) -> None:
    seen: list[str] = []

    def sloppy(request: Request) -> Any:
        last = request.messages[-1]
        if last["role"] == "tool":
            seen.extend(m["content"] for m in request.messages if m["role"] == "tool")
            return "ok then"
        return Choice(
            tool_calls=[
                ToolCall("a", "weather", '{"city": '),  # not JSON
                ToolCall("b", "weather", '{"city": 5, "unit": "K"}'),  # fails validation
                ToolCall("c", "nope", "{}"),  # no such tool
            ]
        )

    llm, _ = make_llm(sloppy)
    assert llm.complete("x", tools=[weather], max_turns=2).text == "ok then"
    assert seen[0].startswith("Error:")
    assert "not valid JSON" in seen[0]
    assert seen[1].startswith("Error: invalid arguments for weather")
    assert "no tool named 'nope'" in seen[2]


def test_tool_call_args_raise_a_clear_error_on_malformed_json() -> None:
    call = ToolCall("id", "f", "[1, 2")
    with pytest.raises(errors.ToolCallError, match="not valid JSON") as info:
        call.args()
    assert info.value.arguments == "[1, 2"
    with pytest.raises(errors.ToolCallError, match="not an object"):
        ToolCall("id", "f", "[1, 2]").args()


def test_max_turns_returns_pending_calls_for_rich_and_raises_for_text(make_llm: MakeLLM) -> None:
    def always_calls(request: Request) -> Any:
        return Choice(tool_calls=[ToolCall("c", "weather", '{"city": "X"}')])

    llm, client = make_llm(always_calls, cache=False)
    response = llm.complete("x", tools=[weather], max_turns=2)
    assert response.tool_calls
    assert response.finish_reason == "tool_calls"
    assert client.request_count == 2
    with pytest.raises(errors.GenerationError) as info:
        llm.generate(["x"], tools=[weather], max_turns=2)
    assert isinstance(info.value.errors[0], errors.MaxTurnsError)


def test_a_loop_needs_functions(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(agent)
    with pytest.raises(errors.ConfigurationError, match="definitions without one"):
        llm.complete("x", tools=[{"name": "weather"}], max_turns=2)


# -- structured output ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [City, CityDict, CityData], ids=["pydantic", "typeddict", "dataclass"])
def test_generate_with_a_schema_returns_validated_values(make_llm: MakeLLM, kind: Any) -> None:
    llm, client = make_llm(lambda r: '{"name": "Paris", "population": 2100000}')
    results = llm.generate(["a", "b"], response_format=kind)
    value = results[0][0]
    if kind is City:
        assert value == City(name="Paris", population=2100000)
    elif kind is CityData:
        assert value == CityData("Paris", 2100000)
    else:
        assert value == {"name": "Paris", "population": 2100000}
    schema = client.requests[0].output_schema
    assert schema is not None
    assert schema.name == kind.__name__
    assert schema.schema["properties"]["population"]["type"] == "integer"


def test_a_json_schema_dict_is_validated_without_pydantic_models(make_llm: MakeLLM) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm, _ = make_llm(lambda r: '{"n": "three"}', output_retries=0)
    with pytest.raises(errors.GenerationError) as info:
        llm.generate(["x"], response_format=schema)
    error = info.value.errors[0]
    assert isinstance(error, errors.OutputValidationError)
    assert "$.n is str, expected integer" in str(error)


def test_an_invalid_reply_is_asked_again_then_raised_with_the_raw_text(make_llm: MakeLLM) -> None:
    replies = iter(['{"name": "X"}', '{"name": "Y"}', '{"name": "Paris", "population": 1}'])
    llm, client = make_llm(lambda r: next(replies), output_retries=1)
    with pytest.raises(errors.OutputValidationError) as info:
        llm.complete("x", response_format=City)
    assert info.value.raw == '{"name": "Y"}'
    assert client.request_count == 2
    assert llm.complete("x", response_format=City).parsed == City(name="Paris", population=1)
    assert llm.complete("x", response_format=City).cached, "only the valid answer was cached"


@pytest.mark.parametrize(
    ("fmt", "match"),
    [
        (5, "must be a pydantic model"),
        ({"type": "array", "items": {}}, "JSON object"),
        (list[int], "JSON object"),
    ],
)
def test_a_bad_response_format_is_refused_before_sending(make_llm: MakeLLM, fmt: Any, match: str) -> None:
    llm, client = make_llm("{}")
    with pytest.raises(errors.ConfigurationError, match=match):
        llm.generate(["x"], response_format=fmt)
    assert client.request_count == 0


# -- reasoning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("high", llmp.Reasoning(effort="high")),
        (2048, llmp.Reasoning(budget_tokens=2048)),
        (False, llmp.Reasoning(enabled=False)),
        ("none", llmp.Reasoning(enabled=False)),
    ],
)
def test_one_reasoning_parameter(make_llm: MakeLLM, value: Any, expected: llmp.Reasoning) -> None:
    llm, client = make_llm("x", cache=False)
    llm.complete("x", reasoning=value)
    assert client.requests[-1].reasoning == expected
    llm.chat("x", reasoning_effort=value if isinstance(value, str) else None)
    if isinstance(value, str):
        assert client.requests[-1].reasoning == expected, "OpenAI's reasoning_effort means the same"


def test_a_bad_reasoning_value_names_the_argument(make_llm: MakeLLM) -> None:
    llm, _ = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match="reasoning='extreme'"):
        llm.complete("x", reasoning="extreme")


# -- images -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_image_from_a_file_bytes_or_url(tmp_path: Path) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(PNG)
    from_file = llmp.image(path)
    assert from_file["image_url"]["url"].startswith("data:image/png;base64,")
    assert llmp.image(PNG) == from_file
    assert llmp.image("https://example.com/a.jpg", detail="low") == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.jpg", "detail": "low"},
    }


def test_a_missing_or_unsupported_image_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match="does not exist"):
        llmp.image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(errors.ConfigurationError, match="not a PNG, JPEG, GIF or WebP"):
        llmp.image(tmp_path / "notes.txt")


def test_a_malformed_image_part_is_refused_before_sending(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x")
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "/home/me/pic.png"}}]}]
    with pytest.raises(errors.ConfigurationError, match=r"messages\[0\]\.content\[0\]"):
        llm.complete(bad)
    assert client.request_count == 0


# -- rich streaming ----------------------------------------------------------------------------


def test_stream_events_joins_text_reasoning_and_tool_calls(make_llm: MakeLLM) -> None:
    arguments = json.dumps({"city": "Paris", "unit": "C"})
    llm, _ = make_llm(
        lambda r: Choice(reasoning="thinking hard", tool_calls=[ToolCall("c9", "weather", arguments)]),
        client_kwargs={"chunk_size": 3},
    )
    events = llm.stream_events("x", tools=[weather])
    chunks = list(events)
    fragments = [c.tool_call.arguments for c in chunks if c.tool_call is not None]
    assert len(fragments) > 5, "arguments arrived in fragments"
    assert "".join(c.reasoning for c in chunks) == "thinking hard"
    response = events.response
    assert response.tool_calls == [ToolCall("c9", "weather", arguments)]
    assert response.reasoning == "thinking hard"
    assert chunks[-1].usage is not None
    cached = llm.stream_events("x", tools=[weather])
    assert [c.tool_call.arguments for c in cached if c.tool_call] == [arguments]  # replayed from the cache
    assert cached.response.cached


def test_the_response_of_an_unfinished_stream_is_an_error(make_llm: MakeLLM) -> None:
    llm, _ = make_llm("a b c d e f")
    with llm.stream_events("x") as events:
        next(iter(events))
        with pytest.raises(RuntimeError, match="has not finished"):
            events.response  # noqa: B018


def test_a_response_round_trips_through_json() -> None:
    response = Response(
        [
            Choice(
                text="t",
                reasoning="r",
                tool_calls=[ToolCall("i", "n", "{}", {"sig": "abc"})],
                finish_reason="tool_calls",
                extra={"thinking_blocks": [1]},
            )
        ],
        Usage(1, 0, 2, details={"x": 3}),
        model="m",
        id="id",
        cost=0.5,
        provider="p",
    )
    again = Response.from_dict(json.loads(json.dumps(response.to_dict())))
    assert again.choices == response.choices
    assert again.usage == response.usage
    assert (again.model, again.id, again.cost, again.provider) == ("m", "id", 0.5, "p")
    message = again.choices[0].message()
    assert message["tool_calls"][0]["extra"] == {"sig": "abc"}
    assert message["extra"] == {"thinking_blocks": [1]}
