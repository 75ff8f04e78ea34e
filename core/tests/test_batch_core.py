"""The core's batch API against a small in-process provider (the wire is tested per plugin)."""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp.errors import BatchItemError, GenerationError
from llmp.types import ClientSettings, Cost, Request, Response, Route, Usage


class ToyClient:
    """A provider whose batches finish after `polls_until_done` status checks."""

    batches: dict[str, dict[str, Any]] = {}
    calls = 0

    async def call(self, request: Request) -> Response:
        ToyClient.calls += 1
        return Response([f"live {request.messages[-1]['content']}"], Usage(3, 0, 2))

    async def batch(self, op: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        if op == "submit":
            raw = f"toybatch_{len(self.batches)}"
            prompts = [r.messages[-1]["content"] for r in payload["requests"]]
            self.batches[raw] = {
                "prompts": dict(zip(payload["custom_ids"], prompts, strict=True)),
                "polls": 0,
            }
            return {"id": raw}
        job = self.batches[payload["id"]]
        if op == "status":
            job["polls"] += 1
            done = job["polls"] >= 2
            total = len(job["prompts"])
            return {
                "status": "completed" if done else "in_progress",
                "raw_status": "x",
                "counts": {"completed": total if done else 0, "failed": 0, "total": total},
            }
        if op == "retrieve":
            if job["polls"] < 2:
                return {"done": False}
            results = {
                cid: {"texts": [f"batch {p}"], "usage": Usage(10, 0, 4)}
                for cid, p in job["prompts"].items()
                if p != "doomed"
            }
            errors = {
                cid: {"kind": "expired", "message": "batch window ended", "status_code": None}
                for cid, p in job["prompts"].items()
                if p == "doomed"
            }
            return {"done": True, "results": results, "errors": errors}
        raise AssertionError(op)


def toy_plugin() -> types.SimpleNamespace:
    def llmp_routes() -> list[Route]:
        return [Route("toy/*", "toy", api="toy")]

    def llmp_create_client(provider: str, settings: ClientSettings) -> object | None:
        return ToyClient() if settings.api == "toy" else None

    def llmp_call(client: object, request: Request) -> Any:
        return client.call(request) if isinstance(client, ToyClient) else None

    def llmp_batch(client: object, op: str, payload: Mapping[str, Any]) -> Any:
        return client.batch(op, payload) if isinstance(client, ToyClient) else None

    def llmp_price(provider: str, model: str, usage: Usage, mode: str) -> Cost | None:
        rate = 0.5 if mode == "batch" else 1.0
        return Cost(usage.input_tokens * rate, 0.0, usage.output_tokens * rate) if provider == "toy" else None

    ns = types.SimpleNamespace(__name__="toy")
    for func in (llmp_routes, llmp_create_client, llmp_call, llmp_batch, llmp_price):
        setattr(ns, func.__name__, llmp.hookimpl(func))
    return ns


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> llmp.Registry:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
    ToyClient.batches = {}
    ToyClient.calls = 0
    return llmp.Registry(load_entry_points=False, plugins=[toy_plugin()])


def test_submit_status_retrieve_with_portable_ids(registry: llmp.Registry) -> None:
    llm = llmp.LLM("toy/m", registry=registry)
    bid = llm.batch_submit(["a", "b"], system_prompt="be brief")
    assert bid == "toy:2:toybatch_0"
    assert llm.batch_retrieve(bid) is None  # not done yet
    assert llm.batch_status(bid)["status"] == "in_progress"
    status = llm.batch_status(bid)
    assert status["status"] == "completed"
    assert status["counts"] == {"completed": 2, "failed": 0, "total": 2}
    # Another LLM (as in another process) needs only the id.
    other = llmp.LLM("toy/m", registry=registry)
    assert other.batch_retrieve(bid) == [["batch a"], ["batch b"]]
    assert other.total_cost == pytest.approx(2 * (10 * 0.5 + 4 * 0.5)), "priced at the batch rate"
    assert other.total_input_tokens == 20


def test_batch_results_fill_the_cache(registry: llmp.Registry) -> None:
    llm = llmp.LLM("toy/m", registry=registry)
    assert llm.batch(["x", "y"], poll_interval=0.01) == [["batch x"], ["batch y"]]
    again = llmp.LLM("toy/m", registry=registry)
    assert again.generate(["x", "y"]) == [["batch x"], ["batch y"]]
    assert ToyClient.calls == 0, "generate() of the same requests is served from the cache"
    assert again.total_cost == 0.0


def test_failed_items_are_per_item_and_finished_ones_are_kept(registry: llmp.Registry) -> None:
    llm = llmp.LLM("toy/m", registry=registry)
    with pytest.raises(GenerationError) as info:
        llm.batch(["ok", "doomed", "fine"], poll_interval=0.01)
    assert info.value.results == [["batch ok"], None, ["batch fine"]]
    error = info.value.errors[1]
    assert isinstance(error, BatchItemError)
    assert error.kind == "expired"
    bid = "toy:3:toybatch_0"
    out = llm.batch_retrieve(bid, on_error="return")
    assert out is not None
    assert isinstance(out[1], BatchItemError)


@pytest.mark.parametrize("bad", ["nonsense", "toy:x:id", "toy:2", "", "openai:2:batch_abc"])
def test_malformed_or_foreign_ids_are_value_errors(registry: llmp.Registry, bad: str) -> None:
    llm = llmp.LLM("toy/m", registry=registry)
    with pytest.raises(ValueError, match="batch"):
        llm.batch_status(bad)
