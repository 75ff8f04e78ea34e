"""Conversion, thinking, prices and error translation, checked against google-genai's own types."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from llmp import errors
from llmp.errors import MalformedResponseError, UnsupportedParameterError
from llmp.types import Request, Usage
from llmp_gemini._client import split_base_url
from llmp_gemini._conversion import generation_config, rest_body, to_contents
from llmp_gemini._errors import EmptyResponseError, translate
from llmp_gemini._prices import cost
from llmp_gemini._responses import SSEEvents, StreamState, load, parse_response
from llmp_gemini._thinking import effective_params, thinking_config


def req(model: str = "gemini-3-flash-preview", n: int = 1, **params: Any) -> Request:
    return Request("gemini", model, [{"role": "user", "content": "hi"}], n, dict(params))


def sdk_response(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as the API's JSON, after a round trip through the SDK's own response type (so the
    fixture is a valid ``GenerateContentResponse``, and batch results read the same way)."""
    model = types.GenerateContentResponse.model_validate(data)
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


# ----- requests -----


def test_messages_become_contents_and_one_system_instruction() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    contents, system = to_contents(
        [
            {"role": "system", "content": "A"},
            {"role": "developer", "content": [{"type": "text", "text": "B"}]},
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            },
        ]
    )
    assert system == "A\n\nB"
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"][1] == {"inline_data": {"mime_type": "image/png", "data": b"\x89PNG"}}
    # The shapes are what google-genai accepts.
    types.GenerateContentConfig(system_instruction=system)
    [types.Content.model_validate(c) for c in contents]


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"role": "tool", "content": "1", "tool_call_id": "x"}, "role 'tool'"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]}, "with tool calls"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            "data:",
        ),
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "'input_audio' part"),
        ({"role": "user", "content": 42}, "string or a list"),
    ],
)
def test_messages_gemini_cannot_take_are_refused(message: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        to_contents([message])


def test_parameters_map_to_generate_content_config() -> None:
    config = generation_config(
        req(
            n=2,
            temperature=0.1,
            top_p=0.5,
            top_k=4,
            max_tokens=9,
            stop="END",
            seed=1,
            presence_penalty=0.2,
            frequency_penalty=0.3,
            user=None,  # None means "not set" and is not an unknown parameter
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}},
            },
        )
    )
    assert config == {
        "candidate_count": 2,
        "temperature": 0.1,
        "top_p": 0.5,
        "top_k": 4,
        "max_output_tokens": 9,
        "stop_sequences": ["END"],
        "seed": 1,
        "presence_penalty": 0.2,
        "frequency_penalty": 0.3,
        "response_mime_type": "application/json",
        "response_json_schema": {"type": "object"},
        "thinking_config": {"thinking_budget": 0},
    }
    types.GenerateContentConfig.model_validate(config)
    assert generation_config(req(response_format={"type": "text"}))["thinking_config"] == {
        "thinking_budget": 0
    }


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"logprobs": True}, "'logprobs'"),
        ({"tools": [{"type": "function"}]}, "'tools'"),
        ({"max_tokens": 5, "max_output_tokens": 6}, "max_output_tokens"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
def test_parameters_gemini_cannot_honour_are_refused(params: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        generation_config(req(**params))


# ----- thinking -----


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        ("gemini-3-flash-preview", {}, {"thinking_budget": 0}),
        ("gemini-2.5-flash", {}, {"thinking_budget": 0}),
        ("gemini-2.5-flash-lite", {}, {"thinking_budget": 0}),
        ("gemini-flash-latest", {}, {"thinking_budget": 0}),
        ("gemini-2.5-pro", {}, None),
        ("gemini-3-pro-preview", {}, None),
        ("gemini-2.0-flash", {}, None),  # does not think at all
        ("gemini-3-flash-preview", {"thinking_budget": 256}, {"thinking_budget": 256}),
        ("gemini-3-flash-preview", {"thinking_level": "Medium"}, {"thinking_level": "MEDIUM"}),
        ("gemini-3-pro-preview", {"reasoning_effort": "low"}, {"thinking_level": "LOW"}),
        ("gemini-2.5-pro", {"reasoning_effort": "high"}, {"thinking_budget": 4096}),
        ("gemini-2.5-flash", {"reasoning_effort": "none"}, {"thinking_budget": 0}),
    ],
)
def test_thinking_config(model: str, params: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert thinking_config(model, params) == expected
    if expected is not None:
        types.ThinkingConfig.model_validate(expected)


@pytest.mark.parametrize(
    ("model", "params", "match"),
    [
        ("gemini-3-flash-preview", {"thinking_budget": 0, "thinking_level": "low"}, "never both"),
        ("gemini-2.5-flash", {"thinking_budget": 0, "reasoning_effort": "low"}, "never both"),
        ("gemini-2.5-pro", {"reasoning_effort": "none"}, "cannot turn thinking off"),
        ("gemini-3-flash-preview", {"thinking_level": "max"}, "thinking_level must be"),
        ("gemini-3-flash-preview", {"thinking_budget": True}, "thinking_budget must be"),
        ("gemini-3-flash-preview", {"reasoning_effort": "turbo"}, "reasoning_effort must be"),
    ],
)
def test_thinking_mistakes_are_refused(model: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedParameterError, match=match):
        thinking_config(model, params)


def test_effective_params_name_the_default_that_is_sent() -> None:
    assert effective_params("gemini-3-flash-preview", {"temperature": 0}) == {
        "temperature": 0,
        "thinking_budget": 0,
    }
    assert effective_params("gemini-3-flash-preview", {"thinking_level": "low"}) == {"thinking_level": "low"}
    assert effective_params("gemini-2.5-pro", {}) == {}


# ----- responses -----


def test_parse_response_orders_candidates_and_skips_thoughts() -> None:
    response = sdk_response(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "B"}], "role": "model"},
                    "finishReason": "MAX_TOKENS",
                    "index": 1,
                },
                {
                    "content": {"parts": [{"text": "plan", "thought": True}, {"text": "A"}], "role": "model"},
                    "finishReason": "STOP",
                },
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "cachedContentTokenCount": 4,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 7,
                "totalTokenCount": 19,
            },
        }
    )
    parsed = parse_response(response, 2, "gemini")
    assert parsed.texts == ["A", "B"]
    assert parsed.finish_reasons == ["stop", "length"]
    assert parsed.usage == Usage(input_tokens=10, cached_input_tokens=4, output_tokens=9, reasoning_tokens=7)


def test_parse_response_refuses_missing_text() -> None:
    no_text = sdk_response({"candidates": [{"content": {"role": "model"}, "finishReason": "SAFETY"}]})
    with pytest.raises(EmptyResponseError, match="withheld") as info:
        parse_response(no_text, 1, "gemini")
    assert not info.value.retryable
    blocked = sdk_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    with pytest.raises(EmptyResponseError, match="blocked the prompt"):
        parse_response(blocked, 1, "gemini")
    one = sdk_response({"candidates": [{"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP"}]})
    with pytest.raises(MalformedResponseError, match="1 candidates for candidate_count=2"):
        parse_response(one, 2, "gemini")


def test_stream_state_checks_every_candidate_finished() -> None:
    state = StreamState()
    chunks = state.chunks(sdk_response({"candidates": [{"content": {"parts": [{"text": "A"}]}, "index": 0}]}))
    assert [(c.text, c.index, c.finish_reason) for c in chunks] == [("A", 0, None)]
    with pytest.raises(MalformedResponseError, match="candidate 0 finished"):
        state.end(1, "gemini")
    state.chunks(
        sdk_response(
            {
                "candidates": [{"content": {"parts": [{"text": "B"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
            }
        )
    )
    assert state.end(1, "gemini").usage == Usage(3, 0, 2, 0)
    with pytest.raises(EmptyResponseError, match="empty stream"):
        StreamState().end(1, "gemini")


def test_sse_events_join_data_lines_and_flush_the_last_event() -> None:
    events = SSEEvents()
    assert events.feed(b'data: {"a"') == []
    assert events.feed(b': 1}\r\n\r\n: comment\r\ndata: {"b":\r\ndata: 2}\r\n\r\n') == [
        b'{"a": 1}',
        b'{"b":\n2}',
    ]
    assert events.feed(b'data:{"c": 3}') == []
    assert events.close() == [b'{"c": 3}']


def test_load_reads_objects_and_raises_error_events() -> None:
    assert load(b'{"candidates": []}', "gemini") == {"candidates": []}
    with pytest.raises(errors.ServerError, match="overloaded"):
        load(b'{"error": {"code": 503, "message": "overloaded"}}', "gemini")
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        load(b"{not json", "gemini")
    with pytest.raises(MalformedResponseError, match="not an object"):
        load(b"[1]", "gemini")


def test_rest_body_is_what_the_sdk_would_send() -> None:
    # The SDK's own converter (what generate_content puts on the wire) is the reference.
    from google.genai import _common, models
    from google.genai import client as genai_client

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
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
        "thinking_level": "low",
    }
    request = Request("gemini", "gemini-3-flash-preview", messages, 2, params)
    contents, system = to_contents(messages)
    fields = {**generation_config(request), "system_instruction": system}
    api = genai_client.Client(api_key="k", vertexai=False)._api_client
    sdk_params = types._GenerateContentParameters(
        model="gemini-3-flash-preview", contents=contents, config=types.GenerateContentConfig(**fields)
    )
    converted = models._GenerateContentParameters_to_mldev(api, sdk_params.model_dump(exclude_none=True))
    # What the SDK then does before json.dumps: objects to dicts, bytes to base64.
    expected = _common.encode_unserializable_types(_common.convert_to_dict(converted))
    for private in [key for key in expected if key.startswith("_")]:
        del expected[private]  # the URL's parts (_url), not body fields
    assert expected["contents"][0]["parts"][1]["inlineData"]["data"] == png
    assert rest_body(request) == expected


def png_url(data: str) -> dict[str, str]:
    return {"url": f"data:image/png;base64,{data}"}


# ----- errors -----


def client_error(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> BaseException:
    body = {"error": {"code": status, **error}}
    response = httpx2.Response(status, json=body, headers=headers or {})
    cls = genai_errors.ServerError if status >= 500 else genai_errors.ClientError
    return cls(status, body, response)


def test_google_errors_translate() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    limited = translate(client_error(429, {"message": "slow down", "details": [retry]}), "gemini")
    assert isinstance(limited, errors.RateLimitError)
    assert (limited.retry_after, limited.status_code, limited.message) == (7.0, 429, "slow down")
    proto = {"@type": retry["@type"], "retryDelay": {"seconds": 1, "nanos": 500_000_000}}
    assert translate(client_error(429, {"details": [proto]}), "gemini").retry_after == 1.5  # type: ignore[union-attr]
    header = translate(client_error(429, {"message": "m"}, {"retry-after": "3"}), "gemini")
    assert header is not None
    assert header.retry_after == 3.0  # type: ignore[attr-defined]
    bad_key = {
        "message": "API key not valid.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
    }
    assert isinstance(translate(client_error(400, bad_key), "gemini"), errors.AuthenticationError)
    too_long = {
        "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."
    }
    assert isinstance(translate(client_error(400, too_long), "gemini"), errors.ContextWindowExceededError)
    assert isinstance(translate(client_error(404, {"message": "no model"}), "gemini"), errors.BadRequestError)
    assert isinstance(translate(client_error(403, {"message": "no"}), "gemini"), errors.AuthenticationError)
    assert isinstance(translate(client_error(503, {"message": "busy"}), "gemini"), errors.ServerError)
    assert isinstance(translate(httpx2.ReadTimeout("t"), "gemini"), errors.ProviderTimeoutError)
    assert isinstance(translate(httpx2.ConnectError("refused"), "gemini"), errors.ProviderConnectionError)
    assert isinstance(
        translate(genai_errors.UnknownApiResponseError("bad"), "gemini"), errors.MalformedResponseError
    )
    assert translate(RuntimeError("ours"), "gemini") is None


# ----- prices and base URLs -----


def test_prices() -> None:
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000_000)
    flash = cost("gemini", "gemini-3-flash-preview", usage, "standard")
    assert flash is not None
    assert flash.total == pytest.approx(0.5 * 0.50 + 0.5 * 0.05 + 3.00)
    batch = cost("gemini", "gemini-3-flash-preview", usage, "batch")
    assert batch is not None
    assert batch.total == pytest.approx(flash.total / 2)
    short = cost("gemini", "gemini-2.5-pro", Usage(200_000, 0, 1000), "standard")
    long = cost("gemini", "gemini-2.5-pro", Usage(200_001, 0, 1000), "standard")
    assert short is not None
    assert long is not None
    assert short.input == pytest.approx(200_000 * 1.25 / 1e6)
    assert long.input == pytest.approx(200_001 * 2.50 / 1e6)  # prompts over 200k cost more on Pro
    assert long.output == pytest.approx(1000 * 15.00 / 1e6)
    assert cost("gemini", "gemini-9-ultra", usage, "standard") is None
    assert cost("openai", "gemini-2.5-flash", usage, "standard") is None


def test_base_url_may_carry_the_api_version() -> None:
    assert split_base_url("https://generativelanguage.googleapis.com") == (
        "https://generativelanguage.googleapis.com",
        None,
    )
    assert split_base_url("https://proxy.example/gemini/v1beta/") == (
        "https://proxy.example/gemini",
        "v1beta",
    )
    assert split_base_url("https://h/v1") == ("https://h", "v1")
    assert split_base_url(None)[0].startswith("https://generativelanguage")
