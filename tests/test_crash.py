"""kill -9 a big job three times, resume it: every prompt exactly once, nothing paid for twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from llmp_openai.testing import FakeOpenAIServer

N = 3000
CONCURRENCY = 16

JOB = textwrap.dedent(
    f"""
    import sys, llmp
    llm = llmp.LLM("gpt-4.1-mini", max_concurrent={CONCURRENCY})
    prompts = [f"crash test {{i}}" for i in range({N})]
    results = llm.generate(prompts, output_jsonl=sys.argv[1], progress=False)
    assert results == [[f"Echo: crash test {{i}}"] for i in range({N})]
    print("complete")
    """
)


def texts(record: Any) -> list[str]:
    """The sample texts of one checkpoint line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


def line_count(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(300)
def test_sigkill_three_times_then_resume(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    out = tmp_path / "job.jsonl"
    rng = random.Random(1234)
    fake_openai.ttft = 0.002
    for kill in range(3):
        proc = subprocess.Popen([sys.executable, "-c", JOB, str(out)], stderr=subprocess.PIPE)
        # Kill at a random point after the job has made fresh progress (watched on disk).
        target = line_count(out) + rng.randint(100, 500)
        deadline = time.monotonic() + 120
        while line_count(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"the job ended before kill {kill}: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finished = subprocess.run(
        [sys.executable, "-c", JOB, str(out)], capture_output=True, text=True, timeout=240, check=False
    )
    assert "complete" in finished.stdout, finished.stderr[-3000:]

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(N)), "every prompt exactly once, in order"
    assert all(texts(r) == [f"Echo: crash test {r['index']}"] for r in records)
    # At most what was in flight at each kill was sent twice.
    assert N <= fake_openai.request_count <= N + 3 * CONCURRENCY
