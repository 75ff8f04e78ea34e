"""Request/response conversion, checked against the SDK's own types where it matters."""

import json

import pytest

from llmp.errors import MalformedResponseError, ServerError
from llmp.types import Request, Usage
from llmp_openai._conversion import SSEParser, chunks_from_event, parse_completion, request_body
from llmp_openai._prices import cost


def req(model: str, **params: object) -> Request:
    return Request("openai", model, [{"role": "user", "content": "hi"}], 1, dict(params))


def test_reasoning_models_get_max_completion_tokens_and_no_temperature() -> None:
    with pytest.warns(UserWarning, match="temperature"):
        body = request_body(req("o3-mini", max_tokens=50, temperature=0.2), "openai", None, stream=False)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert "temperature" not in body
    body = request_body(req("gpt-5-mini", max_tokens=10), "openai", None, stream=False)
    assert body == {
        "model": "gpt-5-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 10,
    }


def test_chat_models_keep_their_parameters_and_stream_asks_for_usage() -> None:
    body = request_body(
        req("gpt-4.1-mini", max_tokens=5, temperature=0), "openai", {"provider": {"sort": "price"}}, True
    )
    assert body["max_tokens"] == 5
    assert body["temperature"] == 0
    assert body["provider"] == {"sort": "price"}
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # Other hosts (vLLM, SambaNova) keep max_tokens even for o-like names.
    assert "max_tokens" in request_body(req("o3-local", max_tokens=5), "local", None, stream=False)


def test_parse_completion_matches_the_sdk_model() -> None:
    from openai.types.chat import ChatCompletion

    raw = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 1,
                "message": {"role": "assistant", "content": "B"},
                "finish_reason": "stop",
                "logprobs": None,
            },
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A"},
                "finish_reason": "length",
                "logprobs": None,
            },
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 20,
            "total_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 7},
        },
    }
    ChatCompletion.model_validate(raw)  # the fixture is a valid SDK object
    response = parse_completion(json.dumps(raw).encode(), "openai")
    assert response.texts == ["A", "B"]
    assert response.finish_reasons == ["length", "stop"]
    assert response.usage == Usage(10, 4, 20, 7)


def test_malformed_body_is_typed() -> None:
    with pytest.raises(MalformedResponseError):
        parse_completion(b"{not json", "openai")


def test_sse_parser_joins_split_lines_skips_comments_and_stops_at_done() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.feed(b': 1}\n\n: comment\nevent: x\ndata:{"b": 2}\r\n') == [b'{"a": 1}', b'{"b": 2}']
    assert not parser.done
    assert parser.feed(b"data: [DONE]\n\ndata: {}\n") == []
    assert parser.done
    assert parser.feed(b"data: {}\n") == []


def test_sse_parser_is_not_done_without_done() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a": 1}\n\n') == [b'{"a": 1}']
    assert not parser.done


def test_stream_error_event_and_bad_json() -> None:
    with pytest.raises(ServerError, match="overloaded"):
        chunks_from_event(b'{"error": {"message": "overloaded"}}', "openai")
    with pytest.raises(MalformedResponseError):
        chunks_from_event(b"{not json", "openai")


def test_prices() -> None:
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000_000)
    c = cost("openai", "gpt-4.1-mini-2025-04-14", usage, "standard")
    assert c is not None
    assert c.total == pytest.approx(0.5 * 0.40 + 0.5 * 0.10 + 1.60)
    b = cost("openai", "gpt-4.1-mini", usage, "batch")
    assert b is not None
    assert b.total == pytest.approx(c.total / 2)
    assert cost("openai", "gpt-unknown-model", usage, "standard") is None
    assert cost("local", "whatever", usage, "standard") is None
    assert cost("sambanova", "Meta-Llama-3.3-70B-Instruct", usage, "batch") is None
