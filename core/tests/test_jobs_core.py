"""Big jobs in the core: order, errors in place, resume with rich results, when a job stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmp import errors
from llmp.types import Choice, Request, ToolCall

MakeLLM = Callable[..., Any]


def echo(request: Request) -> str:
    return f"re: {request.messages[-1]['content']}"


def test_results_come_in_prompt_order_from_any_iterable(make_llm: MakeLLM) -> None:
    async def jittery(request: Request) -> str:
        index = int(str(request.messages[-1]["content"]).split()[-1])
        await asyncio.sleep((index % 7) / 1000)  # finish out of order
        return f"answer {index}"

    llm, _ = make_llm(jittery, max_concurrent=16)
    results = llm.generate(f"prompt {i}" for i in range(200))
    assert results == [[f"answer {i}"] for i in range(200)]


def test_a_failing_prompt_keeps_every_other_result(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        if request.messages[-1]["content"] == "bad":
            raise errors.BadRequestError("no", provider="test", status_code=400)
        return echo(request)

    llm, _ = make_llm(answer)
    with pytest.raises(errors.GenerationError) as info:
        llm.generate(["a", "bad", "c"])
    assert info.value.results == [["re: a"], None, ["re: c"]]
    assert set(info.value.errors) == {1}
    returned = llm.generate(["a", "bad", "c"], on_error="return")
    assert isinstance(returned[1], errors.BadRequestError)


def test_iter_generate_yields_as_items_finish(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(echo)
    seen = dict(llm.iter_generate(["x", "y", "z"]))
    assert seen == {0: ["re: x"], 1: ["re: y"], 2: ["re: z"]}


def test_rich_results_from_generate(make_llm: MakeLLM) -> None:
    llm, _ = make_llm(lambda r: Choice(text="t", reasoning="why", finish_reason="stop"))
    (response,) = llm.generate(["x"], rich=True)
    assert response.reasoning == "why"
    assert response.text == "t"


def test_the_checkpoint_restores_rich_results_and_never_resends(make_llm: MakeLLM, tmp_path: Path) -> None:
    def answer(request: Request) -> Any:
        prompt = str(request.messages[-1]["content"])
        return Choice(
            text=prompt.upper(),
            tool_calls=[ToolCall("c", "f", json.dumps({"p": prompt}))],
            finish_reason="stop",
        )

    out = tmp_path / "job.jsonl"
    llm, client = make_llm(answer, cache=False)
    first = llm.generate([f"p{i}" for i in range(20)], rich=True, output_jsonl=out)
    assert client.request_count == 20
    again, client2 = make_llm(answer, cache=False)
    restored = again.generate([f"p{i}" for i in range(20)], rich=True, output_jsonl=out)
    assert client2.request_count == 0
    assert [r.tool_calls for r in restored] == [r.tool_calls for r in first]
    assert [r.text for r in restored] == [f"P{i}" for i in range(20)]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(20))
    assert lines[3]["response"]["choices"][0]["tool_calls"][0]["arguments"] == '{"p": "p3"}'


def test_a_killed_job_resumes_without_resending_finished_prompts(tmp_path: Path) -> None:
    out = tmp_path / "killed.jsonl"
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, sys, llmp
            from llmp.testing import FunctionClient
            async def slow(request):
                await asyncio.sleep(0.002)
                return "done " + request.messages[-1]["content"]
            client = FunctionClient(slow)
            llm = llmp.LLM("test/m", registry=client.registry(), cache=False, max_concurrent=8)
            for index, _ in llm.iter_generate([f"p{{i}}" for i in range(3000)], output_jsonl={str(out)!r}):
                if index == 400:
                    print("ready", flush=True)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    finished = sum(1 for line in out.read_bytes().splitlines(keepends=True) if line.endswith(b"\n"))
    assert 0 < finished < 3000

    import llmp
    from llmp.testing import FunctionClient

    client = FunctionClient(lambda r: "done " + r.messages[-1]["content"])
    llm = llmp.LLM("test/m", registry=client.registry(), cache=False)
    results = llm.generate([f"p{i}" for i in range(3000)], output_jsonl=out)
    assert results == [[f"done p{i}"] for i in range(3000)]
    assert client.request_count <= 3000 - finished + 1, "a finished prompt was sent again"


# -- when a job stops (issue 15 items 14 and 19, issue 14 item 25) ---------------------------


def test_a_rejected_key_stops_the_job_and_no_worker_writes_afterwards(
    make_llm: MakeLLM, tmp_path: Path
) -> None:
    calls = []

    async def answer(request: Request) -> str:
        calls.append(1)
        await asyncio.sleep(0.001)
        if len(calls) > 10:
            raise errors.AuthenticationError("revoked", provider="test", status_code=401)
        return "ok"

    out = tmp_path / "stop.jsonl"
    llm, _ = make_llm(answer, cache=False, max_concurrent=4)
    with pytest.raises(errors.AuthenticationError):
        llm.generate([f"p{i}" for i in range(500)], output_jsonl=out)
    assert len(calls) < 30, "the job went on after the key was rejected"
    size = out.stat().st_size
    sent = len(calls)
    asyncio.run(asyncio.sleep(0.05))
    assert out.stat().st_size == size, "a worker wrote to the checkpoint after the job stopped"
    assert len(calls) == sent


def test_the_same_400_for_the_first_requests_stops_the_job(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        raise errors.BadRequestError(
            "Unrecognized request argument: tempreture", provider="test", status_code=400
        )

    llm, client = make_llm(answer, max_concurrent=2)
    with pytest.raises(errors.BadRequestError, match="stopped the job: 3 requests in a row") as info:
        llm.generate([f"p{i}" for i in range(300)])
    assert "tempreture" in str(info.value)
    assert client.request_count <= 3 + 2


def test_different_400s_do_not_stop_the_job(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        raise errors.BadRequestError(
            f"bad {request.messages[-1]['content']}", provider="test", status_code=400
        )

    llm, client = make_llm(answer)
    results = llm.generate([f"p{i}" for i in range(20)], on_error="return")
    assert all(isinstance(r, errors.BadRequestError) for r in results)
    assert client.request_count == 20


def test_a_bad_item_from_a_generator_is_that_item_s_error(make_llm: MakeLLM) -> None:
    def prompts() -> Iterator[Any]:
        for i in range(100):
            yield None if i == 50 else f"p{i}"

    llm, client = make_llm(echo)
    results = llm.generate(prompts(), on_error="return")
    assert isinstance(results[50], errors.ConfigurationError)
    assert "prompts[50] is NoneType" in str(results[50])
    assert results[49] == ["re: p49"]
    assert results[51] == ["re: p51"]
    assert client.request_count == 99


def test_a_known_list_with_a_bad_item_fails_before_sending(make_llm: MakeLLM) -> None:
    llm, client = make_llm(echo)
    with pytest.raises(errors.ConfigurationError, match=r"prompts\[1\] is bytes"):
        llm.generate(["ok", b"bytes"])
    assert client.request_count == 0


def test_a_plugin_bug_stops_the_job_instead_of_failing_every_prompt(make_llm: MakeLLM) -> None:
    def buggy(request: Request) -> str:
        raise AttributeError("'NoneType' object has no attribute 'text'")

    llm, client = make_llm(buggy, max_concurrent=2)
    with pytest.raises(AttributeError):
        llm.generate([f"p{i}" for i in range(100)])
    assert client.request_count <= 2


def test_a_generator_that_raises_stops_the_job_with_its_error(make_llm: MakeLLM) -> None:
    def prompts() -> Iterator[str]:
        yield "a"
        raise RuntimeError("input file vanished")

    llm, _ = make_llm(echo)
    with pytest.raises(RuntimeError, match="input file vanished"):
        llm.generate(prompts())


# -- the progress bar shows the job, not the instance (issue 14 item 17) ---------------------


def test_the_progress_bar_counts_this_job_only(make_llm: MakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm, _ = make_llm("one two three", cache=False)
    llm.generate([f"p{i}" for i in range(5)], progress=True)  # 15 output tokens on the instance
    capsys.readouterr()
    llm.generate(["q"], progress=True)
    bar = capsys.readouterr().err
    assert "out 3 tok" in bar, bar
    assert llm.usage.output_tokens == 18


def test_a_failed_item_is_recorded_in_the_checkpoint_with_its_error(
    make_llm: MakeLLM, tmp_path: Path
) -> None:
    def answer(request: Request) -> str:
        if request.messages[-1]["content"] == "bad":
            raise errors.BadRequestError("refused", provider="test", status_code=400)
        return "ok"

    out = tmp_path / "job.jsonl"
    llm, _ = make_llm(answer, cache=False)
    llm.generate(["a", "bad", "c"], on_error="return", output_jsonl=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert lines[1]["response"] is None
    assert lines[1]["error"]["type"] == "BadRequestError"
