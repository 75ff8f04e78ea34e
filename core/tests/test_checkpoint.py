"""The `output_jsonl` checkpoint on real files: format, resume, damage, memory, locking, kills."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp._checkpoint import Checkpoint
from llmp.errors import BadRequestError, CheckpointLockedError, CheckpointMismatchError, ConfigurationError
from llmp.testing import FunctionClient
from llmp.types import Request


def response(index: int, size: int = 40) -> dict[str, Any]:
    text = f"answer {index} " + "x" * size
    return {"texts": [text], "usage": {"input_tokens": 3, "output_tokens": 7}}


def key(index: int) -> str:
    return f"hash-{index:06d}"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def written(path: Path, indices: range | list[int], size: int = 40) -> Path:
    checkpoint = Checkpoint(path)
    for i in indices:
        checkpoint.write(i, key(i), response(i, size), None)
    checkpoint.close()
    return path


def test_records_are_v2_lines_and_resume_reads_them_back(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    checkpoint = Checkpoint(path)
    for i in (2, 0, 3):
        checkpoint.write(i, key(i), response(i), None)
    error = BadRequestError("bad prompt", status_code=400)
    checkpoint.write(1, key(1), None, error)
    assert checkpoint.finished == 3
    checkpoint.close()
    assert [r["index"] for r in lines(path)] == [2, 0, 3, 1], "append-only until the job ends"
    assert lines(path)[0] == {
        "v": 2,
        "index": 2,
        "request_hash": key(2),
        "response": response(2),
        "error": None,
    }
    assert lines(path)[3]["error"] == {"type": "BadRequestError", "message": str(error)}

    again = Checkpoint(path)
    assert again.finished == 3
    assert again.restored(3, key(3)) == response(3)
    assert again.restored(1, key(1)) is None, "a failed item is tried again"
    assert again.restored(7, key(7)) is None
    with pytest.raises(CheckpointMismatchError, match="different job"):
        again.restored(0, "another request")
    again.write(1, key(1), response(1), None)  # the retry succeeds
    assert again.finished == 4
    assert [r["index"] for r in again] == [0, 1, 2, 3], "records in index order, the last one wins"
    again.finish(4)
    assert lines(path) == [
        {"v": 2, "index": i, "request_hash": key(i), "response": response(i), "error": None} for i in range(4)
    ]
    assert again.restored(2, key(2)) == response(2), "read back from the rewritten file"


def test_text_that_utf8_cannot_encode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    checkpoint = Checkpoint(path)
    odd = {"texts": ["caf\u00e9 \ud800 lone surrogate"]}
    checkpoint.write(0, key(0), odd, None)
    checkpoint.finish(1)
    assert Checkpoint(path).restored(0, key(0)) == odd


def test_memory_does_not_hold_the_answers(tmp_path: Path) -> None:
    # Item 16: the old checkpoint kept every record (`Checkpoint.done`), 24 KB answers and all.
    path = tmp_path / "job.jsonl"
    tracemalloc.start()
    try:
        checkpoint = Checkpoint(path)
        for i in range(2_000):
            checkpoint.write(i, key(i), response(i, 24_000), None)
        after_writes = tracemalloc.get_traced_memory()[0]
        checkpoint.close()
        del checkpoint
        tracemalloc.reset_peak()
        resumed = Checkpoint(path)
        after_scan = tracemalloc.get_traced_memory()[0]
        assert resumed.restored(1_234, key(1_234)) == response(1_234, 24_000)
        resumed.finish(2_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 48_000_000
    # 2,000 items cost a few dozen bytes each in memory, not their 24 KB.
    assert after_writes < 1_000_000, after_writes
    assert after_scan < 1_000_000, after_scan
    assert peak < 2_000_000, peak


def test_a_corrupt_middle_line_is_skipped_and_reported_never_the_lines_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Item 17: the old scan stopped at the first bad line and truncated the file there.
    path = written(tmp_path / "job.jsonl", range(300))
    raw = path.read_bytes().splitlines(keepends=True)
    raw[149] = b"\x00\x17garbage from a bad disk\n"
    raw[199] = b'{"v": 2, "index": "not a number"}\n'
    raw[249] = b"[1, 2, 3]\n"
    path.write_bytes(b"".join(raw))
    with caplog.at_level(logging.WARNING, logger="llmp.checkpoint"):
        checkpoint = Checkpoint(path)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(path) in message
    assert "skipped 3 unreadable line(s) (line 150, 200, 250)" in message
    assert checkpoint.finished == 297
    assert checkpoint.restored(149, key(149)) is None, "its item is sent again"
    assert all(checkpoint.restored(i, key(i)) == response(i) for i in range(150, 300) if i not in (199, 249))
    assert path.read_bytes() == b"".join(raw), "nothing is discarded while the job runs"
    for i in (149, 199, 249):
        checkpoint.write(i, key(i), response(i), None)
    checkpoint.finish(300)
    assert [r["index"] for r in lines(path)] == list(range(300))


def test_many_bad_lines_are_reported_in_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = written(tmp_path / "job.jsonl", range(3))
    with path.open("ab") as f:
        f.write(b"junk\n" * 40 + path.read_bytes().splitlines(keepends=True)[0])
    with caplog.at_level(logging.WARNING, logger="llmp.checkpoint"):
        checkpoint = Checkpoint(path)
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "skipped 40 unreadable line(s) (line 4, 5, 6, 7, 8, ...); their items will be sent again, "
        "every other line is kept"
    ]
    assert checkpoint.finished == 3


def test_a_torn_last_line_is_cut_off_and_only_it(tmp_path: Path) -> None:
    path = written(tmp_path / "job.jsonl", range(5))
    whole = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"v": 2, "index": 5, "request_hash": "ab')  # what kill -9 mid-write leaves
    checkpoint = Checkpoint(path)
    assert path.read_bytes() == whole
    assert checkpoint.finished == 5
    checkpoint.write(5, key(5), response(5), None)
    checkpoint.close()
    assert [r["index"] for r in lines(path)] == list(range(6))


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = written(tmp_path / "job.jsonl", range(3))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # as an editor may save it
    checkpoint = Checkpoint(path)
    assert checkpoint.finished == 3
    checkpoint.write(3, key(3), response(3), None)
    checkpoint.close()
    assert [r["index"] for r in lines(path)] == [0, 1, 2, 3]


def test_a_file_from_an_older_llmp_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    v1 = {"index": 0, "request_hash": "h", "outputs": ["4"], "usage": None, "error": None}
    path.write_text(json.dumps(v1) + "\n")
    with pytest.raises(CheckpointMismatchError) as info:
        Checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "written by an older llmp version" in message
    assert "Move or delete the file" in message
    assert "another output_jsonl path" in message
    with pytest.raises(CheckpointMismatchError):
        Checkpoint(path)  # not CheckpointLockedError: a refused open unlocks


def test_a_file_from_a_newer_llmp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_text(json.dumps({"v": 3, "index": 0, "request_hash": "h"}) + "\n")
    with pytest.raises(CheckpointMismatchError, match="newer llmp version"):
        Checkpoint(path)


def test_finish_keeps_only_the_lines_of_this_job(tmp_path: Path) -> None:
    # Item 18: rerunning the first 750 prompts over a 3,000-prompt file left 1,803 lines.
    path = written(tmp_path / "job.jsonl", range(3_000))
    checkpoint = Checkpoint(path)
    assert checkpoint.count_finished(750) == 750
    assert checkpoint.count_finished(None) == checkpoint.finished == 3_000
    checkpoint.finish(750)
    assert [r["index"] for r in lines(path)] == list(range(750))
    assert checkpoint.finished == 750


def test_finish_without_a_total_keeps_every_index_and_the_file_mode(tmp_path: Path) -> None:
    path = written(tmp_path / "job.jsonl", [4, 1, 9])
    path.chmod(0o640)
    checkpoint = Checkpoint(path)
    checkpoint.finish(None)
    assert [r["index"] for r in lines(path)] == [1, 4, 9]
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["job.jsonl"], "no temporary file left"


def test_a_job_that_wrote_nothing_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "job.jsonl"
    Checkpoint(path).close()
    assert not path.exists()
    done = Checkpoint(path)
    done.finish(0)
    assert path.read_bytes() == b"", "a finished job of no prompts is an empty file"
    with pytest.raises(ValueError, match="closed"):
        done.write(0, key(0), response(0), None)


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"output_jsonl .* is a directory"):
        Checkpoint(tmp_path)


def test_one_run_at_a_time_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    first = Checkpoint(path)
    with pytest.raises(CheckpointLockedError) as info:
        Checkpoint(path)
    assert str(path) in str(info.value)
    assert "another run" in str(info.value)
    first.write(0, key(0), response(0), None)
    first.finish(1)
    Checkpoint(path).close()  # free again once the job ended


HOLDER = textwrap.dedent(
    """
    import sys
    from llmp._checkpoint import Checkpoint
    checkpoint = Checkpoint(sys.argv[1])
    checkpoint.write(0, "hash-000000", {"texts": ["held"]}, None)
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until killed
    """
)


def test_a_second_process_is_refused_at_once_and_a_killed_holder_frees_the_file(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        with pytest.raises(CheckpointLockedError, match=str(path)):
            Checkpoint(path)
        assert time.monotonic() - started < 1, "refused at once, not after a wait"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
        holder.wait()
    checkpoint = Checkpoint(path)  # the kernel dropped the dead holder's lock
    assert checkpoint.restored(0, key(0)) == {"texts": ["held"]}
    checkpoint.close()


def test_temporaries_are_unique_and_a_killed_finish_leaves_none_behind(tmp_path: Path) -> None:
    path = written(tmp_path / "job.jsonl", range(3))
    stale = tmp_path / ".job.jsonl.4242-0badf00d.tmp"  # a finish that was killed
    stale.write_bytes(b"half a rewrite")
    others = [tmp_path / ".job.jsonl2.4242-0badf00d.tmp", tmp_path / "job.jsonl.tmp", tmp_path / "notes.txt"]
    for other in others:
        other.write_text("someone else's")
    checkpoint = Checkpoint(path)
    assert not stale.exists()
    assert all(other.exists() for other in others), "only this file's temporaries are removed"

    made: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        made.append(Path(src).name)
        real_replace(src, dst)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", spy)
        checkpoint.finish(3)
        again = Checkpoint(path)
        again.finish(3)
    assert len(made) == 2
    assert made[0] != made[1]
    assert all(name.startswith(".job.jsonl.") and name.endswith(".tmp") for name in made)


WRITER = textwrap.dedent(
    """
    import sys
    from llmp._checkpoint import Checkpoint
    path, total = sys.argv[1], int(sys.argv[2])
    checkpoint = Checkpoint(path)
    for i in range(total):
        if checkpoint.restored(i, f"hash-{i:06d}") is None:
            checkpoint.write(i, f"hash-{i:06d}", {"texts": [f"answer {i} " + "x" * 4000]}, None)
    print("finishing", flush=True)
    checkpoint.finish(total)
    print("done", flush=True)
    """
)


def check_resumable(path: Path) -> None:
    checkpoint = Checkpoint(path)  # opens (the kill dropped the lock), every line valid
    indices = [record["index"] for record in checkpoint]
    assert all(checkpoint.restored(i, key(i)) == {"texts": [f"answer {i} " + "x" * 4000]} for i in indices)
    assert checkpoint.finished == len(indices)
    checkpoint.close()


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_file_that_resumes(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    total = 3_000  # 12 MB of lines
    rng = random.Random(7)
    command = [sys.executable, "-c", WRITER, str(path), str(total)]
    for _ in range(4):  # while lines are appended
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        target = (path.stat().st_size if path.exists() else 0) + rng.randint(1, 2_500_000)
        deadline = time.monotonic() + 30
        while (not path.exists() or path.stat().st_size < target) and writer.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert writer.poll() is None, "killed while it writes"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        check_resumable(path)
    torn_rewrites = 0
    for _ in range(3):  # during the final rewrite
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        assert writer.stdout.readline() == "finishing\n"
        time.sleep(rng.uniform(0, 0.1))  # the kill moment, not a synchronisation
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        torn_rewrites += len(list(tmp_path.glob(".job.jsonl.*.tmp")))
        check_resumable(path)
    assert torn_rewrites >= 1, "at least one kill landed in the middle of a rewrite"
    assert [p.name for p in tmp_path.iterdir()] == ["job.jsonl"], "killed rewrites leave no temporaries"
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    assert result.stdout.endswith("done\n")
    assert [r["index"] for r in lines(path)] == list(range(total))


# -- through the job (`generate` / `iter_generate` with output_jsonl) ------------------------

PROMPTS = [f"prompt number {i}" for i in range(60)]


def echo(request: Request) -> str:
    """What the fake OpenAI server answers: ``Echo: <the prompt>``."""
    return f"Echo: {request.messages[-1]['content']}"


def test_a_job_resumes_past_a_corrupt_middle_line(tmp_path: Path) -> None:
    # Item 17: the old resume truncated the file at the bad line and re-sent everything after it.
    client = FunctionClient(echo)
    out = tmp_path / "job.jsonl"
    llmp.LLM("test/mini", registry=client.registry(), cache=False).generate(PROMPTS, output_jsonl=out)
    raw = out.read_bytes().splitlines(keepends=True)
    raw[20] = b"#### not json ####\n"
    out.write_bytes(b"".join(raw))
    before = client.request_count
    again = llmp.LLM("test/mini", registry=client.registry(), cache=False).generate(PROMPTS, output_jsonl=out)
    assert again == [[f"Echo: {p}"] for p in PROMPTS]
    assert client.request_count - before == 1, "only the unreadable line's prompt is sent again"
    assert [r["index"] for r in lines(out)] == list(range(60))


def test_a_shorter_job_keeps_only_its_own_lines(tmp_path: Path) -> None:
    # Item 18: rerunning the first prompts over a longer job's file kept the other lines.
    client = FunctionClient(echo)
    out = tmp_path / "job.jsonl"
    llmp.LLM("test/mini", registry=client.registry(), cache=False).generate(PROMPTS, output_jsonl=out)
    assert llmp.LLM("test/mini", registry=client.registry(), cache=False).generate(
        PROMPTS[:15], output_jsonl=out
    ) == [[f"Echo: {p}"] for p in PROMPTS[:15]]
    assert client.request_count == 60, "resumed, nothing re-sent"
    assert [r["index"] for r in lines(out)] == list(range(15))


def test_a_second_job_on_a_busy_file_is_refused_before_sending(tmp_path: Path) -> None:
    # Item 18: two runs on one checkpoint paid twice (and one crashed on the shared .tmp name).
    client = FunctionClient(echo)
    out = tmp_path / "job.jsonl"
    llm = llmp.LLM("test/mini", registry=client.registry(), cache=False, max_concurrent=2)
    running = llm.iter_generate(PROMPTS, output_jsonl=out)
    next(running)  # the first job is under way and holds the file
    with pytest.raises(CheckpointLockedError, match=str(out)):
        llmp.LLM("test/nano", registry=client.registry(), cache=False).generate(PROMPTS, output_jsonl=out)
    assert len(list(running)) == 59
    assert [r.model for r in client.requests] == [client.requests[0].model] * 60, "none refused"
    assert "nano" not in client.requests[0].model
    assert [r["index"] for r in lines(out)] == list(range(60))


def test_leaving_a_job_between_two_items_releases_the_checkpoint_at_once(tmp_path: Path) -> None:
    # Leaving when the hand-over queue is full (the consumer stopped taking items) hung forever:
    # the job's workers waited to put their end marker into that queue while being cancelled.
    client = FunctionClient(echo)
    out = tmp_path / "job.jsonl"
    llm = llmp.LLM("test/mini", registry=client.registry(), cache=False, max_concurrent=2)
    deadline = time.monotonic() + 30
    for _ in llm.iter_generate(PROMPTS, output_jsonl=out):
        # 1 taken, 2 waiting in the queue, 2 workers blocked handing theirs over: all saved.
        while len(out.read_bytes().splitlines()) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        break
    checkpoint = Checkpoint(out)  # not CheckpointLockedError: the job closed its checkpoint
    assert checkpoint.finished == 5
    checkpoint.close()
