"""Replies as llmp-openai reads them: bodies and stream events, each fixture a valid SDK object
(``openai.types.chat``), plus the shapes OpenAI-compatible hosts send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Chunk, TokenLogprob, ToolCall, ToolCallDelta, Usage
from llmp_openai._response import chunks_from_event, parse_completion


def completion(*choices: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    from openai.types.chat import ChatCompletion

    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": list(choices),
        "usage": usage,
    }
    ChatCompletion.model_validate(data)
    return data


def choice(index: int = 0, finish: str = "stop", logprobs: Any = None, **message: Any) -> dict[str, Any]:
    return {
        "index": index,
        "message": {"role": "assistant", **message},
        "finish_reason": finish,
        "logprobs": logprobs,
    }


def parse(data: dict[str, Any]) -> Any:
    return parse_completion(json.dumps(data).encode(), "openai")


def event(*choices: dict[str, Any], usage: dict[str, Any] | None = None) -> bytes:
    from openai.types.chat import ChatCompletionChunk

    data = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": list(choices),
    }
    if usage is not None:
        data["usage"] = usage
    ChatCompletionChunk.model_validate(data)
    return json.dumps(data).encode()


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "finish_reason": finish, "logprobs": None}


def test_texts_in_index_order_finish_reasons_and_usage_details() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "total_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 7, "accepted_prediction_tokens": 3},
    }
    response = parse(completion(choice(1, content="B"), choice(0, "length", content="A"), usage=usage))
    assert response.texts == ["A", "B"]
    assert [c.finish_reason for c in response.choices] == ["length", "stop"]
    assert response.usage == Usage(
        10, 4, 20, 7, 0, {"input_audio_tokens": 2, "accepted_prediction_tokens": 3}
    )
    assert (response.model, response.id) == ("gpt-4.1-mini", "chatcmpl-1")


def test_tool_calls_refusals_and_logprobs() -> None:
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{"}},
    ]
    logprobs = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.5,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": None}],
            }
        ],
        "refusal": None,
    }
    response = parse(
        completion(
            choice(0, "tool_calls", content=None, tool_calls=calls),
            choice(1, content=None, refusal="I can't help with that."),
            choice(2, content="Hi", logprobs=logprobs),
        )
    )
    first, refused, scored = response.choices
    assert first.tool_calls == [
        ToolCall("call_a", "weather", '{"city":"Paris"}'),
        ToolCall("call_b", "time", "{"),
    ]
    assert (first.text, first.finish_reason) == ("", "tool_calls")
    assert (refused.refusal, refused.text, refused.finish_reason) == ("I can't help with that.", "", "stop")
    assert scored.logprobs == [TokenLogprob("Hi", -0.5, (("Hi", -0.5),))]


@pytest.mark.parametrize(
    ("data", "texts"),
    [
        ({"choices": [choice(content="")]}, [""]),
        ({"choices": [choice(content=None)]}, [""]),
        ({"choices": []}, []),
        ({"choices": None}, []),
    ],
    ids=["empty", "null", "no-choices", "null-choices"],
)
def test_empty_answers_are_returned_as_they_came(data: dict[str, Any], texts: list[str]) -> None:
    # The core judges them (EmptyResponseError / IncompleteResponseError); the plugin never raises.
    response = parse({"id": "x", "model": "m", **data, "usage": {"prompt_tokens": 3, "completion_tokens": 0}})
    assert response.texts == texts
    assert response.usage.input_tokens == 3


def test_bodies_that_cannot_be_read_are_malformed_and_200_errors_are_server_errors() -> None:
    for raw in (b"{not json", b"[1, 2]", b'{"id": "x"}', b'{"choices": [1]}'):
        with pytest.raises(MalformedResponseError):
            parse_completion(raw, "openai")
    with pytest.raises(ServerError, match="upstream overloaded"):
        parse_completion(b'{"error": {"message": "upstream overloaded", "code": 502}}', "openrouter")


def test_compatible_hosts_reasoning_content_parts_and_quirks() -> None:
    deepseek = parse(completion(choice(content="4", reasoning_content="2+2 is 4")))
    assert (deepseek.text, deepseek.choices[0].reasoning) == ("4", "2+2 is 4")
    openrouter = parse({"choices": [choice(content="4", reasoning="thought")], "usage": None})
    assert openrouter.choices[0].reasoning == "thought"
    mistral = parse(
        {
            "choices": [
                choice(
                    content=[
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "4"},
                    ]
                )
            ]
        }
    )
    assert (mistral.text, mistral.choices[0].reasoning) == ("4", "hmm")
    ollama = parse(
        {
            "choices": [
                choice(
                    "stop",
                    content="",
                    tool_calls=[{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
                )
            ]
        }
    )
    assert ollama.choices[0].tool_calls == [ToolCall("c", "f", '{"a":1}')], "arguments given as an object"
    assert ollama.choices[0].finish_reason == "tool_calls", "'stop' after tool calls means tool_calls"
    cached = parse(
        {"choices": [choice(content="x")], "usage": {"prompt_tokens": 9, "prompt_cache_hit_tokens": 6}}
    )
    assert cached.usage.cached_input_tokens == 6, "DeepSeek's cache hits"
    assert (
        parse({"choices": [choice(finish="model_length", content="x")]}).choices[0].finish_reason == "length"
    )
    assert (
        parse({"choices": [choice(finish="weird_new_reason", content="x")]}).choices[0].finish_reason is None
    )


def test_stream_events_as_openai_sends_them() -> None:
    head = chunks_from_event(event(delta(role="assistant", content="", refusal=None)), "openai", head=True)
    assert [(c.model, c.id, c.text) for c in head] == [("m", "c1", "")]
    assert chunks_from_event(event(delta(content="Hel")), "openai") == [Chunk("Hel", 0)]
    assert chunks_from_event(event(delta(1, content="lo")), "openai") == [Chunk("lo", 1)]
    (finish,) = chunks_from_event(event(delta(finish="stop")), "openai")
    assert finish.finish_reason == "stop"
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    (last,) = chunks_from_event(event(usage=usage), "openai")
    assert last.usage == Usage(2, 0, 3)


def test_streamed_tool_calls_refusals_and_reasoning() -> None:
    first = event(
        delta(
            role="assistant",
            content=None,
            tool_calls=[
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ],
        )
    )
    (header,) = chunks_from_event(first, "openai")
    assert header.tool_call == ToolCallDelta(0, "call_a", "weather", "")
    (fragment,) = chunks_from_event(
        event(delta(tool_calls=[{"index": 1, "function": {"arguments": '{"ci'}}])), "openai"
    )
    assert fragment.tool_call == ToolCallDelta(1, None, None, '{"ci')
    (refusal,) = chunks_from_event(event(delta(refusal="I can't")), "openai")
    assert refusal.refusal == "I can't"
    (thought,) = chunks_from_event(
        json.dumps({"choices": [delta(reasoning_content="hmm")]}).encode(), "deepseek"
    )
    assert thought.reasoning == "hmm"
    both = chunks_from_event(
        json.dumps({"choices": [delta(reasoning="a", content="b")]}).encode(), "openrouter"
    )
    assert [(c.reasoning, c.text) for c in both] == [("a", ""), ("", "b")]
    (finish,) = chunks_from_event(event(delta(finish="tool_calls")), "openai")
    assert finish.finish_reason == "tool_calls"


def test_stream_errors_and_bad_events() -> None:
    with pytest.raises(ServerError, match="overloaded"):
        chunks_from_event(b'{"error": {"message": "overloaded"}}', "openai")
    for raw in (b"{not json", b"[1]", b'{"choices": [{"delta": {"tool_calls": [1]}}]}'):
        with pytest.raises(MalformedResponseError):
            chunks_from_event(raw, "openai")
