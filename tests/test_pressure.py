"""Under pressure: rate budgets, several keys, several processes, faults that must end cleanly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import trustme

import llmp
from llmp._retry import RetryPolicy
from llmp.errors import ProviderConnectionError, TLSError
from llmp.testing import rate_limited, server_error
from llmp_openai.testing import FakeOpenAIServer


def chat_records(server: FakeOpenAIServer) -> list[llmp.testing.RequestRecord]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("budget", ["rpm", "tpm"])
def test_pacing_reaches_90_percent_of_the_allowed_rate(fake_openai: FakeOpenAIServer, budget: str) -> None:
    # A budget that refills completely every second: 100 requests/s (rpm), or 500 tokens/s (tpm:
    # each request below costs 5 tokens, 2 prompt + 3 completion, so again ~100 requests/s). It
    # starts full, so one second's worth is free and the rest must be paced.
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=32)
    llm.chat("warm up")  # connect and import the SDK before the clock starts
    limit = 100 if budget == "rpm" else 500
    fake_openai.set_rate_limits(**{budget: limit}, period=1.0)
    fake_openai.ttft = 0.01
    total = 600  # long enough that start-up and the last partial second do not dominate
    before = llm.total_input_tokens + llm.total_output_tokens
    t0 = time.monotonic()
    results = llm.generate([f"p {i}" for i in range(total)])
    elapsed = time.monotonic() - t0
    assert all(r == [f"Echo: p {i}"] for i, r in enumerate(results)), "every request eventually succeeds"
    used = total if budget == "rpm" else llm.total_input_tokens + llm.total_output_tokens - before
    assert budget == "rpm" or used == 5 * total
    allowed = limit + limit * elapsed  # the initial full bucket plus the refill
    achieved = used / allowed
    statuses = [r.status for r in chat_records(fake_openai)]
    print(f"{budget}: {achieved:.1%} of the allowed rate in {elapsed:.2f}s, {statuses.count(429)} 429s")
    assert achieved >= 0.9, f"{achieved:.0%} of the allowed rate ({elapsed:.2f}s, {statuses.count(429)} 429s)"
    assert fake_openai.max_in_flight <= 32


def test_a_rate_limited_key_steps_aside_for_the_others(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "sk-second-key-" + "q" * 20
    monkeypatch.setattr(fake_openai, "api_keys", frozenset({fake_openai.api_key, other}))
    monkeypatch.setenv("OPENAI_KEYS", f"{fake_openai.api_key},{other}")
    # The first key is rate limited for a long time; the other carries the job.
    first = f"Bearer {fake_openai.api_key}"
    fake_openai.inject(rate_limited(retry_after=30), times=1)
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=1)
    t0 = time.monotonic()
    assert llm.generate([f"k{i}" for i in range(10)]) == [[f"Echo: k{i}"] for i in range(10)]
    assert time.monotonic() - t0 < 10, "the job did not wait out the 30 s Retry-After of one key"
    auths = [r.headers["authorization"] for r in chat_records(fake_openai)]
    assert auths[0] == first
    assert auths[1:].count(first) == 0, "the 429'd key stays aside during its cool-down"


def test_5xx_burst_ends_in_success(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(server_error(503), times=5)
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=8)
    llm._engine.sender.retry = RetryPolicy(max_retries=6, base=0.02)
    assert llm.generate([f"s{i}" for i in range(10)]) == [[f"Echo: s{i}"] for i in range(10)]
    assert fake_openai.request_count == 15


def test_nothing_listening_is_a_connection_error_after_retries() -> None:
    import socket

    with socket.socket() as s:  # a port that is surely closed: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        llm = llmp.LLM("local/m", base_url=f"http://127.0.0.1:{port}/v1", cache=False, max_retries=2)
        llm._engine.sender.retry = RetryPolicy(max_retries=2, base=0.01)
        with pytest.raises(ProviderConnectionError):
            llm.chat("x")
        assert llm.usage.retries == 2


def test_untrusted_certificate_is_not_retried(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other_ca = trustme.CA()
    bundle = tmp_path / "other-ca.pem"
    other_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    # A key no other test uses, so the client (and its TLS context) is built fresh here.
    llm = llmp.LLM("gpt-4.1-mini", cache=False, api_key="sk-tls-check-" + "t" * 20)
    with pytest.raises(TLSError, match="SSL_CERT_FILE"):
        llm.chat("x")
    assert llm.usage.retries == 0
    assert fake_openai.request_count == 0


WORKER = textwrap.dedent(
    """
    import sys, llmp
    llm = llmp.LLM("gpt-4.1-mini", max_concurrent=8)
    offset = int(sys.argv[1])
    prompts = [f"shared {i}" for i in range(offset, offset + 40)]
    assert llm.generate(prompts) == [[f"Echo: {p}"] for p in prompts]
    print("done")
    """
)


def test_processes_share_a_global_cap_and_one_cache(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMP_GLOBAL_CONCURRENCY", "3")
    monkeypatch.setenv("LLMP_GLOBAL_SLOTS_DIR", str(tmp_path / "slots"))
    fake_openai.ttft = 0.03
    # Eight processes, overlapping prompts, one cache file, one machine-wide cap of 3.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(10 * i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for i in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in outs]
    assert fake_openai.max_in_flight <= 3
    assert fake_openai.max_in_flight >= 2, "the processes did overlap"
    sent = fake_openai.request_count
    assert sent >= 70  # 70 distinct prompts; overlaps between processes may be sent twice
    # Every prompt any process finished is now a hit, in this process too.
    llm = llmp.LLM("gpt-4.1-mini")
    assert llm.generate([f"shared {i}" for i in range(70)]) == [[f"Echo: shared {i}"] for i in range(70)]
    assert fake_openai.request_count == sent
    assert llm.usage.cache_hits == 70
