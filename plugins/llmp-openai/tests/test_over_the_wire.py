"""Rich results through llmp and llmp-openai to the fake OpenAI server (TLS, HTTP/2): what a
user gets from complete / stream_events / generate, and the answers llmp must not take as one."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import llmp
from llmp.errors import EmptyResponseError, IncompleteResponseError, RefusalError
from llmp.testing import EmptyAnswer
from llmp.types import ToolCallDelta
from llmp_openai.testing import FakeOpenAIServer

MODEL = "gpt-4.1-mini"


def chats(server: FakeOpenAIServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def weather(city: str, unit: str = "celsius") -> str:
    """The current weather in a city.

    Args:
        city: The city's name.
        unit: celsius or fahrenheit.
    """
    return f"sunny in {city}"


class City(BaseModel):
    name: str
    population: int


def test_a_streamed_tool_call_arrives_as_fragments_and_joins_to_the_call(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.chunk_count = 6
    llm = llmp.LLM(MODEL, cache=False)
    whole = llm.complete("weather?", tools=[weather])
    events = llm.stream_events("weather?", tools=[weather])
    deltas = [c.tool_call for c in events if c.tool_call is not None]
    assert len(deltas) == 1 + 6, "the call's head (id and name, no arguments), then six fragments"
    head, *fragments = deltas
    assert head == ToolCallDelta(0, head.id, "weather", "")
    assert head.id is not None
    assert head.id.startswith("call_")
    assert all(d.id is None and d.name is None and d.arguments for d in fragments)
    (call,) = events.response.tool_calls
    assert call.arguments == "".join(d.arguments for d in fragments)
    assert call.args() == {"city": "city", "unit": "unit"}
    assert [(c.name, c.args()) for c in whole.tool_calls] == [(call.name, call.args())]
    assert events.response.finish_reason == whole.finish_reason == "tool_calls"
    body = chats(fake_openai)[-1].body
    assert body["tools"][0]["function"]["parameters"]["required"] == ["city"]


def test_tool_loop_sends_results_back_without_llmp_keys(fake_openai: FakeOpenAIServer) -> None:
    answer = llmp.LLM(MODEL, cache=False).complete("weather?", tools=[weather], max_turns=3)
    assert answer.text == "The tool said: sunny in city"
    second = chats(fake_openai)[-1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]
    assert set(second[1]) <= {"role", "content", "tool_calls"}, "the fake answers 400 to unknown keys"


def test_structured_output_is_sent_strict_and_validated(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM(MODEL, cache=False)
    assert (
        llm.generate(["a city", "another"], response_format=City, n=2)
        == [[City(name="name", population=1)] * 2] * 2
    )
    spec = chats(fake_openai)[-1].body["response_format"]
    assert spec["json_schema"]["name"] == "City"
    assert spec["json_schema"]["schema"]["additionalProperties"] is False


def test_refusals_are_choices_for_rich_calls_and_errors_for_text(
    fake_openai: FakeOpenAIServer, tmp_path: Any
) -> None:
    llm = llmp.LLM(MODEL, cache=str(tmp_path))
    response = llm.complete("REFUSE this")
    assert response.choices[0].refusal == "I can't help with that."
    assert response.text == ""
    with pytest.raises(RefusalError, match="can't help"):
        llm.chat("REFUSE this")
    events = llm.stream_events("REFUSE this")
    assert "".join(c.refusal for c in events) == "I can't help with that."
    assert fake_openai.request_count == 3, "a refusal is never cached"


def test_reasoning_text_of_a_compatible_host(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reasoning_field = "reasoning_content"
    llm = llmp.LLM("local/qwen3", base_url=fake_openai.base_url, api_key=fake_openai.api_key, cache=False)
    response = llm.complete("why?")
    assert (response.text, response.reasoning) == ("Echo: why?", "Thinking about why?.")
    events = llm.stream_events("why?")
    assert "".join(c.reasoning for c in events) == "Thinking about why?."
    assert events.response.reasoning == response.reasoning
    assert response.usage.reasoning_tokens == 3


def test_a_deepseek_tool_loop_sends_the_reasoning_back(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.reasoning_field = "reasoning_content"  # DeepSeek's thinking mode
    monkeypatch.setenv("DEEPSEEK_API_KEY", fake_openai.api_key)
    llm = llmp.LLM("deepseek/deepseek-reasoner", base_url=fake_openai.base_url, cache=False)
    answer = llm.complete("weather?", tools=[weather], max_turns=3, reasoning="high")
    assert answer.text == "The tool said: sunny in city"
    first, second = (r.body for r in chats(fake_openai))
    assert first["reasoning_effort"] == "high"
    assert second["messages"][1]["reasoning_content"] == "Thinking about weather?."
    assert "reasoning" not in second["messages"][1]


def test_openai_reasoning_models_get_the_effort_and_report_reasoning_tokens(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.reasoning_tokens = 12
    response = llmp.LLM("o4-mini", cache=False).complete("think", reasoning="low")
    assert chats(fake_openai)[-1].body["reasoning_effort"] == "low"
    assert response.usage.reasoning_tokens == 12
    assert response.reasoning is None, "OpenAI's Chat Completions sends no reasoning text"


def test_images_logprobs_and_what_the_wire_says(fake_openai: FakeOpenAIServer) -> None:
    from llmp.testing._conformance import PNG

    llm = llmp.LLM(MODEL, cache=False)
    message = [{"role": "user", "content": [{"type": "text", "text": "what?"}, llmp.image(PNG)]}]
    assert llm.complete(message).text == "Echo: what? [saw 1 image(s)]"
    response = llm.complete("a b", logprobs=True, top_logprobs=2)
    assert [t.token for t in response.choices[0].logprobs or []] == ["Echo:", " a", " b"]
    assert all(len(t.top) == 2 for t in response.choices[0].logprobs or [])
    events = llm.stream_events("a b", logprobs=True, top_logprobs=2)
    list(events)
    assert events.response.choices[0].logprobs == response.choices[0].logprobs
    assert response.request_id is not None
    assert response.request_id.startswith("req_")
    assert response.id is not None
    assert response.id.startswith("chatcmpl-")
    assert (response.model, response.http_version) == (MODEL, "HTTP/2")
    assert events.response.id is not None
    assert events.response.id.startswith("chatcmpl-")


def test_embeddings(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("text-embedding-3-small", cache=False)
    vectors = llm.embed(["one two", "three"], dimensions=8)
    assert [len(v) for v in vectors] == [8, 8]
    assert vectors[0] != vectors[1]
    assert llm.embed("one two", dimensions=8) == [vectors[0]]
    assert llm.total_input_tokens == 3 + 2
    assert llm.total_cost == pytest.approx(5 * 0.02 / 1e6)
    (record, *_) = [r for r in fake_openai.requests if r.path == "/v1/embeddings"]
    assert record.body == {
        "model": "text-embedding-3-small",
        "input": ["one two", "three"],
        "encoding_format": "float",
        "dimensions": 8,
    }
    with pytest.raises(llmp.errors.UnsupportedFeatureError):
        llmp.LLM(MODEL).embed("x")


# ----- answers that are not answers (issue 15, items 11-13) -----------------------------------


@pytest.mark.parametrize("shape", ["empty", "null", "no_choices", "done_only"])
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_an_empty_answer_in_every_shape_is_an_error_and_never_cached(
    fake_openai: FakeOpenAIServer, tmp_path: Any, shape: str, stream: bool
) -> None:
    fake_openai.inject(EmptyAnswer(shape), times=1)
    llm = llmp.LLM(MODEL, cache=str(tmp_path), temperature=0)
    # choices: [] and a bare [DONE] bring fewer samples than asked for; the others one empty one.
    # (A stream's usage-only chunk counts as sample 0 in the core, so there it is an empty one.)
    short = shape == "done_only" or (shape == "no_choices" and not stream)
    expected = IncompleteResponseError if short else EmptyResponseError
    call = (lambda: list(llm.stream("hello"))) if stream else (lambda: llm.chat("hello"))
    with pytest.raises(expected) as info:
        call()
    assert info.value.usage is not None
    assert fake_openai.request_count == 1, "an answer that cannot differ is not retried"
    # A later run against a healthy server asks again instead of returning a cached empty answer.
    again = llmp.LLM(MODEL, cache=str(tmp_path), temperature=0)
    assert again.generate(["hello"]) == [["Echo: hello"]]
    assert fake_openai.request_count == 2
    assert again.usage.cache_hits == 0


def test_no_choices_is_a_typed_error_not_an_index_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(EmptyAnswer("no_choices"), times=None)
    llm = llmp.LLM(MODEL, cache=False, temperature=0)
    with pytest.raises(IncompleteResponseError, match="asked for n=1 samples, the provider returned 0"):
        llm.chat("x")
    with pytest.raises(IncompleteResponseError) as info:
        llm.complete("x")
    response = info.value.response
    assert response.choices == []
    assert response.usage.input_tokens == 1, "the billed usage comes with the error"


def test_fewer_samples_than_n_is_an_error_with_what_came(
    fake_openai: FakeOpenAIServer, tmp_path: Any
) -> None:
    fake_openai.max_choices = 1
    llm = llmp.LLM(MODEL, cache=str(tmp_path))
    with pytest.raises(IncompleteResponseError, match="n=3") as info:
        llm.complete("x", n=3)
    assert info.value.response.texts == ["Echo: x"]
    (error,) = llm.generate(["x"], n=3, on_error="return")
    assert isinstance(error, IncompleteResponseError)
    assert chats(fake_openai)[-1].body["n"] == 3
    fake_openai.max_choices = None
    assert llm.generate(["x"], n=3) == [["Echo: x", "Echo: x [1]", "Echo: x [2]"]], "nothing short was cached"
