"""The `output_jsonl` checkpoint of a job over the wire, against the fake OpenAI server: what the
core's tests (on `llmp.testing.FunctionClient`, which records every request) cannot measure."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

import llmp
from llmp_openai.testing import FakeOpenAIServer


@pytest.mark.slow
def test_a_job_with_a_checkpoint_does_not_keep_its_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Item 16: the old checkpoint kept every record in memory (7.5 MB held for 300 answers of 24 KB).
    with FakeOpenAIServer(record=False) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=4)
        llm.chat("warm up")  # connections, clients and imports are not the job's growth
        prompts = (f"{i} " + "y" * 24_000 for i in range(200))
        tracemalloc.start()
        try:
            seen = 0
            for seen, (_, result) in enumerate(llm.iter_generate(prompts, output_jsonl=tmp_path / "j"), 1):
                assert not isinstance(result, BaseException)
                if seen == 200:  # the job has not finished: the checkpoint is still open
                    held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert seen == 200
    assert (tmp_path / "j").stat().st_size > 200 * 24_000
    assert held < 1_500_000, f"{held:,} bytes held after 4.8 MB of answers"  # 0.2 MB when written
