"""The machine-wide cap (LLMP_GLOBAL_CONCURRENCY) across processes, measured at the fake OpenAI server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmp_openai.testing import FakeOpenAIServer


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (
        "LLMP_GLOBAL_CONCURRENCY",
        "LLM_GLOBAL_CONCURRENCY",
        "LLMP_GLOBAL_SLOTS_DIR",
        "LLMP_GLOBAL_LEASE",
        "LLMP_REDIS_URL",
        "LLM_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "cache"))
    return monkeypatch


_JOB_SRC = """
import sys, llmp
llm = llmp.LLM("gpt-4.1-mini", max_concurrent=8, cache=False)
tag = sys.argv[1]
prompts = [f"{tag} {i}" for i in range(16)]
assert llm.generate(prompts) == [[f"Echo: {p}"] for p in prompts]
print("done")
"""


def test_two_processes_with_different_cache_dirs_share_the_machine_wide_cap(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    """Each process alone would fill the cap of 2; before the fix the two had 4 in flight."""
    fake_openai.ttft = 0.1
    env = {k: v for k, v in os.environ.items() if k not in ("LLMP_GLOBAL_SLOTS_DIR", "LLMP_REDIS_URL")}
    env["LLMP_GLOBAL_CONCURRENCY"] = "2"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _JOB_SRC, tag],
            env={**env, "LLMP_CACHE_DIR": str(tmp_path / f"cache-{tag}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outs]
    assert fake_openai.request_count == 32
    assert fake_openai.max_in_flight <= 2
