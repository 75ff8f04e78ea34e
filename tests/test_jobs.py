"""Big jobs: bounded window, as-finished iteration, JSONL checkpoint and resume, progress, early stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp.errors import (
    AuthenticationError,
    BadRequestError,
    CheckpointMismatchError,
    ConfigurationError,
    GenerationError,
)
from llmp.testing import bad_request
from llmp_openai.testing import FakeOpenAIServer

PROMPTS = [f"prompt number {i}" for i in range(20)]


def texts(record: Any) -> list[str]:
    """The sample texts of one checkpoint line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_checkpoint_is_complete_in_order_and_resume_sends_nothing(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "job.jsonl"
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=6)
    results = llm.generate(PROMPTS, output_jsonl=out)
    assert results == [[f"Echo: {p}"] for p in PROMPTS]
    records = lines(out)
    assert [r["index"] for r in records] == list(range(20))
    assert all(r["error"] is None and r["response"]["usage"]["output_tokens"] > 0 for r in records)  # type: ignore[index]
    assert texts(records[3]) == ["Echo: prompt number 3"]  # type: ignore[index]
    assert fake_openai.request_count == 20

    again = llmp.LLM("gpt-4.1-mini", cache=False)
    assert again.generate(PROMPTS, output_jsonl=out) == results
    assert fake_openai.request_count == 20, "a finished prompt is never re-sent"
    assert lines(out) == records


def test_resume_sends_only_what_is_missing(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    out = tmp_path / "job.jsonl"
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    llm.generate(PROMPTS[:8], output_jsonl=out)
    assert fake_openai.request_count == 8
    assert llm.generate(PROMPTS, output_jsonl=out) == [[f"Echo: {p}"] for p in PROMPTS]
    assert fake_openai.request_count == 20
    assert [r["index"] for r in lines(out)] == list(range(20))


def test_a_file_from_another_job_is_refused(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    out = tmp_path / "job.jsonl"
    llmp.LLM("gpt-4.1-mini", cache=False).generate(PROMPTS[:3], output_jsonl=out)
    with pytest.raises(CheckpointMismatchError, match="different job"):
        llmp.LLM("gpt-4.1-nano", cache=False).generate(PROMPTS[:3], output_jsonl=out)
    with pytest.raises(CheckpointMismatchError):
        llmp.LLM("gpt-4.1-mini", cache=False).generate(["other", "prompts", "here"], output_jsonl=out)
    assert fake_openai.request_count == 3


def test_torn_last_line_is_tolerated(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    out = tmp_path / "job.jsonl"
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    llm.generate(PROMPTS[:5], output_jsonl=out)
    with out.open("a") as f:
        f.write('{"index": 5, "request_hash": "ab')  # what kill -9 mid-write leaves behind
    assert llm.generate(PROMPTS[:7], output_jsonl=out) == [[f"Echo: {p}"] for p in PROMPTS[:7]]
    assert [r["index"] for r in lines(out)] == list(range(7))
    assert fake_openai.request_count == 7


def test_failed_items_are_recorded_and_retried_on_resume(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "job.jsonl"
    fake_openai.inject(bad_request("nope"), when=lambda body: body["messages"][-1]["content"] == PROMPTS[2])
    first = llmp.LLM("gpt-4.1-mini", cache=False).generate(PROMPTS[:4], output_jsonl=out, on_error="return")
    assert isinstance(first[2], BadRequestError)
    saved = lines(out)
    assert [r["index"] for r in saved] == [0, 1, 2, 3]
    assert saved[2]["response"] is None, "a failed item is saved with its error, and tried again"
    assert saved[2]["error"]["type"] == "BadRequestError"  # type: ignore[index]
    second = llmp.LLM("gpt-4.1-mini", cache=False).generate(PROMPTS[:4], output_jsonl=out)
    assert second[2] == [f"Echo: {PROMPTS[2]}"]
    assert fake_openai.request_count == 5, "only the failed item is sent again"


def test_iter_generate_keeps_a_bounded_window_over_a_generator(fake_openai: FakeOpenAIServer) -> None:
    pulled = 0

    def prompts() -> Iterator[str]:
        nonlocal pulled
        for i in range(300):
            pulled += 1
            yield f"g{i}"

    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=8)
    seen: dict[int, object] = {}
    for index, result in llm.iter_generate(prompts()):
        if not seen:
            # Only the window (in flight) plus the hand-over queue can be ahead of the consumer.
            assert pulled <= 8 + 8 + 1, pulled
        seen[index] = result
    assert len(seen) == 300
    assert seen[123] == ["Echo: g123"]
    assert fake_openai.max_in_flight <= 8


def test_a_non_str_prompt_from_a_generator_is_that_item_s_error(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    def prompts() -> Iterator[object]:
        yield "fine"
        yield 42
        yield "also fine"

    with pytest.raises(GenerationError) as info:
        llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=1).generate(
            prompts(), output_jsonl=tmp_path / "j"
        )  # type: ignore[arg-type]
    assert isinstance(info.value.errors[1], ConfigurationError)
    assert "prompts[1] is int" in str(info.value.errors[1])
    assert info.value.results[0] == ["Echo: fine"]
    assert info.value.results[2] == ["Echo: also fine"], "the job went on past the bad item"
    assert texts(lines(tmp_path / "j")[0]) == ["Echo: fine"], "what finished is in the checkpoint"


def test_a_rejected_key_stops_the_job_early(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-accepted-000000000000")
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=4)
    with pytest.raises(AuthenticationError):
        llm.generate([f"x{i}" for i in range(200)])
    assert fake_openai.request_count <= 8, "a 401 is not repeated for every prompt"


def test_progress_bar_reports_on_request(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llmp.LLM("gpt-4.1-mini", cache=False).generate(PROMPTS, progress=True)
    err = capsys.readouterr().err
    assert "20/20" in err
    assert "errors" in err
    llmp.LLM("gpt-4.1-mini", cache=False).generate(PROMPTS, progress=False)
    assert capsys.readouterr().err == ""


def test_no_key_in_checkpoint_cache_repr_or_errors(
    fake_openai: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = fake_openai.api_key
    llm = llmp.LLM("gpt-4.1-mini", cache=tmp_path / "cache")
    fake_openai.inject(
        bad_request("rejected prompt"), when=lambda body: body["messages"][-1]["content"] == "bad"
    )
    out = llm.generate(["good", "bad"], output_jsonl=tmp_path / "job.jsonl", on_error="return")
    from llmp._cache import shared_cache

    shared_cache(tmp_path / "cache").flush()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".jsonl") for p in files)
    assert any("sqlite" in p.name for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    texts = [repr(llm), str(llm.usage), repr(llm._engine.keys), repr(out[1]), str(out[1])]
    assert all(key not in text for text in texts)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-" + "w" * 30)
    with pytest.raises(AuthenticationError) as info:
        llmp.LLM("gpt-4.1-mini", cache=False).chat("x")
    assert "sk-wrong-" not in str(info.value) + repr(info.value)
