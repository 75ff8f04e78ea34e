"""`llmp batch submit|status|retrieve|cancel`, over the core's real batch API.

Most tests use a small in-process provider (a `FunctionClient` whose `batch` is the test's own
`BatchApi`) in a private `Registry`, handed to the CLI through its `llm_factory` hook, so every
state (running, finished, failed items, cancelled) is reached on demand; everything between the
CLI and the client's batch API is the real core. The last test runs the whole path against the
fake OpenAI Batch API.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp._cli import main
from llmp.testing import FunctionClient
from llmp.types import BatchFailure, BatchResults, BatchStatus, Choice, Cost, Request, Response, Usage


class BatchStore:
    """A provider's batch service (llmp's `BatchApi`): jobs finish when the test says so."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, str]] = {}
        self.finished = False
        self.cancelled: list[str] = []

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        raw = f"batch_{len(self.jobs)}"
        prompts = [str(r.messages[-1]["content"]) for r in requests]
        self.jobs[raw] = dict(zip(custom_ids, prompts, strict=True))
        return raw

    def _status(self, raw: str, state: str) -> BatchStatus:
        total = len(self.jobs[raw])
        done = total if self.finished else 0
        return BatchStatus(state, state, completed=done, total=total)  # type: ignore[arg-type]

    async def status(self, raw: str) -> BatchStatus:
        return self._status(raw, "completed" if self.finished else "in_progress")

    async def cancel(self, raw: str) -> BatchStatus:
        self.cancelled.append(raw)
        return self._status(raw, "cancelling")

    async def retrieve(self, raw: str) -> BatchResults:
        if not self.finished:
            return BatchResults(done=False)
        prompts = self.jobs[raw]
        ok = {
            c: Response([Choice(text=f"batch: {p}", finish_reason="stop")], Usage(10, 0, 4))
            for c, p in prompts.items()
            if p != "doomed"
        }
        bad = {c: BatchFailure("expired", "window ended") for c, p in prompts.items() if p == "doomed"}
        return BatchResults(True, ok, bad)


def texts(record: Any) -> list[str]:
    """The sample texts of one result line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


def toy_price(model: str, usage: Usage, mode: str) -> Cost:
    rate = 0.5 if mode == "batch" else 1.0
    return Cost(usage.input_tokens * rate / 1e6, 0.0, usage.output_tokens * rate / 1e6)


def registry_with(store: BatchStore) -> llmp.Registry:
    client = FunctionClient(lambda request: "live", price=toy_price)  # type: ignore[arg-type]
    client.batch = store  # type: ignore[assignment]
    return client.registry("toy/*", provider="toy")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BatchStore:
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    return BatchStore()


def cli(
    argv: list[str], store: BatchStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    registry = registry_with(store)
    created: list[Any] = []

    def factory(model: str, **kwargs: Any) -> llmp.LLM:
        created.append(llmp.LLM(model, registry=registry, **kwargs))
        return created[-1]

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(argv, llm_factory=factory)
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_status_retrieve_from_separate_invocations(
    store: BatchStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "first"}\n{"prompt": "second"}\n')
    code, out, err = cli(["batch", "submit", str(source), "-m", "toy/model"], store, capsys, monkeypatch)
    assert code == 0
    batch_id = out.strip()
    assert batch_id == "toy:2:batch_0"  # alone on stdout, for `id=$(llmp batch submit ...)`
    assert f"llmp batch status {batch_id} -m toy/model" in err

    code, out, _ = cli(["batch", "status", batch_id, "-m", "toy/model"], store, capsys, monkeypatch)
    assert (code, out) == (0, f"{batch_id}: in_progress (0 of 2 completed, 0 failed)\n")
    code, out, err = cli(["batch", "retrieve", batch_id, "-m", "toy/model"], store, capsys, monkeypatch)
    assert (code, out) == (3, "")
    assert "has not finished yet" in err

    store.finished = True
    code, out, _ = cli(["batch", "status", batch_id, "-m", "toy/model", "--json"], store, capsys, monkeypatch)
    status = json.loads(out)
    assert (status["status"], status["completed"], status["failed"], status["total"]) == (
        "completed",
        2,
        0,
        2,
    )
    assert status["done"] is True
    target = tmp_path / "results.jsonl"
    code, out, err = cli(
        ["batch", "retrieve", batch_id, "-m", "toy/model", "-o", str(target)], store, capsys, monkeypatch
    )
    assert (code, out) == (0, "")
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(line["index"], texts(line), line["error"]) for line in lines] == [
        (0, ["batch: first"], None),
        (1, ["batch: second"], None),
    ]
    # Two items of 10 in / 4 out tokens at the batch rate (half of 1 USD per million).
    assert "2 results, 0 failed" in err
    assert "tokens in 20, out 8; cost $0.000014" in err


def test_retrieve_to_stdout_reports_failed_items(
    store: BatchStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("fine\ndoomed\n")
    _, out, _ = cli(
        ["batch", "submit", str(source), "-m", "toy/m", "-s", "Be brief."], store, capsys, monkeypatch
    )
    store.finished = True
    code, out, err = cli(["batch", "retrieve", out.strip(), "-m", "toy/m"], store, capsys, monkeypatch)
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert texts(first) == ["batch: fine"]
    assert second["response"] is None
    assert second["error"]["type"] == "BatchItemError"
    assert "window ended" in second["error"]["message"]
    assert "2 results, 1 failed" in err


def test_cancel_and_a_foreign_id(
    store: BatchStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\n")
    _, out, _ = cli(["batch", "submit", str(source), "-m", "toy/m"], store, capsys, monkeypatch)
    code, out, _ = cli(["batch", "cancel", out.strip(), "-m", "toy/m"], store, capsys, monkeypatch)
    assert (code, out) == (0, "toy:1:batch_0: cancelling (0 of 1 completed, 0 failed)\n")
    assert store.cancelled == ["batch_0"]
    code, out, err = cli(["batch", "status", "openai:2:batch_x", "-m", "toy/m"], store, capsys, monkeypatch)
    assert (code, out) == (1, "")
    assert err.startswith("llmp: error: batch 'openai:2:batch_x' belongs to provider 'openai'")
    assert err.count("\n") == 1
