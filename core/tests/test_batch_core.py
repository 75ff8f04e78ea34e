"""The core's batch API on an in-memory provider batch (each wire is tested in its plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

import llmp
from llmp import errors
from llmp.testing import FunctionClient
from llmp.types import Capabilities, Request

from .conftest import per_token

MakeLLM = Callable[..., Any]


class Label(BaseModel):
    label: str


def answer(request: Request) -> str:
    prompt = str(request.messages[-1]["content"])
    if prompt == "fail":
        raise errors.BadRequestError("bad item", provider="test", status_code=400)
    if request.output_schema is not None:
        return '{"label": "' + prompt + '"}'
    return f"batch {prompt}"


def test_submit_status_retrieve_with_portable_ids_at_batch_prices(make_llm: MakeLLM) -> None:
    client = FunctionClient(answer, price=per_token, batch_polls=1)
    llm, _ = make_llm(client)
    batch_id = llm.batch_submit(["a", "b"])
    assert batch_id.startswith("test:2:fnbatch_")
    status = llm.batch_status(batch_id)
    assert (status.status, status.done, status.total) == ("in_progress", False, 2)
    assert llm.batch_retrieve(batch_id) is None
    assert llm.batch_status(batch_id).done
    assert llm.batch_retrieve(batch_id) == [["batch a"], ["batch b"]]
    assert llm.total_cost == pytest.approx(
        sum(per_token("m", llmp.Usage(1, 0, 2), "batch").total for _ in range(2))
    )
    # Every answer went to the cache: the same prompts through generate cost nothing.
    assert llm.generate(["a", "b"]) == [["batch a"], ["batch b"]]
    assert client.request_count == 0


def test_a_batch_with_an_output_schema_returns_parsed_results(make_llm: MakeLLM) -> None:
    llm, client = make_llm(FunctionClient(answer))
    batch_id = llm.batch_submit(["x", "y"], response_format=Label)
    assert all(
        r.output_schema is not None for r in client.batch.batches[batch_id.split(":")[2]]["requests"].values()
    )
    llm.batch_status(batch_id)
    assert llm.batch_retrieve(batch_id, response_format=Label) == [[Label(label="x")], [Label(label="y")]]
    rich = llm.batch_retrieve(batch_id, rich=True)
    assert rich is not None
    assert rich[0].text == '{"label": "x"}'


def test_failed_items_are_errors_in_place(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(FunctionClient(answer))
    results = llm.batch(["ok", "fail"], poll_interval=0.001, on_error="return")
    assert results[0] == ["batch ok"]
    assert isinstance(results[1], errors.BatchItemError)
    assert results[1].kind == "errored"


def test_ids_of_another_provider_or_malformed_are_refused(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(FunctionClient(answer))
    with pytest.raises(errors.ConfigurationError, match="belongs to provider 'openai'"):
        llm.batch_status("openai:2:batch_abc")
    with pytest.raises(errors.ConfigurationError, match="not an llmp batch id"):
        llm.batch_status("nonsense")


def test_a_provider_without_a_batch_api_says_which_have_one(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(FunctionClient(answer, capabilities=Capabilities(batch=False)))
    with pytest.raises(errors.ConfigurationError, match="has no batch API"):
        llm.batch_submit(["x"])


def test_an_in_memory_batch_without_polls_is_ready_at_once(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(FunctionClient(answer))
    batch_id = llm.batch_submit(["now"])
    assert llm.batch_retrieve(batch_id) == [["batch now"]]
