"""OpenAI's Batch API through llmp: the real openai SDK against the fake server (TLS, HTTP/2).

The fake runs each batch on a time scale (``fake.batches.step_seconds``), so a whole lifecycle
takes a fraction of a second; tests poll it, they never sleep to let something happen.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp.errors import (
    AuthenticationError,
    BadRequestError,
    BatchItemError,
    ConfigurationError,
    GenerationError,
)
from llmp.types import BatchStatus, Usage
from llmp_openai import _prices
from llmp_openai.testing import FakeOpenAIServer

MODEL = "gpt-4.1-mini"
TERMINAL = ("completed", "failed", "expired", "cancelled")
LIFECYCLE = ["validating", "in_progress", "finalizing", "completed"]


@pytest.fixture
def fake(fake_openai: FakeOpenAIServer) -> FakeOpenAIServer:
    fake_openai.batches.step_seconds = 0.01
    return fake_openai


def chat_calls(server: FakeOpenAIServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def poll(llm: llmp.LLM, batch_id: str, until: Any, timeout: float = 20.0) -> BatchStatus:
    """Check the batch's status until `until(status)` holds (the fake moves on a time scale)."""
    deadline = time.monotonic() + timeout
    while True:
        status = llm.batch_status(batch_id)
        if until(status):
            return status
        assert time.monotonic() < deadline, f"batch never reached the expected state: {status}"
        time.sleep(0.005)


def finished(llm: llmp.LLM, batch_id: str) -> BatchStatus:
    return poll(llm, batch_id, lambda s: s.status in TERMINAL)


# ----- success -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3])
def test_batch_returns_what_generate_returns_in_prompt_order(fake: FakeOpenAIServer, n: int) -> None:
    # More prompts than the fake answers per step, and its result file is not in input order.
    prompts = [f"question number {i}" for i in range(9)]
    out = llmp.LLM(MODEL, cache=False).batch(prompts, "Be brief.", n=n, poll_interval=0.01)
    assert (
        out[4]
        == ["Echo: question number 4", "Echo: question number 4 [1]", "Echo: question number 4 [2]"][:n]
    )
    assert chat_calls(fake) == [], "a batch makes no live calls"
    assert out == llmp.LLM(MODEL, cache=False).generate(prompts, "Be brief.", n=n)


def test_status_walks_the_openai_lifecycle(fake: FakeOpenAIServer) -> None:
    # Steps long enough that the first look comes while the batch is still validating.
    fake.batches.step_seconds = 0.2
    fake.batches.requests_per_step = 1
    llm = llmp.LLM(MODEL, cache=False)
    batch_id = llm.batch_submit(["a", "b"])
    seen: list[str] = []

    def record(status: BatchStatus) -> bool:
        if not seen or seen[-1] != status.status:
            seen.append(status.status)
        return status.status in TERMINAL

    final = poll(llm, batch_id, record)
    assert seen[0] == "validating"
    assert seen == sorted(seen, key=LIFECYCLE.index), f"the status went backwards: {seen}"
    assert final == BatchStatus("completed", "completed", completed=2, failed=0, total=2)


def test_batch_id_is_portable_and_names_provider_and_count(fake: FakeOpenAIServer) -> None:
    batch_id = llmp.LLM(MODEL).batch_submit(["x", "y", "z"])
    assert re.fullmatch(r"openai:3:batch_[0-9a-f]{24}", batch_id)
    raw_id = batch_id.split(":", 2)[2]
    # Another LLM (nothing shared but the id) reaches the same OpenAI batch.
    assert llmp.LLM(MODEL).batch_status(batch_id).status in LIFECYCLE
    assert fake.requests[-1].path == f"/v1/batches/{raw_id}"


def test_uploaded_file_is_openai_batch_jsonl(fake: FakeOpenAIServer) -> None:
    llm = llmp.LLM(MODEL, cache=False, temperature=0, max_tokens=50)
    llm.batch_submit(["alpha", "beta gamma"], system_prompt="Be brief.")
    upload = next(r for r in fake.requests if r.path == "/v1/files")
    create = next(r for r in fake.requests if r.path == "/v1/batches")
    assert upload.method == create.method == "POST"
    assert upload.http_version == "2", "batch calls go over the client's HTTP/2 connection"
    assert create.body == {
        "input_file_id": create.body["input_file_id"],
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    uploaded = fake.batches.files[create.body["input_file_id"]]
    assert (uploaded.purpose, uploaded.filename) == ("batch", "llmp-batch.jsonl")
    lines = [json.loads(line) for line in uploaded.content.decode().splitlines()]
    assert lines == [
        {
            "custom_id": str(i),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": MODEL,
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
                "temperature": 0,
                "max_tokens": 50,
            },
        }
        for i, prompt in enumerate(["alpha", "beta gamma"])
    ]


# ----- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("error_object", [False, True], ids=["status-400", "error-object"])
def test_failed_requests_are_reported_per_item_and_the_rest_kept(
    fake: FakeOpenAIServer, error_object: bool
) -> None:
    fake.batches.fail_requests(
        lambda body: body["messages"][-1]["content"] == "bad",
        message="Invalid 'messages': nope.",
        code="invalid_value",
        error_object=error_object,
    )
    llm = llmp.LLM(MODEL, cache=False)
    with pytest.raises(GenerationError) as info:
        llm.batch(["good", "bad", "fine"], poll_interval=0.01)
    assert info.value.results == [["Echo: good"], None, ["Echo: fine"]]
    error = info.value.errors[1]
    assert isinstance(error, BatchItemError)
    assert error.kind == "errored"
    assert "Invalid 'messages': nope." in str(error)
    assert error.status_code == (None if error_object else 400)
    assert llm.total_input_tokens == 2, "only answered requests are counted"

    out = llm.batch(["bad", "good"], poll_interval=0.01, on_error="return")
    assert isinstance(out[0], BatchItemError)
    assert out[1] == ["Echo: good"]


def test_expired_batch_returns_finished_items_and_expires_the_rest(fake: FakeOpenAIServer) -> None:
    fake.batches.requests_per_step = 1
    fake.batches.expire_after = 2
    llm = llmp.LLM(MODEL, cache=False)
    batch_id = llm.batch_submit(["e0", "e1", "e2", "e3"])
    status = finished(llm, batch_id)
    assert status.status == "expired"
    assert (status.completed, status.failed, status.total) == (2, 2, 4)
    out = llm.batch_retrieve(batch_id, on_error="return")
    assert out is not None
    assert out[:2] == [["Echo: e0"], ["Echo: e1"]]
    assert [(type(e), e.kind) for e in out[2:]] == [(BatchItemError, "expired")] * 2
    with pytest.raises(GenerationError) as info:
        llm.batch_retrieve(batch_id)
    assert sorted(info.value.errors) == [2, 3]


def test_batch_that_fails_validation_reports_every_item(fake: FakeOpenAIServer) -> None:
    fake.batches.fail_validation = "Enqueued token limit reached for gpt-4.1-mini."
    llm = llmp.LLM(MODEL, cache=False)
    batch_id = llm.batch_submit(["x", "y"])
    status = finished(llm, batch_id)
    assert status.status == "failed"
    with pytest.raises(GenerationError) as info:
        llm.batch_retrieve(batch_id)
    assert info.value.results == [None, None]
    for error in info.value.errors.values():
        assert isinstance(error, BatchItemError)
        assert error.kind == "errored"
        assert "Enqueued token limit reached" in str(error)


@pytest.mark.parametrize("report_unfinished", [True, False], ids=["error-lines", "in-no-file"])
def test_cancel_keeps_the_answers_so_far(fake: FakeOpenAIServer, report_unfinished: bool) -> None:
    fake.batches.requests_per_step = 1
    fake.batches.hold_after = 2  # a deterministic moment to cancel a running batch
    fake.batches.report_unfinished = report_unfinished
    llm = llmp.LLM(MODEL, cache=False)
    batch_id = llm.batch_submit(["c0", "c1", "c2", "c3"])
    running = poll(llm, batch_id, lambda s: s.completed == 2)
    assert running.status == "in_progress"
    assert (running.completed, running.failed, running.total) == (2, 0, 4)
    assert llm.batch_retrieve(batch_id) is None, "nothing to retrieve while the batch runs"
    assert llm.batch_cancel(batch_id).status == "cancelling"
    assert finished(llm, batch_id).status == "cancelled"
    out = llm.batch_retrieve(batch_id, on_error="return")
    assert out is not None
    assert out[:2] == [["Echo: c0"], ["Echo: c1"]]
    assert [(type(e), e.kind) for e in out[2:]] == [(BatchItemError, "canceled")] * 2


def test_unknown_batch_and_wrong_key_are_translated_errors(fake: FakeOpenAIServer) -> None:
    with pytest.raises(BadRequestError) as info:
        llmp.LLM(MODEL).batch_status("openai:1:batch_doesnotexist")
    assert info.value.status_code == 404
    wrong = "sk-wrong-" + "x" * 20
    with pytest.raises(AuthenticationError) as auth:
        llmp.LLM(MODEL, api_key=wrong).batch_submit(["x"])
    assert wrong not in str(auth.value)


def test_provider_without_batch_api_is_a_clear_error(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMBANOVA_API_KEY", fake.api_key)
    llm = llmp.LLM("sambanova/Meta-Llama-3.3-70B-Instruct", base_url=fake.base_url)
    with pytest.raises(ConfigurationError, match="no batch API") as info:
        llm.batch_submit(["x"])
    assert "openai" in str(info.value)
    assert fake.request_count == 0


# ----- spend, cache, portability --------------------------------------------------------------


def test_usage_is_billed_at_half_the_standard_price(fake: FakeOpenAIServer) -> None:
    prompts = ["how are you today", "what is the capital of France"]
    batched = llmp.LLM(MODEL, cache=False)
    batched.batch(prompts, poll_interval=0.01)
    live = llmp.LLM(MODEL, cache=False)
    live.generate(prompts)
    assert batched.total_input_tokens == live.total_input_tokens == 10
    assert batched.total_output_tokens == live.total_output_tokens == 12
    usage = Usage(batched.total_input_tokens, 0, batched.total_output_tokens)
    batch_price = _prices.cost("openai", MODEL, usage, "batch")
    assert batch_price is not None
    assert batched.total_cost == pytest.approx(batch_price.total)
    assert live.total_cost is not None
    assert batched.total_cost == pytest.approx(live.total_cost / 2)


def test_retrieved_answers_fill_the_cache(fake: FakeOpenAIServer) -> None:
    prompts = ["cache me", "and me"]
    first = llmp.LLM(MODEL, temperature=0).batch(prompts, "sys", poll_interval=0.01)
    again = llmp.LLM(MODEL, temperature=0)
    assert again.generate(prompts, "sys") == first
    assert chat_calls(fake) == [], "generate() of the same requests is served from the cache"
    assert again.total_cost == 0.0


def test_retrieve_from_a_fresh_process_with_only_the_id(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    llm = llmp.LLM(MODEL)
    batch_id = llm.batch_submit(["one", "two words"])
    assert finished(llm, batch_id).status == "completed"
    script = (
        "import json, sys, llmp\n"
        "llm = llmp.LLM('gpt-4.1-mini')\n"
        "status = llm.batch_status(sys.argv[1]).status\n"
        "out = llm.batch_retrieve(sys.argv[1])\n"
        "print(json.dumps({'status': status, 'results': out, 'cost': llm.total_cost}))\n"
    )
    # Only the id and the environment; another cache directory, so no manifest to help either.
    env = {**os.environ, "LLMP_CACHE_DIR": str(tmp_path / "elsewhere")}
    done = subprocess.run(
        [sys.executable, "-c", script, batch_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.splitlines()[-1])
    assert data["status"] == "completed"
    assert data["results"] == [["Echo: one"], ["Echo: two words"]]
    price = _prices.cost("openai", MODEL, Usage(3, 0, 5), "batch")
    assert price is not None
    assert data["cost"] == pytest.approx(price.total)


def test_key_is_in_no_id_manifest_or_file(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    llm = llmp.LLM(MODEL)
    batch_id = llm.batch_submit(["nothing secret here"])
    finished(llm, batch_id)
    assert llm.batch_retrieve(batch_id) == [["Echo: nothing secret here"]]
    key = fake.api_key
    assert key not in batch_id
    manifests = list(tmp_path.rglob("batches/*.json"))
    assert len(manifests) == 1
    assert json.loads(manifests[0].read_text())["id"] == batch_id
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written, "the cache and the manifest were written"
    for path in written:
        assert key.encode() not in path.read_bytes(), path
    for uploaded in fake.batches.files.values():
        assert key.encode() not in uploaded.content


async def test_abatch_polls_without_blocking_the_loop(fake: FakeOpenAIServer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        out = await llmp.LLM(MODEL, cache=False).abatch(["x"], poll_interval=0.01)
    finally:
        task.cancel()
    assert out == [["Echo: x"]]
    assert ticks > 10, "other tasks ran while the batch was polled"


# ----- the fake's objects are the SDK's -------------------------------------------------------


async def test_fake_batch_objects_validate_as_sdk_types(fake: FakeOpenAIServer) -> None:
    import openai
    from openai.types import Batch, FileObject
    from openai.types.chat import ChatCompletion

    llm = llmp.LLM(MODEL, cache=False)
    raw_id = (await llm.abatch_submit(["x", "y"])).split(":", 2)[2]
    async with openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url) as sdk:
        batch = await sdk.batches.retrieve(raw_id)
        while batch.status not in TERMINAL:
            await asyncio.sleep(0.005)
            batch = await sdk.batches.retrieve(raw_id)
        data = (await sdk.batches.with_raw_response.retrieve(raw_id)).http_response.json()
        assert set(data) == set(Batch.model_fields)
        Batch.model_validate(data, strict=False)
        assert batch.output_file_id is not None
        assert batch.error_file_id is None, "no error file when nothing failed"
        for file_id in (batch.input_file_id, batch.output_file_id):
            info = (await sdk.files.with_raw_response.retrieve(file_id)).http_response.json()
            assert set(info) == set(FileObject.model_fields)
            FileObject.model_validate(info)
        assert (await sdk.files.retrieve(batch.output_file_id)).purpose == "batch_output"
        content = (await sdk.files.content(batch.output_file_id)).content
        lines = [json.loads(line) for line in content.splitlines()]
        assert sorted(line["custom_id"] for line in lines) == ["0", "1"]
        for line in lines:
            assert set(line) == {"id", "custom_id", "response", "error"}
            assert line["error"] is None
            assert line["response"]["status_code"] == 200
            ChatCompletion.model_validate(line["response"]["body"])


# ----- rich requests and results ---------------------------------------------------------------


def _weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def test_rich_requests_go_into_the_jsonl_lines(fake: FakeOpenAIServer) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    llm = llmp.LLM("o4-mini", cache=False)
    llm.batch_submit(["tool me"], tools=[_weather], tool_choice="_weather", reasoning="low")
    llm.batch_submit(["schema me"], response_format=City)
    uploads = [f for f in fake.batches.files.values() if f.purpose == "batch"]
    tools_line, schema_line = (json.loads(f.content) for f in uploads)
    body = tools_line["body"]
    assert body["tools"][0]["function"]["name"] == "_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "_weather"}}
    assert body["reasoning_effort"] == "low"
    response_format = schema_line["body"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["additionalProperties"] is False


def test_rich_results_come_back_from_the_output_file(fake: FakeOpenAIServer) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int

    fake.reasoning_tokens = 3
    llm = llmp.LLM(MODEL, cache=False)
    calls = llm.batch_retrieve(
        _wait(llm, llm.batch_submit(["weather in Paris?", "REFUSE this"], tools=[_weather])), rich=True
    )
    assert calls is not None
    (call,) = calls[0].tool_calls
    assert (call.name, call.args()) == ("_weather", {"city": "city"})
    assert call.id.startswith("call_")
    assert calls[0].finish_reason == "tool_calls"
    assert calls[0].usage.reasoning_tokens == 3
    assert calls[1].choices[0].refusal == "I can't help with that."
    assert calls[1].text == ""
    parsed = llm.batch_retrieve(
        _wait(llm, llm.batch_submit(["a city"], response_format=City)), response_format=City
    )
    assert parsed == [[City(name="name", population=1)]]


def _wait(llm: llmp.LLM, batch_id: str) -> str:
    assert finished(llm, batch_id).status == "completed"
    return batch_id
