"""Replies: candidates, tool calls, thoughts, finish reasons, usage and streams, read from JSON that
google-genai's own ``GenerateContentResponse`` accepts; error translation, prices, base URLs."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from llmp import errors
from llmp.errors import MalformedResponseError
from llmp.types import Usage
from llmp_gemini._errors import translate
from llmp_gemini._prices import cost
from llmp_gemini._responses import StreamState, finish_reason, load, parse_response
from llmp_gemini._sdk_request import split_base_url


def sdk_response(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as the API's JSON, after a round trip through the SDK's own response type (so the
    fixture is a valid ``GenerateContentResponse``, and batch results read the same way)."""
    model = types.GenerateContentResponse.model_validate(data)
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def test_candidates_in_order_with_thoughts_as_reasoning() -> None:
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
                "toolUsePromptTokenCount": 3,
                "totalTokenCount": 22,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
    )
    parsed = parse_response(response, 2, "gemini", "HTTP/2")
    assert parsed.texts == ["A", "B"]
    assert [c.finish_reason for c in parsed.choices] == ["stop", "length"]
    assert parsed.choices[0].reasoning == "plan"
    assert parsed.choices[1].reasoning is None
    assert parsed.usage == Usage(
        input_tokens=13, cached_input_tokens=4, output_tokens=9, reasoning_tokens=7,
        details={"tool_use_prompt_tokens": 3},
    )  # fmt: skip
    assert (parsed.model, parsed.id, parsed.http_version) == ("gemini-2.5-flash", "r1", "HTTP/2")


def test_function_calls_are_tool_calls_with_stable_ids_and_signatures() -> None:
    response = sdk_response(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {
                                "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                                "thoughtSignature": "c2ln",
                            },
                            {"functionCall": {"name": "time", "args": {"zone": "UTC"}, "id": "g-7"}},
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                }
            ],
            "responseId": "resp",
        }
    )
    (choice,) = parse_response(response, 1, "gemini").choices
    assert choice.finish_reason == "tool_calls"
    assert choice.text == ""
    first, second = choice.tool_calls
    assert (first.id, first.name, first.args(), first.extra) == (
        "call_resp_0_0", "weather", {"city": "Paris"}, {"thought_signature": "c2ln"}
    )  # fmt: skip
    assert (second.id, second.extra) == ("g-7", {"id": "g-7"})  # Gemini's own id is kept, to go back
    again = parse_response(response, 1, "gemini").choices[0]
    assert [c.id for c in again.tool_calls] == [c.id for c in choice.tool_calls], "stable ids"
    message = choice.message()
    assert message["tool_calls"][0]["extra"] == {"thought_signature": "c2ln"}


def test_a_text_signature_is_kept_on_the_choice() -> None:
    response = sdk_response(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "hi", "thoughtSignature": "dGV4dA=="}]},
                    "finishReason": "STOP",
                }
            ]
        }
    )
    (choice,) = parse_response(response, 1, "gemini").choices
    assert choice.extra == {"thought_signature": "dGV4dA=="}
    assert choice.message()["extra"] == {"thought_signature": "dGV4dA=="}


@pytest.mark.parametrize(
    ("gemini", "called", "llmp"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "error"),
        ("OTHER", False, "error"),
        ("SOMETHING_NEW", False, "error"),
        ("FINISH_REASON_UNSPECIFIED", False, None),
        (None, False, None),
    ],
)
def test_finish_reasons_are_normalized(gemini: str | None, called: bool, llmp: str | None) -> None:
    assert finish_reason(gemini, called) == llmp


def test_what_came_is_returned_for_the_core_to_judge() -> None:
    no_text = sdk_response({"candidates": [{"content": {"role": "model"}, "finishReason": "SAFETY"}]})
    (choice,) = parse_response(no_text, 1, "gemini").choices
    assert (choice.text, choice.finish_reason, choice.is_empty) == ("", "content_filter", True)
    blocked = sdk_response(
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 4}}
    )
    answer = parse_response(blocked, 2, "gemini")
    assert [c.finish_reason for c in answer.choices] == ["content_filter", "content_filter"]
    assert answer.usage.input_tokens == 4
    one = sdk_response(
        {
            "candidates": [{"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1},
        }
    )
    short = parse_response(one, 2, "gemini")
    assert short.texts == ["A"], "fewer candidates than asked: what came, with its usage"
    assert short.usage.total_tokens == 3
    assert parse_response({}, 1, "gemini").choices == []
    with pytest.raises(MalformedResponseError, match="unexpected shape"):
        parse_response({"candidates": [{"content": {"parts": "nope"}}]}, 1, "gemini")


def test_a_stream_gives_text_reasoning_and_tool_call_deltas() -> None:
    state = StreamState("HTTP/2")
    events = [
        {
            "candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}]}}],
            "responseId": "s1",
            "modelVersion": "m",
        },
        {"candidates": [{"content": {"parts": [{"text": "Calling."}]}}]},
        {
            "candidates": [
                {
                    "content": {"parts": [
                        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
                        {"functionCall": {"name": "b", "args": {}}},
                    ]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "thoughtsTokenCount": 2},
        },
    ]  # fmt: skip
    chunks = [chunk for event in events for chunk in state.chunks(sdk_response(event))]
    chunks += state.end(1, "gemini")
    assert (chunks[0].model, chunks[0].id, chunks[0].http_version) == ("m", "s1", "HTTP/2")
    assert [c.reasoning for c in chunks if c.reasoning] == ["hmm"]
    assert [c.text for c in chunks if c.text] == ["Calling."]
    calls = [c.tool_call for c in chunks if c.tool_call]
    assert [(d.position, d.id, d.name, d.arguments, d.extra) for d in calls if d] == [
        (0, "call_s1_0_0", "a", '{"x":1}', {"thought_signature": "c2ln"}),
        (1, "call_s1_0_1", "b", "{}", None),
    ]
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert chunks[-1].usage == Usage(3, 0, 7, 2)


def test_stream_ends_truncated_blocked_or_empty() -> None:
    state = StreamState()
    state.chunks(sdk_response({"candidates": [{"content": {"parts": [{"text": "A"}]}, "index": 0}]}))
    with pytest.raises(MalformedResponseError, match="candidate 0 finished"):
        state.end(1, "gemini")
    blocked = StreamState()
    blocked.chunks(sdk_response({"promptFeedback": {"blockReason": "SAFETY"}}))
    assert [c.finish_reason for c in blocked.end(2, "gemini")] == ["content_filter", "content_filter", None]
    empty = StreamState().end(1, "gemini")
    assert [(c.usage, c.finish_reason) for c in empty] == [(Usage(), None)], "nothing came: no sample"


def test_load_reads_objects_and_raises_error_events() -> None:
    assert load(b'{"candidates": []}', "gemini") == {"candidates": []}
    with pytest.raises(errors.ServerError, match="overloaded"):
        load(b'{"error": {"code": 503, "message": "overloaded"}}', "gemini")
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        load(b"{not json", "gemini")
    with pytest.raises(MalformedResponseError, match="not an object"):
        load(b"[1]", "gemini")


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
