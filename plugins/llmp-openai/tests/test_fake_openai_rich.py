"""The fake OpenAI server's rich wire, read by the openai SDK itself: tool calls (and their
streamed fragments), json_schema output, refusals, reasoning text of compatible hosts, images,
logprobs, the EmptyAnswer shapes, embeddings, and the 400s OpenAI gives for what it refuses."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmp.testing import EmptyAnswer
from llmp.testing._conformance import PNG
from llmp_openai.testing import FakeOpenAIServer

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}


@asynccontextmanager
async def sdk(server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with httpx2.AsyncClient(http2=True) as http:
        yield openai.AsyncOpenAI(
            http_client=http, base_url=server.base_url, api_key=server.api_key, max_retries=0
        )


async def both(
    server: FakeOpenAIServer, **kwargs: Any
) -> tuple[ChatCompletion, list[ChatCompletionChunk], Any]:
    """The same request without and with streaming; the stream accumulated by the SDK's helper."""
    kwargs.setdefault("model", "gpt-4.1-mini")
    async with sdk(server) as client:
        whole = await client.chat.completions.create(**kwargs)
        stream = await client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState(input_tools=kwargs.get("tools", []))
    for chunk in chunks:
        state.handle_chunk(chunk)
    return whole, chunks, state.get_final_completion()


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def test_tool_calls_stream_as_openai_sends_them(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.chunk_count = 4
    whole, chunks, joined = await both(fake_openai, messages=user("weather in Paris?"), tools=[WEATHER])
    (call,) = whole.choices[0].message.tool_calls or []
    assert whole.choices[0].finish_reason == "tool_calls"
    assert whole.choices[0].message.content is None
    assert call.type == "function"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "city"}
    # First delta: role, content null, the call's id/type/name and empty arguments; then fragments.
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", None)
    head = (first.tool_calls or [])[0]
    assert (
        head.index,
        head.type,
        head.function and head.function.name,
        head.function and head.function.arguments,
    ) == (0, "function", "weather", "")
    assert head.id
    assert head.id.startswith("call_")
    fragments = [
        c.choices[0].delta.tool_calls for c in chunks[1:] if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(fragments) == 4
    assert all(f[0].id is None and f[0].function and f[0].function.name is None for f in fragments)
    assert (
        "".join(f[0].function.arguments or "" for f in fragments if f[0].function) == call.function.arguments
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]
    streamed = (joined.choices[0].message.tool_calls or [])[0]
    assert (streamed.function.name, streamed.function.arguments) == ("weather", call.function.arguments)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens >= 1


async def test_parallel_calls_tool_choice_and_tool_results(fake_openai: FakeOpenAIServer) -> None:
    whole, _, joined = await both(fake_openai, messages=user("parallel please"), tools=[WEATHER, TIME])
    names = [c.function.name for c in whole.choices[0].message.tool_calls or []]
    assert names == ["weather", "time"]
    assert [c.function.name for c in joined.choices[0].message.tool_calls or []] == names
    ids = [c.id for c in whole.choices[0].message.tool_calls or []]
    assert len(set(ids)) == 2
    forced, _, _ = await both(
        fake_openai,
        messages=user("weather?"),
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "time"}},
    )
    assert [c.function.name for c in forced.choices[0].message.tool_calls or []] == ["time"]
    serial, _, _ = await both(
        fake_openai, messages=user("parallel"), tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert len(serial.choices[0].message.tool_calls or []) == 1
    turns: list[Any] = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    answer, _, streamed = await both(fake_openai, messages=turns, tools=[WEATHER])
    assert answer.choices[0].message.content == "The tool said: sunny"
    assert streamed.choices[0].message.content == "The tool said: sunny"


async def test_json_schema_is_honoured_and_strict_mode_checked(fake_openai: FakeOpenAIServer) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "City", "schema": CITY, "strict": True}}
    whole, _, joined = await both(fake_openai, messages=user("a city"), response_format=fmt)
    assert json.loads(whole.choices[0].message.content or "") == {"name": "name", "population": 1}
    assert joined.choices[0].message.content == whole.choices[0].message.content
    loose = {**CITY, "additionalProperties": True}
    async with sdk(fake_openai) as client:
        with pytest.raises(openai.BadRequestError, match="'additionalProperties' is required"):
            await client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=user("x"),
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "City", "schema": loose, "strict": True},
                },
            )
        partial = {**CITY, "required": ["name"]}
        strict_tool = {"type": "function", "function": {"name": "f", "parameters": partial, "strict": True}}
        with pytest.raises(openai.BadRequestError, match="Missing 'population'"):
            await client.chat.completions.create(
                model="gpt-4.1-mini", messages=user("x"), tools=[strict_tool]
            )


async def test_refusals_in_body_and_stream(fake_openai: FakeOpenAIServer) -> None:
    whole, chunks, joined = await both(fake_openai, messages=user("REFUSE to help"))
    message = whole.choices[0].message
    assert (message.content, message.refusal) == (None, "I can't help with that.")
    assert chunks[0].choices[0].delta.refusal == ""
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices) == "I can't help with that."
    assert joined.choices[0].message.refusal == "I can't help with that."


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_compatible_host_mode_sends_reasoning_text(fake_openai: FakeOpenAIServer, field: str) -> None:
    fake_openai.reasoning_field = field
    whole, chunks, _ = await both(fake_openai, messages=user("think about it"))
    data = whole.choices[0].message.model_dump()
    assert data[field] == "Thinking about think about it."
    assert whole.choices[0].message.content == "Echo: think about it"
    deltas = [c.choices[0].delta.model_dump() for c in chunks if c.choices]
    assert "".join(d.get(field) or "" for d in deltas) == "Thinking about think about it."
    assert whole.usage is not None
    assert whole.usage.completion_tokens_details is not None
    assert whole.usage.completion_tokens_details.reasoning_tokens == 5  # its words
    fake_openai.reasoning_field = None
    plain, _, _ = await both(fake_openai, messages=user("think about it"))
    assert field not in plain.choices[0].message.model_dump(exclude_unset=True)


async def test_images_are_counted_and_validated(fake_openai: FakeOpenAIServer) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    parts: list[Any] = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    whole, _, _ = await both(fake_openai, messages=[{"role": "user", "content": parts}])
    assert whole.choices[0].message.content == "Echo: what? [saw 1 image(s)]"
    async with sdk(fake_openai) as client:
        for url, match in [
            ("data:image/tiff;base64,AAAA", "unsupported MIME type"),
            ("data:image/png;base64,@@not base64@@", "unsupported image"),
            ("ftp://example.com/x.png", "Invalid image URL"),
        ]:
            bad: Any = [{"type": "image_url", "image_url": {"url": url}}]
            with pytest.raises(openai.BadRequestError, match=match):
                await client.chat.completions.create(
                    model="gpt-4.1-mini", messages=[{"role": "user", "content": bad}]
                )


async def test_logprobs_in_body_and_stream(fake_openai: FakeOpenAIServer) -> None:
    whole, chunks, _ = await both(fake_openai, messages=user("a b"), logprobs=True, top_logprobs=2)
    content = (whole.choices[0].logprobs and whole.choices[0].logprobs.content) or []
    assert [t.token for t in content] == ["Echo:", " a", " b"]
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)
    streamed = [
        t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content or []
    ]
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]


@pytest.mark.parametrize("shape", ["empty", "null", "no_choices", "done_only"])
async def test_empty_answers_in_every_shape(fake_openai: FakeOpenAIServer, shape: str) -> None:
    fake_openai.inject(EmptyAnswer(shape, "length"), times=2)
    async with sdk(fake_openai) as client:
        whole = await client.chat.completions.create(model="gpt-4.1-mini", messages=user("x"))
        stream = await client.chat.completions.create(
            model="gpt-4.1-mini", messages=user("x"), stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    if shape in ("no_choices", "done_only"):
        assert whole.choices == []
    else:
        assert [(c.message.content, c.finish_reason) for c in whole.choices] == [
            ("" if shape == "empty" else None, "length")
        ]
    texts = [c.choices[0].delta.content for c in chunks if c.choices]
    if shape == "done_only":
        assert chunks == [], "a stream of only [DONE]"
    elif shape == "no_choices":
        assert [c.choices for c in chunks] == [[]]
    else:
        assert texts == ["" if shape == "empty" else None, None]
    assert whole.usage is not None
    assert whole.usage.prompt_tokens == 1


async def test_unknown_fields_and_llmp_keys_are_400s(fake_openai: FakeOpenAIServer) -> None:
    async with httpx2.AsyncClient(http2=True) as http:

        async def post(body: dict[str, Any]) -> Any:
            url = f"{fake_openai.base_url}/chat/completions"
            return await http.post(url, json=body, headers={"authorization": f"Bearer {fake_openai.api_key}"})

        base = {"model": "gpt-4.1-mini", "messages": user("x")}
        reply = await post({**base, "extra_body": {"a": 1}})
        assert reply.status_code == 400
        assert reply.json()["error"]["message"] == "Unrecognized request argument supplied: extra_body"
        assert (await post({**base, "top_k": 3})).status_code == 200, "compatible hosts' fields pass"
        turns = [*user("x"), {"role": "assistant", "content": "y", "reasoning": "z"}, *user("again")]
        reply = await post({"model": "m", "messages": turns})
        assert reply.status_code == 400
        assert "('reasoning' was unexpected) - 'messages.1'" in reply.json()["error"]["message"]
        orphan = [*user("x"), {"role": "tool", "tool_call_id": "call_none", "content": "r"}]
        reply = await post({"model": "m", "messages": orphan})
        assert reply.status_code == 400
        assert "must be a response to a preceeding message" in reply.json()["error"]["message"]
        reply = await post({**base, "tool_choice": "auto"})
        assert "only allowed when 'tools' are specified" in reply.json()["error"]["message"]
        reply = await post({**base, "reasoning_effort": "max"})
        assert reply.status_code == 400


async def test_embeddings_parse_with_the_sdk(fake_openai: FakeOpenAIServer) -> None:
    async with sdk(fake_openai) as client:
        # The SDK asks for base64 by default and decodes it.
        reply = await client.embeddings.create(
            model="text-embedding-3-small", input=["a b", "c"], dimensions=8
        )
        floats = await client.embeddings.create(
            model="text-embedding-3-small", input=["a b", "c"], dimensions=8, encoding_format="float"
        )
        with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
            await client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)
    assert [len(item.embedding) for item in reply.data] == [8, 8]
    assert [round(x, 5) for x in reply.data[0].embedding] == [round(x, 5) for x in floats.data[0].embedding]
    assert reply.data[0].embedding != reply.data[1].embedding
    assert reply.usage.prompt_tokens == 3
