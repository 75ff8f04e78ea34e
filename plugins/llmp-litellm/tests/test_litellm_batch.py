"""Anthropic's Message Batches through the whole client stack, against the fake server over TLS."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel

import llmp
from llmp import errors
from llmp.types import BatchStatus
from llmp_litellm.testing import FakeAnthropicServer

MODEL = "anthropic/claude-sonnet-4-6"  # conftest's make_llm model
MakeLLM = Any  # conftest.MakeLLM (tests are not a package, so not importable)
PROMPTS = [f"prompt number {i}" for i in range(6)]  # more than one step of the fake's time scale
BATCHES = "/v1/messages/batches"


def batch_calls(server: FakeAnthropicServer) -> list[Any]:
    return [r for r in server.requests if r.path.startswith(BATCHES)]


def live_calls(server: FakeAnthropicServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/messages"]


def sent_params(server: FakeAnthropicServer) -> list[dict[str, Any]]:
    (create,) = [r for r in batch_calls(server) if r.method == "POST" and r.path == BATCHES]
    return [item["params"] for item in create.body["requests"]]


def wait_for(llm: llmp.LLM, bid: str, statuses: set[str], timeout: float = 10.0) -> BatchStatus:
    """Poll the status (on the fake's time scale) until it is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        status = llm.batch_status(bid)
        if status.status in statuses:
            return status
        assert time.monotonic() < deadline, f"still {status} after {timeout} s"
        time.sleep(0.01)


def test_results_come_back_in_prompt_order(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    out = llm.batch(PROMPTS, system_prompt="be brief", poll_interval=0.01)
    assert out == [[f"Echo: {p}"] for p in PROMPTS]
    assert not live_calls(fake_anthropic), "a batch sends no /v1/messages request"
    create = batch_calls(fake_anthropic)[0]
    assert create.headers["x-api-key"] == fake_anthropic.api_key
    assert create.headers["anthropic-version"] == "2023-06-01"
    assert create.http_version == "2"
    assert [r["custom_id"] for r in create.body["requests"]] == [str(i) for i in range(6)]
    params = sent_params(fake_anthropic)[0]
    assert params["system"] == [{"type": "text", "text": "be brief"}]
    assert params["max_tokens"] == 64000  # litellm's default for the model, as a live call sends
    assert [m["role"] for m in params["messages"]] == ["user"]


async def test_async_batch_from_a_running_loop(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    bid = await llm.abatch_submit(PROMPTS[:2])
    assert bid.startswith("anthropic:2:msgbatch_")
    assert await llm.abatch(PROMPTS[2:4], poll_interval=0.01) == [[f"Echo: {p}"] for p in PROMPTS[2:4]]


def test_results_out_of_order_are_mapped_by_custom_id(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    fake_anthropic.message_batches.result_order = "reversed"
    llm = make_llm()
    bid = llm.batch_submit(PROMPTS)
    wait_for(llm, bid, {"completed"})
    # The file really is out of order...
    raw_id = bid.split(":", 2)[2]
    headers = {"x-api-key": fake_anthropic.api_key, "anthropic-version": "2023-06-01"}
    with httpx2.Client(http2=True) as http:
        lines = http.get(f"{fake_anthropic.base_url}{BATCHES}/{raw_id}/results", headers=headers).text
    assert [json.loads(line)["custom_id"] for line in lines.splitlines()] == ["5", "4", "3", "2", "1", "0"]
    # ...and the results are not.
    assert llm.batch_retrieve(bid) == [[f"Echo: {p}"] for p in PROMPTS]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"temperature": 0.5, "max_tokens": 50, "stop": ["END"]},
        {"top_p": 0.3, "top_k": 3, "user": "u-1"},
        {"metadata": {"user_id": "u-2"}},
        {"reasoning_effort": "low", "max_tokens": 4096},
        {"extra_body": {"service_tier": "standard_only"}},
    ],
)
def test_params_are_those_of_a_live_call(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM, params: dict[str, Any]
) -> None:
    llm = make_llm(**params)
    llm.chat("alpha beta", system_prompt="be brief")
    (live,) = live_calls(fake_anthropic)
    llm.batch_submit("alpha beta", system_prompt="be brief")
    assert sent_params(fake_anthropic) == [live.body]


class City(BaseModel):
    name: str
    population: int


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize(
    ("model", "options"),
    [
        (MODEL, {"response_format": City}),  # output_format, under its beta header
        ("anthropic/claude-haiku-4-5", {"response_format": City}),  # litellm's json_tool_call tool
        (MODEL, {"tools": [weather], "tool_choice": "weather"}),
        (MODEL, {"tools": [weather], "reasoning": 4096}),
    ],
)
def test_rich_requests_are_those_of_a_live_call(
    fake_anthropic: FakeAnthropicServer, registry: llmp.Registry, model: str, options: dict[str, Any]
) -> None:
    llm = llmp.LLM(model, registry=registry, cache=False, max_retries=0)
    live = llm.complete("alpha beta", **options)
    (sent,) = live_calls(fake_anthropic)
    bid = llm.batch_submit(["alpha beta"], **options)
    assert sent_params(fake_anthropic) == [sent.body]
    (create,) = [r for r in batch_calls(fake_anthropic) if r.method == "POST"]
    assert create.headers.get("anthropic-beta") == sent.headers.get("anthropic-beta")
    wait_for(llm, bid, {"completed"})
    rich = llm.batch_retrieve(bid, rich=True, response_format=options.get("response_format"))
    assert rich is not None
    (answer,) = rich
    assert answer.texts == live.texts
    assert [(c.name, c.args()) for c in answer.tool_calls] == [(c.name, c.args()) for c in live.tool_calls]
    assert answer.reasoning == live.reasoning
    assert answer.finish_reason == live.finish_reason
    if "response_format" in options:
        assert isinstance(answer.parsed, City)
        assert llm.batch_retrieve(bid, response_format=City) == [[answer.parsed]]


def test_unsupported_parameter_is_refused_before_sending(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    with pytest.raises(errors.UnsupportedParameterError, match="seed"):
        make_llm(seed=3).batch_submit(PROMPTS)
    assert not fake_anthropic.requests


def test_partial_failure_keeps_every_finished_item(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    batches = fake_anthropic.message_batches
    batches.requests_per_step = 1
    batches.expire_after = 3  # prompts 0-2 run, 3-5 expire
    batches.fail_requests(lambda body: "number 1" in json.dumps(body), status=529)
    llm = make_llm()
    with pytest.raises(errors.GenerationError) as info:
        llm.batch(PROMPTS, poll_interval=0.01)
    assert info.value.results == [
        ["Echo: prompt number 0"],
        None,
        ["Echo: prompt number 2"],
        None,
        None,
        None,
    ]
    kinds = {
        i: (e.kind, e.status_code)
        for i, e in info.value.errors.items()
        if isinstance(e, errors.BatchItemError)
    }
    assert kinds == {1: ("errored", 529), 3: ("expired", None), 4: ("expired", None), 5: ("expired", None)}
    assert "overloaded_error" in str(info.value.errors[1])
    raw_id = next(r.path for r in batch_calls(fake_anthropic) if r.method == "GET").rsplit("/", 1)[1]
    bid = f"anthropic:6:{raw_id}"
    status = llm.batch_status(bid)
    assert (status.status, status.raw_status) == ("completed", "ended")
    assert (status.completed, status.failed, status.total) == (2, 4, 6)
    out = llm.batch_retrieve(bid, on_error="return")
    assert out is not None
    assert (out[0], out[2]) == (["Echo: prompt number 0"], ["Echo: prompt number 2"])
    assert [e.kind for i, e in enumerate(out) if i not in (0, 2)] == [
        "errored",
        "expired",
        "expired",
        "expired",
    ]


def test_a_batch_that_never_ran_is_expired(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    fake_anthropic.message_batches.expire_after = 0
    llm = make_llm()
    out = llm.batch(PROMPTS[:2], poll_interval=0.01, on_error="return")
    assert all(isinstance(e, errors.BatchItemError) and e.kind == "expired" for e in out)
    bid = llm.batch_submit(PROMPTS[:2])
    status = wait_for(llm, bid, {"expired"})
    assert (status.completed, status.failed, status.total) == (0, 2, 2)


def test_cancel_keeps_what_ran_and_cancels_the_rest(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    batches = fake_anthropic.message_batches
    batches.step_seconds = 0  # no time scale: the two held requests have run at once
    batches.hold_after = 2
    llm = make_llm()
    bid = llm.batch_submit(PROMPTS[:4])
    assert llm.batch_status(bid).status == "in_progress"
    assert llm.batch_retrieve(bid) is None
    assert llm.batch_cancel(bid).status == "completed"
    out = llm.batch_retrieve(bid, on_error="return")
    assert out is not None
    assert out[:2] == [["Echo: prompt number 0"], ["Echo: prompt number 1"]]
    assert [e.kind for e in out[2:]] == ["canceled", "canceled"]


def test_cancelling_then_cancelled(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    fake_anthropic.message_batches.hold_after = 0
    llm = make_llm()
    bid = llm.batch_submit(PROMPTS[:2])
    assert llm.batch_cancel(bid).status == "cancelling"
    assert wait_for(llm, bid, {"cancelled", "completed"}).status == "cancelled"
    with pytest.raises(errors.GenerationError) as info:
        llm.batch_retrieve(bid)
    assert {e.kind for e in info.value.errors.values()} == {"canceled"}


def test_n_samples_are_separate_requests(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    assert llm.batch(["p q", "r s"], n=3, poll_interval=0.01) == [["Echo: p q"] * 3, ["Echo: r s"] * 3]
    create = batch_calls(fake_anthropic)[0]
    assert [r["custom_id"] for r in create.body["requests"]] == ["0-0", "0-1", "0-2", "1-0", "1-1", "1-2"]
    assert all("n" not in r["params"] for r in create.body["requests"])
    assert (llm.total_input_tokens, llm.total_output_tokens) == (12, 18)
    # One failed sample fails its prompt, not the other one.
    seen = []
    fake_anthropic.message_batches.fail_requests(lambda body: (seen.append(1), len(seen) == 2)[1], status=500)
    out = llm.batch(["p q", "r s"], n=3, poll_interval=0.01, on_error="return")
    assert isinstance(out[0], errors.BatchItemError)
    assert out[0].status_code == 500
    assert out[1] == ["Echo: r s"] * 3


def test_cost_is_half_the_live_price(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    fake_anthropic.cache_read_tokens = 1
    fake_anthropic.cache_creation_tokens = 1
    live, batch = make_llm(), make_llm()
    live.generate(PROMPTS)
    batch.batch(PROMPTS, poll_interval=0.01)
    totals = (batch.total_input_tokens, batch.total_cached_tokens, batch.total_output_tokens)
    assert totals == (live.total_input_tokens, live.total_cached_tokens, live.total_output_tokens)
    assert batch.total_cached_tokens == len(PROMPTS)
    assert isinstance(live.total_cost, float)
    assert live.total_cost > 0
    assert batch.total_cost == pytest.approx(live.total_cost / 2)


def test_a_later_generate_is_served_from_the_cache(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    make_llm(cache=True).batch(PROMPTS, system_prompt="be brief", poll_interval=0.01)
    again = make_llm(cache=True)
    assert again.generate(PROMPTS, system_prompt="be brief") == [[f"Echo: {p}"] for p in PROMPTS]
    assert not live_calls(fake_anthropic)
    assert again.total_cost == 0.0


def test_retrieve_from_a_fresh_process_with_only_the_id(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    llm = make_llm(cache=True)
    bid = llm.batch_submit(PROMPTS[:3])
    wait_for(llm, bid, {"completed"})
    code = (
        "import json, llmp\n"
        f"llm = llmp.LLM({MODEL!r})\n"
        f"print(json.dumps([llm.batch_retrieve({bid!r}), llm.total_input_tokens, llm.total_cost]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    results, tokens, cost = json.loads(out.stdout.strip().splitlines()[-1])
    assert results == [[f"Echo: {p}"] for p in PROMPTS[:3]]
    assert tokens == 9
    assert isinstance(cost, float)
    assert cost > 0
    # The other process filled this one's cache.
    assert make_llm(cache=True).generate(PROMPTS[:3]) == results
    assert not live_calls(fake_anthropic)


def test_the_key_is_never_in_the_id_or_the_manifest(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    bid = make_llm(cache=True).batch_submit(PROMPTS)
    key = fake_anthropic.api_key
    assert key not in bid
    root = Path(os.environ["LLMP_CACHE_DIR"])
    manifests = list(root.rglob("batches/*.json"))
    assert manifests, "the manifest was written"
    for path in root.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_errors_are_clear(fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM) -> None:
    with pytest.raises(errors.BadRequestError) as info:
        make_llm().batch_status("anthropic:1:msgbatch_unknown")
    assert info.value.status_code == 404
    with pytest.raises(errors.AuthenticationError) as auth:
        make_llm(api_key="sk-ant-wrong-key").batch_submit(PROMPTS)
    assert "sk-ant-wrong-key" not in str(auth.value)


def test_a_catch_all_model_has_no_batch_api(
    fake_anthropic: FakeAnthropicServer, registry: llmp.Registry
) -> None:
    llm = llmp.LLM("mistral/mistral-large-latest", registry=registry, cache=False)
    with pytest.raises(errors.ConfigurationError, match="no batch API") as info:
        llm.batch_submit(PROMPTS)
    assert "anthropic" in str(info.value)
    with pytest.raises(ValueError, match="belongs to provider 'anthropic'"):
        llm.batch_status("anthropic:1:msgbatch_x")
    assert not fake_anthropic.requests


def test_status_without_httpx2_and_without_importing_litellm(
    fake_anthropic: FakeAnthropicServer, make_llm: MakeLLM
) -> None:
    fake_anthropic.message_batches.hold_after = 0
    bid = make_llm().batch_submit(PROMPTS[:2])
    code = (
        "import sys\n"
        "sys.modules['httpx2'] = None  # as if not installed: litellm's own httpx is used\n"
        "import llmp\n"
        f"print(llmp.LLM({MODEL!r}).batch_status({bid!r}).status, 'litellm' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["in_progress", "False"]
    assert batch_calls(fake_anthropic)[-1].headers["user-agent"].startswith("python-httpx/")


def test_the_fake_checks_shape_at_creation_and_params_when_run(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.message_batches.step_seconds = 0
    headers = {"x-api-key": fake_anthropic.api_key, "anthropic-version": "2023-06-01"}
    good = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "a b"}]}
    with httpx2.Client(http2=True, base_url=fake_anthropic.base_url, headers=headers) as http:
        for requests in (
            [{"custom_id": "a.1", "params": good}],  # Anthropic allows only [A-Za-z0-9_-]
            [{"custom_id": "a", "params": good}, {"custom_id": "a", "params": good}],
            [],
        ):
            answer = http.post(BATCHES, json={"requests": requests})
            assert answer.status_code == 400, requests
            assert answer.json()["error"]["type"] == "invalid_request_error"
        bad = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "a b"}]}
        batch = http.post(BATCHES, json={"requests": [{"custom_id": "x", "params": bad}]}).json()
        assert batch["processing_status"] == "ended"
        assert batch["request_counts"]["errored"] == 1
        (line,) = http.get(f"{BATCHES}/{batch['id']}/results").text.splitlines()
        error = json.loads(line)["result"]["error"]
        assert (error["type"], error["error"]["message"]) == ("error", "max_tokens: Field required")
        fake_anthropic.message_batches.step_seconds = 60.0
        running = http.post(BATCHES, json={"requests": [{"custom_id": "y", "params": good}]}).json()
        assert running["request_counts"] == {
            "processing": 1, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
        }  # fmt: skip
        assert running["results_url"] is None
        assert http.get(f"{BATCHES}/{running['id']}/results").status_code == 400
