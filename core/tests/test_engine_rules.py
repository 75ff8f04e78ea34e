"""The rules the core enforces for every plugin: answers, cache, coalescing, capabilities, n."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp import errors
from llmp.testing import FULL_CAPABILITIES
from llmp.types import Capabilities, Choice, Request, Response, ToolCall, Usage

from .conftest import per_token

MakeLLM = Callable[..., Any]


# -- empty, short and refused answers (issue 14 item 4, issue 15 items 11-13) ----------------


@pytest.mark.parametrize(
    "reply",
    [
        Response([Choice(text="", finish_reason="stop")], Usage(5, 0, 0)),  # content ""
        Response([Choice(finish_reason="stop")], Usage(5, 0, 0)),  # content null
    ],
    ids=["empty-text", "null-content"],
)
def test_an_empty_answer_is_an_error_with_usage_and_never_cached(make_llm: MakeLLM, reply: Response) -> None:
    calls = []

    def answer(request: Request) -> Response:
        calls.append(request)
        return reply if len(calls) == 1 else Response([Choice(text="real", finish_reason="stop")])

    llm, client = make_llm(answer, temperature=0)
    with pytest.raises(errors.EmptyResponseError) as info:
        llm.chat("hi")
    assert info.value.usage is not None
    assert info.value.usage.input_tokens == 5
    assert client.request_count == 1, "a deterministic empty answer (temperature 0) is not retried"
    assert llm.usage.input_tokens == 5, "the billed tokens are counted"
    assert llm.chat("hi") == "real"  # not served from the cache
    assert client.request_count == 2


def test_an_empty_answer_is_retried_where_a_retry_can_differ(make_llm: MakeLLM) -> None:
    replies = iter(
        [Response([Choice(finish_reason="stop")]), Response([Choice(text="second", finish_reason="stop")])]
    )
    llm, client = make_llm(lambda request: next(replies), temperature=0.7)
    assert llm.chat("hi") == "second"
    assert client.request_count == 2


@pytest.mark.parametrize("finish", ["length", "content_filter"])
def test_an_empty_answer_that_would_end_the_same_is_not_retried(make_llm: MakeLLM, finish: str) -> None:
    llm, client = make_llm(lambda request: Response([Choice(finish_reason=finish)]))  # type: ignore[arg-type]
    with pytest.raises(errors.EmptyResponseError) as info:
        llm.chat("hi")
    assert info.value.finish_reason == finish
    assert client.request_count == 1


@pytest.mark.parametrize("choices", [0, 1], ids=["no-choices", "fewer-than-n"])
def test_fewer_samples_than_n_is_an_error_once_with_usage(make_llm: MakeLLM, choices: int) -> None:
    reply = Response([Choice(text="a", finish_reason="stop")] * choices, Usage(7, 0, 3))
    llm, client = make_llm(lambda request: reply)
    with pytest.raises(errors.IncompleteResponseError) as info:
        llm.complete("hi", n=3)
    assert info.value.usage is not None
    assert info.value.usage.output_tokens == 3
    assert client.request_count == 1, "a short answer is not retried (it would be paid again)"
    (again,) = llm.generate(["hi"], n=3, on_error="return")  # nor cached
    assert isinstance(again, errors.IncompleteResponseError)
    assert client.request_count == 2


def test_chat_on_no_choices_is_a_typed_error_not_an_index_error(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(lambda request: Response([], Usage(1, 0, 0)))
    with pytest.raises(errors.IncompleteResponseError):
        llm.chat("hi")


def test_a_refusal_is_an_answer_for_rich_calls_an_error_for_text_and_never_cached(make_llm: MakeLLM) -> None:
    llm, client = make_llm(lambda request: Choice(refusal="I can't help with that.", finish_reason="stop"))
    response = llm.complete("bad")
    assert response.choices[0].refusal == "I can't help with that."
    assert response.text == ""
    with pytest.raises(errors.RefusalError) as info:
        llm.chat("bad")
    assert info.value.refusal == "I can't help with that."
    assert client.request_count == 2, "the refusal was not cached"


def test_tool_calls_without_text_are_an_answer(make_llm: MakeLLM) -> None:
    call = ToolCall("c1", "f", "{}")
    llm, _ = make_llm(lambda request: Choice(tool_calls=[call]))
    response = llm.complete("x", tools=[{"name": "f", "parameters": {"type": "object", "properties": {}}}])
    assert response.tool_calls == [call]
    assert response.finish_reason == "tool_calls"


# -- cache --------------------------------------------------------------------------------


def test_a_hit_costs_nothing_and_says_it_is_cached(make_llm: MakeLLM) -> None:
    llm, client = make_llm("four words in here", client_kwargs={"price": per_token})
    first = llm.complete("hi")
    assert not first.cached
    assert first.cost is not None
    assert first.cost > 0
    second = llm.complete("hi")
    assert second.cached
    assert second.cost == 0.0
    assert second.text == first.text
    assert client.request_count == 1
    assert llm.usage.cache_hits == 1
    assert llm.usage.requests == 1


@pytest.mark.parametrize(
    "change",
    [
        {"tools": [{"name": "f", "parameters": {"type": "object", "properties": {}}}], "rich": True},
        {"tool_choice": "none", "tools": [{"name": "f"}], "rich": True},
        {"response_format": {"type": "object", "properties": {"a": {"type": "string"}}}},
        {"reasoning": "high"},
        {"temperature": 0.5},
    ],
    ids=["tools", "tool_choice", "output_schema", "reasoning", "params"],
)
def test_the_cache_key_covers_everything_that_changes_the_answer(
    make_llm: MakeLLM, change: dict[str, Any]
) -> None:
    llm, client = make_llm(lambda request: '{"a": "x"}')
    llm.generate(["same"])
    llm.generate(["same"], **change)
    assert client.request_count == 2
    llm.generate(["same"], **change)
    assert client.request_count == 2


def test_an_image_counts_in_the_key_by_its_bytes(make_llm: MakeLLM) -> None:
    png1 = b"\x89PNG\r\n\x1a\n" + b"1" * 20
    png2 = b"\x89PNG\r\n\x1a\n" + b"2" * 20
    llm, client = make_llm("seen")

    def ask(data: bytes) -> str:
        return llm.chat([{"role": "user", "content": [{"type": "text", "text": "what?"}, llmp.image(data)]}])

    ask(png1)
    ask(png1)
    assert client.request_count == 1
    ask(png2)
    assert client.request_count == 2


def test_identical_requests_in_flight_share_one_answer(make_llm: MakeLLM) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> str:
        arrived.set()
        await release.wait()
        return "shared"

    llm, client = make_llm(slow, max_concurrent=64)

    async def main() -> list[str]:
        tasks = [asyncio.ensure_future(llm.achat("same")) for _ in range(64)]
        await arrived.wait()
        # Tasks run in the order they were made, each up to its first wait, before this one
        # resumes: all 64 have asked by now, and 63 wait for the first one's answer.
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == ["shared"] * 64
    assert client.request_count == 1
    assert llm.usage.cache_hits == 63


def test_without_a_cache_identical_prompts_are_separate_samples(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x", cache=False)
    llm.generate(["same"] * 5)
    assert client.request_count == 5


# -- capabilities --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "call"),
    [
        ("tools", {"tools": [{"name": "f"}]}),
        ("parallel_tool_calls", {"tools": [{"name": "f"}], "parallel_tool_calls": True}),
        ("json_schema", {"response_format": {"type": "object", "properties": {}}}),
        ("reasoning", {"reasoning": "low"}),
        ("logprobs", {"logprobs": True}),
        ("vision", {"messages": [{"role": "user", "content": [llmp.image(b"\x89PNG\r\n\x1a\n0000")]}]}),
    ],
)
def test_a_request_needing_a_missing_capability_is_refused_before_sending(
    make_llm: MakeLLM, missing: str, call: dict[str, Any]
) -> None:
    caps = Capabilities(
        **{
            **{f: getattr(FULL_CAPABILITIES, f) for f in FULL_CAPABILITIES.__dataclass_fields__},
            missing: False,
        }
    )
    llm, client = make_llm("x", client_kwargs={"capabilities": caps})
    messages = call.pop("messages", "hello")
    with pytest.raises(errors.UnsupportedFeatureError) as info:
        llm.complete(messages, **call)
    assert info.value.feature == missing
    assert "test/model" in str(info.value) or "model" in str(info.value)
    assert client.request_count == 0


def test_streaming_is_refused_for_a_client_that_cannot(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x", client_kwargs={"capabilities": Capabilities(streaming=False)})
    with pytest.raises(errors.UnsupportedFeatureError):
        list(llm.stream("hi"))
    assert client.request_count == 0


def test_n_is_sent_as_single_requests_to_a_client_without_n(make_llm: MakeLLM) -> None:
    counter = iter(range(100))
    llm, client = make_llm(
        lambda request: f"sample {next(counter)}",
        client_kwargs={"capabilities": Capabilities(n=False), "price": per_token},
    )
    response = llm.complete("hi", n=3)
    assert sorted(response.texts) == ["sample 0", "sample 1", "sample 2"]
    assert all(r.n == 1 for r in client.requests)
    assert llm.usage.requests == 3, "each single-sample request is counted (issue 14 item 12)"
    assert response.usage.output_tokens == 6
    assert response.cost == pytest.approx(llm.total_cost)
    assert llm.complete("hi", n=3).texts == response.texts  # one cache entry for the n samples
    assert client.request_count == 3


# -- parameters the client takes -----------------------------------------------------------


def test_an_unknown_parameter_is_refused_with_a_did_you_mean(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x")
    with pytest.raises(errors.UnsupportedParameterError, match="Did you mean 'temperature'"):
        llm.chat("hi", temprature=0.5)
    assert client.request_count == 0


def test_a_parameter_the_client_declares_passes_and_extra_body_is_never_checked(make_llm: MakeLLM) -> None:
    llm, client = make_llm("x", client_kwargs={"params": ["thinking_budget"]})
    llm.chat("hi", thinking_budget=0, extra_body={"anything": {"goes": True}})
    assert client.requests[-1].params == {"thinking_budget": 0, "extra_body": {"anything": {"goes": True}}}


def test_the_client_s_effective_params_are_in_the_key(make_llm: MakeLLM) -> None:
    default = {"budget": 0}

    def effective(model: str, params: Any) -> dict[str, Any]:
        return {**default, **params}

    llm, client = make_llm("x", client_kwargs={"effective_params": effective, "params": ["budget"]})
    llm.chat("hi")
    assert client.requests[-1].params == {"budget": 0}
    default["budget"] = 1  # a plugin changing its default must not serve the old answers
    other, _ = make_llm(client, cache=llm._engine.cache)
    other.chat("hi")
    assert client.request_count == 2
