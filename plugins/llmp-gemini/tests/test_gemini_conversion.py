"""Requests: messages, parameters, tools, schemas and thinking, checked against google-genai's own
converter (what ``generate_content`` puts on the wire) and its types."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from google.genai import types

from llmp.errors import UnsupportedParameterError
from llmp.testing._conformance import PNG
from llmp.types import OutputSchema, Reasoning, Request, Tool
from llmp_gemini._conversion import check_params, rest_body
from llmp_gemini._messages import to_contents
from llmp_gemini._models import capabilities
from llmp_gemini._thinking import effective_params, thinking_config

# Signatures whose base64 has no '+' or '/': the SDK re-encodes bytes URL-safe, we send them as given.
SIGNATURE = base64.b64encode(b"signed-call-000").decode()
TEXT_SIGNATURE = base64.b64encode(b"signed-text-000").decode()
WEATHER = Tool(
    "weather", "The weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}}
)
TIME = Tool("time", "", {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]})


def req(model: str = "gemini-3-flash-preview", n: int = 1, **params: Any) -> Request:
    return Request(model, [{"role": "user", "content": "hi"}], n, dict(params))


def sdk_body(model: str, contents: list[Any], config: types.GenerateContentConfig) -> dict[str, Any]:
    """What google-genai's generate_content would send for these SDK objects."""
    from google.genai import _common, models
    from google.genai import client as genai_client

    api = genai_client.Client(api_key="k", vertexai=False)._api_client
    params = types._GenerateContentParameters(model=model, contents=contents, config=config)
    converted = models._GenerateContentParameters_to_mldev(api, params.model_dump(exclude_none=True))
    # What the SDK then does before json.dumps: objects to dicts, bytes to base64.
    expected: dict[str, Any] = _common.encode_unserializable_types(_common.convert_to_dict(converted))
    for private in [key for key in expected if key.startswith("_")]:
        del expected[private]  # the URL's parts (_url), not body fields
    return expected


# ----- the SDK's own converter is the reference -----


def test_a_text_request_is_what_the_sdk_would_send() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": png_url(png)}],
        },
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]
    params = {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "seed": 3,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "max_tokens": 50,
        "stop": "END",
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "response_mime_type": "application/json",
        "thinking_level": "low",
        "service_tier": "flex",
    }
    request = Request("gemini-3-flash-preview", messages, 2, params)
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        temperature=0.2,
        top_p=0.9,
        top_k=5,
        seed=3,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        max_output_tokens=50,
        stop_sequences=["END"],
        safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")],
        response_mime_type="application/json",
        thinking_config=types.ThinkingConfig(thinking_level="LOW"),
        candidate_count=2,
        service_tier="flex",
    )
    contents = [
        types.Content(
            role="user",
            parts=[types.Part(text="look"), types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")],
        ),
        types.Content(role="model", parts=[types.Part(text="ok")]),
        types.Content(role="user", parts=[types.Part(text="again")]),
    ]
    expected = sdk_body("gemini-3-flash-preview", contents, config)
    assert expected["contents"][0]["parts"][1]["inlineData"]["data"] == png
    assert rest_body(request) == expected


def test_a_rich_request_is_what_the_sdk_would_send() -> None:
    # Tools, a forced choice, an output schema, reasoning with thought summaries, and a tool turn
    # (a parallel call's two results) with the thought signature carried back.
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    messages = [
        {"role": "user", "content": "weather and time?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_r_0_0",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    "extra": {"thought_signature": SIGNATURE},
                },
                {
                    "id": "call_r_0_1",
                    "type": "function",
                    "function": {"name": "time", "arguments": '{"zone":"UTC"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_r_0_0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_r_0_1", "content": [{"type": "text", "text": "noon"}]},
        {"role": "assistant", "content": "Sunny at noon.", "extra": {"thought_signature": TEXT_SIGNATURE}},
        {"role": "user", "content": "and tomorrow?"},
    ]
    request = Request(
        "gemini-3-flash-preview",
        messages,
        tools=(WEATHER, TIME),
        tool_choice="weather",
        output_schema=OutputSchema("Answer", schema),
        reasoning=Reasoning(effort="high"),
    )
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="weather",
                        description="The weather in a city.",
                        parameters_json_schema=WEATHER.parameters,
                    ),
                    types.FunctionDeclaration(name="time", parameters_json_schema=TIME.parameters),
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["weather"]
            )
        ),
        response_mime_type="application/json",
        response_json_schema=schema,
        thinking_config=types.ThinkingConfig(thinking_level="HIGH", include_thoughts=True),
    )
    contents = [
        types.Content(role="user", parts=[types.Part(text="weather and time?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="weather", args={"city": "Paris"}),
                    thought_signature=b"signed-call-000",
                ),
                types.Part.from_function_call(name="time", args={"zone": "UTC"}),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="weather", response={"result": "sunny"}),
                types.Part.from_function_response(name="time", response={"result": "noon"}),
            ],
        ),
        types.Content(
            role="model", parts=[types.Part(text="Sunny at noon.", thought_signature=b"signed-text-000")]
        ),
        types.Content(role="user", parts=[types.Part(text="and tomorrow?")]),
    ]
    assert rest_body(request) == sdk_body("gemini-3-flash-preview", contents, config)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("time", {"mode": "ANY", "allowedFunctionNames": ["time"]}),
    ],
)
def test_tool_choice_is_function_calling_config(choice: str, expected: dict[str, Any]) -> None:
    request = Request(
        "gemini-2.5-flash", [{"role": "user", "content": "x"}], tools=(WEATHER, TIME), tool_choice=choice
    )
    body = rest_body(request)
    assert body["toolConfig"] == {"functionCallingConfig": expected}
    types.ToolConfig.model_validate(body["toolConfig"])


def test_images_inline_and_by_https_url() -> None:
    data = base64.b64encode(PNG).decode()
    contents, _ = to_contents(
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{data}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?size=2"}},
                    {
                        "type": "image_url",
                        "image_url": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                    },
                ],
            }
        ]
    )
    assert contents[0]["parts"] == [
        {"inlineData": {"data": data, "mime_type": "image/jpeg"}},  # image/jpg is Gemini's image/jpeg
        {"fileData": {"file_uri": "https://example.com/cat.webp?size=2", "mime_type": "image/webp"}},
        {"fileData": {"file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
    ]
    [types.Content.model_validate(c) for c in contents]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"role": "tool", "content": "1", "tool_call_id": "x"}, "no earlier assistant message made"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y"}}]},
            "known image extension",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]},
            "https:// URLs",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}}],
            },
            "does not take image/gif",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}],
            },
            "not valid base64",
        ),
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "'input_audio' part"),
        ({"role": "user", "content": 42}, "string or a list"),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            "system instruction takes text only",
        ),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
                ],
            },
            "not a JSON object",
        ),
    ],
)
def test_messages_gemini_cannot_take_are_refused(message: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        to_contents([message])


def test_a_function_response_takes_the_name_and_gemini_id_of_its_call() -> None:
    contents, _ = to_contents(
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [
                    {"id": "g-1", "function": {"name": "weather", "arguments": "{}"}, "extra": {"id": "g-1"}}
                ],
            },
            {"role": "tool", "tool_call_id": "g-1", "content": "sunny"},
        ]
    )
    assert contents[1]["parts"] == [
        {"text": "Let me look."},
        {"functionCall": {"args": {}, "name": "weather", "id": "g-1"}},
    ]
    assert contents[2] == {
        "parts": [{"functionResponse": {"name": "weather", "response": {"result": "sunny"}, "id": "g-1"}}],
        "role": "user",
    }


# ----- parameters -----


def test_parameters_map_to_generation_config() -> None:
    body = rest_body(req(n=2, temperature=0.1, top_k=4, max_tokens=9, stop="END", user=None, logprobs=False))
    assert body["generationConfig"] == {
        "candidateCount": 2,
        "temperature": 0.1,
        "topK": 4.0,
        "maxOutputTokens": 9,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinking_budget": 0},
    }
    types.GenerateContentConfig.model_validate(body["generationConfig"])


def test_extra_body_is_merged_as_given() -> None:
    body = rest_body(
        req(
            temperature=0.5, extra_body={"generationConfig": {"responseLogprobs": True}, "labels": {"a": "b"}}
        )
    )
    assert body["generationConfig"]["responseLogprobs"] is True
    assert body["generationConfig"]["temperature"] == 0.5
    assert body["labels"] == {"a": "b"}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"logprobs": True}, "'logprobs'"),
        ({"logit_bias": {"1": 2}}, "'logit_bias'"),
        ({"max_tokens": 5, "max_output_tokens": 6}, "maxOutputTokens"),
        ({"temperature": "hot"}, "must be a number"),
        ({"service_tier": "turbo"}, "must be one of standard, flex, priority"),
        ({"safety_settings": [{"category": "x", "mode": "y"}]}, "safety_settings"),
    ],
)
def test_parameters_gemini_cannot_honour_are_refused(params: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        check_params(params)
    with pytest.raises(UnsupportedParameterError, match=match):
        rest_body(req(**params))


def test_request_shapes_gemini_cannot_take_are_refused() -> None:
    with pytest.raises(UnsupportedParameterError, match="parallel_tool_calls=False"):
        rest_body(
            Request(
                "gemini-2.5-flash",
                [{"role": "user", "content": "x"}],
                tools=(WEATHER,),
                parallel_tool_calls=False,
            )
        )
    schema = OutputSchema("A", {"type": "object", "properties": {}})
    with pytest.raises(UnsupportedParameterError, match="response_mime_type and response_format"):
        rest_body(
            Request(
                "gemini-2.5-flash",
                [{"role": "user", "content": "x"}],
                params={"response_mime_type": "text/plain"},
                output_schema=schema,
            )
        )


# ----- thinking -----


@pytest.mark.parametrize(
    ("model", "params", "reasoning", "expected"),
    [
        ("gemini-3-flash-preview", {}, None, {"thinking_budget": 0}),
        ("gemini-2.5-flash", {}, None, {"thinking_budget": 0}),
        ("gemini-2.5-flash-lite", {}, None, {"thinking_budget": 0}),
        ("gemini-flash-latest", {}, None, {"thinking_budget": 0}),
        ("gemini-2.5-pro", {}, None, None),
        ("gemini-3-pro-preview", {}, None, None),
        ("gemini-2.0-flash", {}, None, None),  # does not think at all
        ("gemini-3-flash-preview", {"thinking_budget": 256}, None, {"thinking_budget": 256}),
        ("gemini-3-flash-preview", {"thinking_level": "Medium"}, None, {"thinking_level": "MEDIUM"}),
        (
            "gemini-2.5-pro",
            {"thinking_budget": -1, "include_thoughts": True},
            None,
            {"thinking_budget": -1, "include_thoughts": True},
        ),
        # reasoning=: levels on Gemini 3, budgets on 2.5, thought summaries asked for
        (
            "gemini-3-pro-preview",
            {},
            Reasoning(effort="low"),
            {"thinking_level": "LOW", "include_thoughts": True},
        ),
        (
            "gemini-3-flash-preview",
            {},
            Reasoning(effort="minimal"),
            {"thinking_level": "MINIMAL", "include_thoughts": True},
        ),
        ("gemini-2.5-pro", {}, Reasoning(effort="high"), {"thinking_budget": 4096, "include_thoughts": True}),
        (
            "gemini-2.5-flash",
            {},
            Reasoning(budget_tokens=300),
            {"thinking_budget": 300, "include_thoughts": True},
        ),
        (
            "gemini-3-flash-preview",
            {},
            Reasoning(budget_tokens=300),
            {"thinking_budget": 300, "include_thoughts": True},
        ),
        ("gemini-2.5-flash", {}, Reasoning(enabled=False), {"thinking_budget": 0}),
        # the default budget effective_params wrote in gives way to reasoning=
        (
            "gemini-2.5-flash",
            {"thinking_budget": 0},
            Reasoning(effort="low"),
            {"thinking_budget": 1024, "include_thoughts": True},
        ),
        ("gemini-2.5-flash", {"include_thoughts": False}, Reasoning(effort="low"), {"thinking_budget": 1024}),
    ],
)
def test_thinking_config(
    model: str, params: dict[str, Any], reasoning: Reasoning | None, expected: dict[str, Any] | None
) -> None:
    assert thinking_config(model, params, reasoning) == expected
    if expected is not None:
        types.ThinkingConfig.model_validate(expected)


@pytest.mark.parametrize(
    ("model", "params", "reasoning", "match"),
    [
        ("gemini-3-flash-preview", {"thinking_budget": 0, "thinking_level": "low"}, None, "never both"),
        (
            "gemini-2.5-flash",
            {"thinking_budget": 512},
            Reasoning(effort="low"),
            "reasoning= and thinking_budget",
        ),
        (
            "gemini-2.5-pro",
            {},
            Reasoning(enabled=False),
            "reasoning=off: gemini-2.5-pro cannot turn thinking off",
        ),
        ("gemini-3-pro-preview", {}, Reasoning(enabled=False), "cannot turn thinking off"),
        ("gemini-2.5-pro", {"thinking_budget": 0}, None, "thinking_budget=0: gemini-2.5-pro cannot"),
        ("gemini-3-pro-preview", {}, Reasoning(effort="minimal"), "takes the efforts low, high"),
        ("gemini-3-pro-preview", {"thinking_level": "medium"}, None, "one of low, high"),
        ("gemini-2.5-flash", {"thinking_level": "low"}, None, "has no thinking levels"),
        ("gemini-2.5-pro", {}, Reasoning(budget_tokens=64), "from 128 to 32768"),
        ("gemini-2.5-flash-lite", {"thinking_budget": 100}, None, "from 512 to 24576"),
        ("gemini-2.0-flash", {"thinking_budget": 100}, None, "does not think"),
        ("gemini-2.0-flash", {}, Reasoning(effort="low"), "reasoning: gemini-2.0-flash does not think"),
        ("gemini-3-flash-preview", {"thinking_budget": True}, None, "thinking_budget must be"),
    ],
)
def test_impossible_thinking_settings_are_refused_naming_them(
    model: str, params: dict[str, Any], reasoning: Reasoning | None, match: str
) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        thinking_config(model, params, reasoning)


def test_effective_params_name_the_default_that_is_sent() -> None:
    assert effective_params("gemini-3-flash-preview", {"temperature": 0}) == {
        "temperature": 0,
        "thinking_budget": 0,
    }
    assert effective_params("gemini-3-flash-preview", {"thinking_level": "low"}) == {"thinking_level": "low"}
    assert effective_params("gemini-2.5-pro", {}) == {}
    with pytest.raises(UnsupportedParameterError, match="include_thoughts must be"):
        effective_params("gemini-2.5-pro", {"include_thoughts": "yes"})


# ----- capabilities -----


def test_capabilities_per_family() -> None:
    flash3, pro25, old, gemma = (
        capabilities(m)
        for m in ("gemini-3-flash-preview", "models/gemini-2.5-pro", "gemini-2.0-flash", "gemma-3-27b-it")
    )
    for caps in (flash3, pro25):
        assert (caps.tools, caps.parallel_tool_calls, caps.json_schema, caps.vision) == (True,) * 4
        assert (caps.reasoning, caps.reasoning_text, caps.n, caps.batch) == (True,) * 4
        assert not caps.logprobs
        assert caps.max_context_tokens == 1_048_576
        assert "thinking_budget" in caps.params
    assert (old.tools, old.vision, old.json_schema, old.reasoning) == (True, True, False, False)
    assert (gemma.tools, gemma.vision, gemma.json_schema, gemma.reasoning) == (False, False, False, False)


def png_url(data: str) -> dict[str, str]:
    return {"url": f"data:image/png;base64,{data}"}
