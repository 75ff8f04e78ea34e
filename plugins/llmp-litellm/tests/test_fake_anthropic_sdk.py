"""The fake Anthropic server's wire against the anthropic SDK's own models, the ground truth:
every reply body is a valid ``anthropic.types.Message``, every stream event a valid raw stream
event that the SDK's own accumulator turns into the same message; the requests litellm sends are
valid ``MessageCreateParams``; and the fake refuses what the API refuses."""

import base64
from typing import Any

import httpx
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from pydantic import BaseModel, TypeAdapter

from llmp.testing import EmptyAnswer
from llmp_litellm.testing import FakeAnthropicServer
from llmp_litellm.testing._anthropic_content import STRUCTURED_OUTPUTS_BETA
from llmp_litellm.testing._anthropic_wire import parse_sse

EVENTS: dict[str, type[BaseModel]] = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
}
WEATHER = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def body(text: str = "one two three", **overrides: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **overrides,
    }


def no_extras(model: BaseModel) -> None:
    """Every field the fake sent is one the SDK knows (its models allow extra fields)."""
    assert not model.model_extra, f"{type(model).__name__}: unknown fields {model.model_extra}"
    for value in model.__dict__.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                no_extras(item)


def message(http: httpx.Client, request: dict[str, Any], **headers: str) -> Message:
    response = http.post("/v1/messages", json=request, headers=headers)
    assert response.status_code == 200, response.text
    parsed = Message.model_validate(response.json())
    no_extras(parsed)
    return parsed


def streamed(http: httpx.Client, request: dict[str, Any], **headers: str) -> Message:
    """The SSE events, each validated by its SDK model, accumulated by the SDK's own code."""
    response = http.post("/v1/messages", json={**request, "stream": True}, headers=headers)
    assert response.status_code == 200, response.text
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for name, data in parse_sse(response.content):
        if name == "ping":
            continue
        event = EVENTS[name].model_validate(data)
        no_extras(event)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    return Message.model_validate(snapshot.model_dump())


def shape(message: Message) -> dict[str, Any]:
    """A message without what each request has of its own (ids) or a stream counts its own way
    (usage is compared apart)."""
    data = message.model_dump(exclude={"id", "usage"})
    for block in data["content"]:
        if block["type"] == "tool_use":
            assert block.pop("id").startswith("toolu_")
    return data


CASES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "text": (body(), {}),
    "tool_use": (body("weather?", tools=[WEATHER]), {}),
    "parallel": (body("parallel please", tools=[WEATHER, {**WEATHER, "name": "clock"}]), {}),
    "thinking": (body(thinking={"type": "enabled", "budget_tokens": 2048}), {}),
    "thinking_tool": (body("w?", tools=[WEATHER], thinking={"type": "enabled", "budget_tokens": 2048}), {}),
    "output_format": (
        body(output_format={"type": "json_schema", "schema": CITY}),
        {"anthropic-beta": STRUCTURED_OUTPUTS_BETA},
    ),
    "output_config": (body(output_config={"format": {"type": "json_schema", "schema": CITY}}), {}),
    "refusal": (body("REFUSE this"), {}),
    "image": (
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is it"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(PNG).decode(),
                            },
                        },
                    ],
                }
            ]
        ),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_replies_and_streams_are_the_sdks_messages(http: httpx.Client, case: str) -> None:
    request, headers = CASES[case]
    whole = message(http, request, **headers)
    joined = streamed(http, request, **headers)
    assert shape(joined) == shape(whole)
    assert joined.usage.output_tokens == whole.usage.output_tokens
    assert joined.usage.input_tokens == whole.usage.input_tokens
    kinds = [block.type for block in whole.content]
    expected = {
        "text": (["text"], "end_turn"),
        "tool_use": (["tool_use"], "tool_use"),
        "parallel": (["tool_use", "tool_use"], "tool_use"),
        "thinking": (["thinking", "text"], "end_turn"),
        "thinking_tool": (["thinking", "tool_use"], "tool_use"),
        "output_format": (["text"], "end_turn"),
        "output_config": (["text"], "end_turn"),
        "refusal": ([], "refusal"),
        "image": (["text"], "end_turn"),
    }[case]
    assert (kinds, whole.stop_reason) == expected
    if case.startswith("output_"):
        assert whole.content[0].text == '{"name": "name", "population": 1}'  # type: ignore[union-attr]
    if case == "image":
        assert whole.content[0].text.endswith("[saw 1 image(s)]")  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", ["empty", "null", "no_choices", "done_only"])
def test_empty_answers_in_the_sdks_shapes(
    http: httpx.Client, fake_anthropic: FakeAnthropicServer, shape: str
) -> None:
    fake_anthropic.inject(EmptyAnswer(shape), times=2)
    whole = message(http, body())
    joined = streamed(http, body())
    expected = [{"type": "text", "text": "", "citations": None}] if shape == "empty" else []
    assert [b.model_dump() for b in whole.content] == expected
    assert [b.model_dump() for b in joined.content] == expected
    assert whole.stop_reason == joined.stop_reason == "end_turn"
    assert whole.usage.input_tokens == 3


def test_requests_litellm_sends_are_the_sdks_params(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    from pydantic import BaseModel as Model

    class City(Model):
        name: str
        population: int

    def weather(city: str) -> str:
        """The weather."""
        return "sunny"

    llm = make_llm()
    llm.complete("x", response_format=City)
    llm.complete("weather?", tools=[weather], reasoning="low", max_turns=3)
    llm.complete(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
                    },
                ],
            }
        ],
        system_prompt="be brief",
    )
    adapter = TypeAdapter(MessageCreateParamsNonStreaming)
    sent = [r.body for r in fake_anthropic.requests]
    assert len(sent) == 4
    for request in sent:
        without_betas = {k: v for k, v in request.items() if k != "output_format"}  # a beta field
        adapter.validate_python(without_betas)


def test_thinking_tool_turn_roundtrip_over_raw_http(http: httpx.Client) -> None:
    request = body("w?", tools=[WEATHER], thinking={"type": "enabled", "budget_tokens": 2048})
    first = message(http, request)
    thinking, use = (b.model_dump(exclude_none=True) for b in first.content)
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "sunny"}],
    }
    turns = [*request["messages"], {"role": "assistant", "content": [thinking, use]}, result]
    answer = message(http, {**request, "messages": turns})
    assert answer.content[-1].text == "The tool said: sunny"  # type: ignore[union-attr]


def _refusal(http: httpx.Client, request: dict[str, Any], **headers: str) -> str:
    response = http.post("/v1/messages", json=request, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


def test_what_the_api_refuses(http: httpx.Client) -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = message(http, body("w?", tools=[WEATHER], thinking=thinking))
    thought, use = (b.model_dump(exclude_none=True) for b in first.content)
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "x"}]}
    user = body("w?")["messages"][0]

    def turns(*assistant: dict[str, Any], answer: dict[str, Any] = result) -> list[dict[str, Any]]:
        return [user, {"role": "assistant", "content": list(assistant)}, answer]

    cases = [
        (body(messages=turns(thought, use), tools=[WEATHER]), "", None),  # thinking off: accepted
        (
            body(messages=turns(use), tools=[WEATHER], thinking=thinking),
            "must start with a thinking block",
            400,
        ),
        (
            body(messages=turns({**thought, "thinking": "forged"}, use), tools=[WEATHER], thinking=thinking),
            "Invalid `signature`",
            400,
        ),
        (body(messages=turns(use, answer=user), tools=[WEATHER]), "without `tool_result` blocks", 400),
        (
            body(messages=[user, {"role": "assistant", "content": "hi"}, result], tools=[WEATHER]),
            "unexpected `tool_use_id`",
            400,
        ),
        (body(thinking={"type": "enabled", "budget_tokens": 512}), "greater than or equal to 1024", 400),
        (body(max_tokens=2048, thinking=thinking), "`max_tokens` must be greater", 400),
        (body(thinking=thinking, temperature=0.5), "`temperature` may only be set to 1", 400),
        (
            body(tools=[WEATHER], tool_choice={"type": "tool", "name": "weather"}, thinking=thinking),
            "tool_choice forces tool use",
            400,
        ),
        (body(tools=[WEATHER], tool_choice={"type": "tool", "name": "nope"}), "not found in tools", 400),
        (body(output_format={"type": "json_schema", "schema": CITY}), STRUCTURED_OUTPUTS_BETA, 400),
        (
            body(
                output_config={
                    "format": {"type": "json_schema", "schema": {**CITY, "additionalProperties": True}}
                }
            ),
            "'additionalProperties' must be explicitly set to false",
            400,
        ),
        (body(tools=[{**WEATHER, "input_schema": {"type": "string"}}]), "input_schema.type", 400),
    ]
    for request, words, status in cases:
        if status is None:
            assert http.post("/v1/messages", json=request).status_code == 200
        else:
            assert words in _refusal(http, request)
    jpeg_bytes = {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(PNG).decode()}
    picture = [{"role": "user", "content": [{"type": "image", "source": jpeg_bytes}]}]
    assert "does not match the provided media type" in _refusal(http, body(messages=picture))
    garbage = {**jpeg_bytes, "data": "not base64!"}
    bad = [{"role": "user", "content": [{"type": "image", "source": garbage}]}]
    assert "not valid base64" in _refusal(http, body(messages=bad))
