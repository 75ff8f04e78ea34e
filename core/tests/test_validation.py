"""Bad input: a typed error naming the argument, before anything is sent (issue 15 items 20-21,
issue 14 item 10)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp import errors

MakeLLM = Callable[..., Any]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temperature": "hot"}, "temperature='hot' is invalid: it must be a finite number"),
        ({"temperature": float("nan")}, "temperature=nan is invalid"),
        ({"temperature": 3}, "temperature=3 is invalid: it must be <= 2"),
        ({"max_tokens": 0}, "max_tokens=0 is invalid: it must be >= 1"),
        ({"max_tokens": 2.5}, "must be an integer"),
        ({"top_p": True}, "must be a finite number"),
        ({"stop": 5}, "a string or a list of strings"),
        ({"logprobs": "yes"}, "True or False"),
        ({"seed": {1}}, "must be an integer"),
        ({"metadata_ts": {1, 2}}, "must be JSON values"),
        ({"when": datetime.datetime(2026, 1, 1)}, "must be JSON values"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    make_llm: MakeLLM, params: dict[str, Any], match: str
) -> None:
    llm, client = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match=match):
        llm.generate(["hi"], **params)
    assert client.request_count == 0


def test_bad_default_parameters_are_refused_at_construction(make_llm: MakeLLM) -> None:
    with pytest.raises(errors.ConfigurationError, match="temperature"):
        make_llm("x", temperature="hot")


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([{"role": "wizard", "content": "hi"}], r"messages\[0\] has role 'wizard'"),
        ([{"role": "user", "content": 5}], r"messages\[0\] has content of type int"),
        ([{"role": "user"}], r"messages\[0\] has no 'content'"),
        ([{"role": "tool", "content": "x"}], "tool_call_id"),
        ([{"role": "assistant", "tool_calls": [{"id": 1}]}], r"tool_calls\[0\] must be"),
        (["hi"], r"messages\[0\] is str"),
        ([], "messages is empty"),
        (None, "messages is NoneType"),
        (b"bytes", "messages is bytes"),
    ],
)
def test_bad_messages_are_refused_naming_the_item(make_llm: MakeLLM, messages: Any, match: str) -> None:
    llm, client = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match=match):
        llm.chat(messages)
    with pytest.raises(errors.ConfigurationError, match=match):
        llm.stream(messages)
    assert client.request_count == 0


@pytest.mark.parametrize("prompts", [None, 5, b"bytes", {"a": 1}])
def test_prompts_that_are_not_an_iterable_of_prompts_name_the_argument(
    make_llm: MakeLLM, prompts: Any
) -> None:
    llm, _ = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match="generate: prompts must be"):
        llm.generate(prompts)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": "5"}, "timeout must be a positive number"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"max_retries": 2.5}, "max_retries must be a non-negative integer"),
        ({"max_concurrent": 0}, "max_concurrent must be a positive integer"),
        ({"cache": 5}, r"cache=5 \(int\) is not a cache"),
        ({"cache": "redis://host:6379/0"}, "cache"),
        ({"base_url": "localhost:8000"}, "base_url must start with"),
        ({"n": 2}, "n is not a default of LLM"),
    ],
)
def test_bad_llm_arguments_name_the_argument(make_llm: MakeLLM, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=match):
        make_llm("x", **kwargs)


def test_system_prompt_must_be_a_string(make_llm: MakeLLM) -> None:
    llm, _ = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match="system_prompt must be a string"):
        llm.generate(["hi"], system_prompt=5)  # type: ignore[arg-type]


def test_output_jsonl_must_be_a_path(make_llm: MakeLLM) -> None:
    llm, _ = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match="output_jsonl must be a path"):
        llm.generate(["hi"], output_jsonl=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda llm: llm.chat("hi", n=2), r"chat\(\) gives one reply"),
        (lambda llm: llm.stream("hi", n=2), r"stream\(\) gives one reply"),
        (lambda llm: llm.generate(["hi"], stream=True), r"generate\(\) does not stream"),
        (lambda llm: llm.generate(["hi"], n=0), "n must be a positive integer"),
        (lambda llm: llm.generate(["hi"], model="other"), "pass the model to llmp.LLM"),
    ],
)
def test_n_and_stream_errors_say_what_to_do_in_this_method(make_llm: MakeLLM, call: Any, match: str) -> None:
    llm, client = make_llm("x")
    with pytest.raises(errors.ConfigurationError, match=match):
        call(llm)
    assert client.request_count == 0


def test_model_must_be_a_name() -> None:
    with pytest.raises(errors.ConfigurationError, match="model must be a non-empty string"):
        llmp.LLM("")
