"""Gemini batch mode end to end: the real google-genai SDK over TLS/HTTP/2 to the fake's batch
lifecycle (`llmp_gemini.testing._fake_gemini_batch`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args

import pytest
from google.genai import types

import llmp
from llmp.errors import (
    AuthenticationError,
    BadRequestError,
    BatchItemError,
    EmptyResponseError,
    GenerationError,
)
from llmp.types import BatchState, BatchStatus
from llmp_gemini import _batch, _prices
from llmp_gemini._batch import STATES, status_of
from llmp_gemini.testing import FakeGeminiServer

MakeLLM = Callable[..., llmp.LLM]
FLASH = "gemini/gemini-3-flash-preview"
BATCH_PATHS = (":batchGenerateContent", ":cancel", ":download", "/files")


def batch_requests(server: FakeGeminiServer) -> list[Any]:
    return [r for r in server.requests if "/batches/" in r.path or r.path.endswith(BATCH_PATHS)]


def live_requests(server: FakeGeminiServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith(":generateContent")]


def doomed(body: Mapping[str, Any]) -> bool:
    return "doomed" in json.dumps(body.get("contents"))


# ----- the lifecycle -----


def test_batch_returns_results_in_prompt_order_over_http2(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.batches.time_scale = 0.05  # pending, running, then done: several polls
    llm = make_llm()
    prompts = [f"prompt number {i}" for i in range(7)]
    assert llm.batch(prompts, poll_interval=0.01) == [[f"Echo: {p}"] for p in prompts]
    (job,) = fake_gemini.batches.jobs
    assert job.display_name == "llmp: 7 requests, n=1"
    assert job.keys == [{"key": str(i)} for i in range(7)]
    wire = batch_requests(fake_gemini)
    assert wire[0].path == "/v1beta/models/gemini-3-flash-preview:batchGenerateContent"
    assert len(wire) >= 3, "the job was polled while pending and running"
    assert {r.http_version for r in wire} == {"2"}, "batch traffic must use HTTP/2"
    assert not live_requests(fake_gemini), "a batch never falls back to live calls"


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "file"])
def test_answers_are_mapped_back_by_key_not_position(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    if not inline:
        monkeypatch.setattr(_batch, "INLINE_MAX_BYTES", 0)
    fake_gemini.batches.reorder_output = True
    prompts = ["one", "two", "three"]
    assert make_llm().batch(prompts, poll_interval=0.01) == [[f"Echo: {p}"] for p in prompts]
    assert (fake_gemini.batches.jobs[0].input_file is None) == inline


def test_batch_requests_are_built_as_the_live_call_builds_them(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm("gemini/gemini-2.5-flash")
    params: dict[str, Any] = {"temperature": 0.3, "max_tokens": 50, "reasoning_effort": "low", "stop": "zzz"}
    live = llm.generate(["one two", "three"], system_prompt="Be concise.", n=2, **params)
    out = llm.batch(["one two", "three"], system_prompt="Be concise.", n=2, poll_interval=0.01, **params)
    assert out == live == [["Echo: one two", "Echo: one two [1]"], ["Echo: three", "Echo: three [1]"]]
    sent = sorted((r.body for r in live_requests(fake_gemini)), key=json.dumps)
    (job,) = fake_gemini.batches.jobs
    assert sorted(job.requests, key=json.dumps) == sent
    config = job.requests[0]["generationConfig"]
    assert config["candidateCount"] == 2
    assert config["thinkingConfig"] == {"thinking_budget": 1024, "include_thoughts": True}
    assert job.requests[0]["systemInstruction"]["parts"] == [{"text": "Be concise."}]


def test_status_while_pending_and_running_then_cancel(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.batches.time_scale = None  # jobs move only when the test says so
    llm = make_llm()
    bid = llm.batch_submit(["a", "b", "c"])
    assert bid.startswith("gemini:3:batches/")
    assert llm.batch_status(bid) == BatchStatus("validating", "JOB_STATE_PENDING", 0, 0, 3)
    assert llm.batch_retrieve(bid) is None
    fake_gemini.batches.advance()
    assert llm.batch_status(bid).status == "in_progress"
    cancelled = llm.batch_cancel(bid)
    assert (cancelled.status, cancelled.raw_status) == ("cancelled", "JOB_STATE_CANCELLED")
    out = llm.batch_retrieve(bid, on_error="return")
    assert out is not None
    assert len(out) == 3
    assert all(isinstance(e, BatchItemError) and e.kind == "canceled" for e in out)
    assert fake_gemini.requests[-3].path.endswith(":cancel")


@pytest.mark.parametrize("partial_state", [False, True], ids=["BATCH_STATE_SUCCEEDED", "PARTIALLY_SUCCEEDED"])
def test_partly_failed_batch_keeps_every_finished_answer(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, partial_state: bool
) -> None:
    fake_gemini.batches.fail_when = doomed
    fake_gemini.batches.item_error = (8, "Resource has been exhausted (e.g. check quota).")
    fake_gemini.batches.partial_state = partial_state
    llm = make_llm()
    with pytest.raises(GenerationError) as info:
        llm.batch(["ok", "doomed", "fine", "doomed too"], poll_interval=0.01)
    assert info.value.results == [["Echo: ok"], None, ["Echo: fine"], None]
    assert set(info.value.errors) == {1, 3}
    error = info.value.errors[1]
    assert isinstance(error, BatchItemError)
    assert (error.kind, error.status_code) == ("errored", 429), "gRPC RESOURCE_EXHAUSTED is HTTP 429"
    assert "exhausted" in str(error)
    bid = f"gemini:4:{fake_gemini.batches.jobs[0].name}"
    status = llm.batch_status(bid)
    assert status.status == "completed"
    assert status.raw_status == ("JOB_STATE_PARTIALLY_SUCCEEDED" if partial_state else "JOB_STATE_SUCCEEDED")
    assert (status.completed, status.failed, status.total) == (2, 2, 4)
    out = llm.batch_retrieve(bid, on_error="return")
    assert out is not None
    assert out[0] == ["Echo: ok"]
    assert isinstance(out[3], BatchItemError)


def test_an_answer_without_text_is_a_per_item_error(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.empty_text = True
    out = make_llm().batch(["x"], poll_interval=0.01, on_error="return")
    assert isinstance(out[0], EmptyResponseError), "the core's answer rules judge batch results too"
    assert "no text" in str(out[0])


def test_expired_batch_reports_every_request_expired(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.batches.expire = True
    llm = make_llm()
    with pytest.raises(GenerationError) as info:
        llm.batch(["a", "b"], poll_interval=0.01)
    assert info.value.results == [None, None]
    assert {type(e).__name__ for e in info.value.errors.values()} == {"BatchItemError"}
    assert all(getattr(e, "kind", None) == "expired" for e in info.value.errors.values())
    status = llm.batch_status(f"gemini:2:{fake_gemini.batches.jobs[0].name}")
    assert (status.status, status.raw_status) == ("expired", "JOB_STATE_EXPIRED")


def test_failed_batch(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.batches.fail_job = "Batch processing failed."
    llm = make_llm()
    out = llm.batch(["a"], poll_interval=0.01, on_error="return")
    assert isinstance(out[0], BatchItemError)
    assert out[0].kind == "errored"
    assert "JOB_STATE_FAILED" in str(out[0])
    assert llm.batch_status(f"gemini:1:{fake_gemini.batches.jobs[0].name}").status == "failed"


# ----- every state -----


EXPECTED = {
    "JOB_STATE_UNSPECIFIED": "validating",
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


@pytest.mark.parametrize("state", list(types.JobState), ids=lambda s: s.value)
def test_every_job_state_maps_to_an_llmp_status(state: types.JobState) -> None:
    assert status_of(state) == (EXPECTED[state.value], state.value)
    # The Gemini API's own names, should the SDK pass one through unrenamed.
    batch_name = state.value.replace("JOB_STATE_", "BATCH_STATE_")
    assert status_of(batch_name)[0] == EXPECTED[state.value]


def test_state_table_is_exactly_the_sdk_states() -> None:
    assert set(STATES) == {s.value for s in types.JobState} == set(EXPECTED)
    assert set(STATES.values()) <= set(get_args(BatchState))


def test_missing_and_unknown_states() -> None:
    assert status_of(None) == ("validating", "JOB_STATE_UNSPECIFIED")
    assert status_of("JOB_STATE_FROM_THE_FUTURE") == ("in_progress", "JOB_STATE_FROM_THE_FUTURE")


# ----- ids, processes, cost, cache -----


def test_retrieve_from_a_fresh_process_with_only_the_id(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.batches.time_scale = None
    bid = make_llm(cache=True).batch_submit(["alpha", "beta"], system_prompt="Be concise.")
    fake_gemini.batches.advance(2)
    script = (
        "import dataclasses, json, sys, llmp\n"
        f"llm = llmp.LLM({FLASH!r})\n"
        "status = dataclasses.asdict(llm.batch_status(sys.argv[1]))\n"
        "print(json.dumps([status, llm.batch_retrieve(sys.argv[1]), llm.total_cost]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, bid], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    status, results, cost = json.loads(done.stdout)
    assert status["status"] == "completed"
    assert status["total"] == 2
    assert results == [["Echo: alpha"], ["Echo: beta"]]
    assert cost > 0
    # The other process filled this machine's cache: generate() here costs nothing.
    again = make_llm(cache=True)
    assert again.generate(["alpha", "beta"], system_prompt="Be concise.") == results
    assert not live_requests(fake_gemini)
    assert again.total_cost == 0.0


def test_batch_costs_half_the_live_price(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.thoughts_tokens = 5  # billed as output, at the batch rate too
    prompts = ["count these four words", "and these three"]
    live = make_llm("gemini/gemini-2.5-pro")
    live.generate(prompts)
    batch = make_llm("gemini/gemini-2.5-pro")
    batch.batch(prompts, poll_interval=0.01)
    assert batch.total_input_tokens == live.total_input_tokens > 0
    assert batch.total_output_tokens == live.total_output_tokens > 0
    assert live.total_cost is not None
    assert batch.total_cost is not None
    assert batch.total_cost == pytest.approx(live.total_cost * _prices.BATCH_DISCOUNT)


def test_finished_batches_fill_the_cache(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm(cache=True)
    out = llm.batch(["x", "y"], system_prompt="S", poll_interval=0.01)
    later = make_llm(cache=True)
    assert later.generate(["x", "y"], system_prompt="S") == out
    assert not live_requests(fake_gemini), "served from the cache"
    assert later.total_cost == 0.0
    later.generate(["x"], system_prompt="other")  # a different request still goes live
    assert len(live_requests(fake_gemini)) == 1


def test_the_key_is_never_in_the_id_or_the_files(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, tmp_path: Path
) -> None:
    bid = make_llm(cache=True).batch_submit(["secret-free"])
    assert fake_gemini.api_key not in bid
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.name == "batches" for p in written), "the manifest was written"
    for path in written:
        assert fake_gemini.api_key.encode() not in path.read_bytes(), path


def test_foreign_and_malformed_ids(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    for bad in ("gemini:2:operations/x", "gemini:2:batches/a/b", "openai:2:batch_x"):
        with pytest.raises(ValueError, match="batch"):
            llm.batch_status(bad)
    with pytest.raises(BadRequestError) as info:
        llm.batch_status("gemini:1:batches/nosuchbatch")
    assert info.value.status_code == 404


def test_a_wrong_key_is_an_authentication_error(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaWrong")
    with pytest.raises(AuthenticationError):
        make_llm().batch_submit(["a"])


# ----- big jobs go through the Files API -----


def test_a_big_job_is_uploaded_as_jsonl(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = ["first", "doomed", "third"]
    make_llm().batch(prompts, system_prompt="S", n=2, poll_interval=0.01, on_error="return")
    (inline_job,) = fake_gemini.batches.jobs
    fake_gemini.reset()
    fake_gemini.batches.fail_when = doomed
    monkeypatch.setattr(_batch, "INLINE_MAX_BYTES", 10)
    out = make_llm().batch(prompts, system_prompt="S", n=2, poll_interval=0.01, on_error="return")
    assert out[0] == ["Echo: first", "Echo: first [1]"]
    assert out[2] == ["Echo: third", "Echo: third [1]"]
    assert isinstance(out[1], BatchItemError)
    assert out[1].status_code == 500
    (job,) = fake_gemini.batches.jobs
    assert job.input_file is not None
    assert job.keys == ["0", "1", "2"]
    assert job.requests == inline_job.requests, "file lines are the requests an inline batch sends"
    paths = [r.path for r in batch_requests(fake_gemini)]
    assert paths[:3] == [
        "/upload/v1beta/files",
        "/upload/v1beta/files",
        "/v1beta/models/gemini-3-flash-preview:batchGenerateContent",
    ]
    assert paths[-1].endswith(":download")
    assert {r.http_version for r in batch_requests(fake_gemini)} == {"2"}


def test_a_named_api_version_other_than_v1_is_kept(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_BASE_URL", f"{fake_gemini.base_url}/v1alpha")
    assert make_llm().batch(["a"], poll_interval=0.01) == [["Echo: a"]]
    assert {r.path.split("/")[1] for r in batch_requests(fake_gemini)} == {"v1alpha"}


# ----- rich requests and results -----


def _weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def test_a_batch_carries_tools_schema_and_thinking_and_returns_rich_results(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int

    llm = make_llm(cache=True)
    calls = llm.batch(
        ["weather in Paris?", "and Rome?"], tools=[_weather], reasoning="low", rich=True, poll_interval=0.01
    )
    for response in calls:
        (call,) = response.tool_calls
        assert (call.name, call.args()) == ("_weather", {"city": "city"})
        assert call.extra is not None
        assert call.extra["thought_signature"], "Gemini 3 signs its calls"
        assert response.finish_reason == "tool_calls"
        assert response.reasoning.startswith("Thinking about")
        assert response.usage.reasoning_tokens > 0
    cities = llm.batch(["describe city 0"], response_format=City, poll_interval=0.01)
    assert cities == [[City(name="name", population=1)]]
    first, second = fake_gemini.batches.jobs
    request = first.requests[0]
    assert request["tools"][0]["functionDeclarations"][0]["name"] == "_weather"
    assert request["generationConfig"]["thinkingConfig"] == {
        "thinking_level": "LOW",
        "include_thoughts": True,
    }
    assert second.requests[0]["generationConfig"]["responseMimeType"] == "application/json"
    # The rich answers were cached from the batch: the live calls cost nothing.
    again = llm.generate(["describe city 0"], response_format=City)
    assert again == cities
    assert not live_requests(fake_gemini)


def test_a_tool_turn_goes_through_a_batch_with_its_signature(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    first = llm.complete("weather in Paris?", tools=[_weather])
    conversation = [
        {"role": "user", "content": "weather in Paris?"},
        first.choices[0].message(),
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "sunny"},
    ]
    (answer,) = llm.batch([conversation], tools=[_weather], rich=True, poll_interval=0.01)
    assert answer.text == "The tool said: sunny"
    part = fake_gemini.batches.jobs[0].requests[0]["contents"][1]["parts"][0]
    assert part["thoughtSignature"], "the signature went back inside the batch request"
