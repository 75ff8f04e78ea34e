"""Cluster-wide limits with real processes, a real redis-server and the fake OpenAI server.

Each process runs a job through the public `llmp.LLM(...).generate(...)` with
`LLMP_GLOBAL_CONCURRENCY` and `LLMP_REDIS_URL` set, and the fake server counts what reaches it:
the cap holds across processes, a SIGKILLed worker's slots come back within the lease, a Redis
restart mid-job loses nothing, and a shared rpm bucket admits no more than the rate plus a burst.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmp.testing import slow
from llmp.testing._redis import RedisServer
from llmp_openai.testing import FakeOpenAIServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LEASES = "{llmp:slots:global}:leases"
QUEUE = "{llmp:slots:global}:queue"

JOB = """
import sys, llmp
tag, n = sys.argv[1], int(sys.argv[2])
llm = llmp.LLM("gpt-4.1-mini", max_concurrent=8, cache=False)
prompts = [f"{tag} {i}" for i in range(n)]
assert llm.generate(prompts) == [[f"Echo: {p}"] for p in prompts]
print("done", flush=True)
"""


def zcard(redis: RedisServer, key: str) -> int:
    return int(redis.command("ZCARD", key)[1:].split(b"\r\n", 1)[0])


def members(redis: RedisServer, key: str) -> set[bytes]:
    """A zset's members (lease ids are `<process token>:<n>`), from the raw RESP array."""
    lines = redis.command("ZRANGE", key, 0, -1).split(b"\r\n")
    return {line for line in lines[1:] if line and not line.startswith(b"$")}


def wait_for(condition: Callable[[], bool], within: float = 60.0, what: str = "condition") -> float:
    """Poll until `condition()`; the time it became true (a deadline, not a sleep, synchronises)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached within {within}s"
        time.sleep(0.005)
    return time.monotonic()


class Jobs:
    """Worker processes with their stderr in files (readable while they run)."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, tag: str, n: int, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{tag}.stderr"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", JOB, tag, str(n)],
                env={**self.env, **env},
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def stderr(self, i: int) -> str:
        return self.logs[i].read_text(errors="replace")

    def finish(self, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        for i, proc in enumerate(self.procs):
            if procs is not None and proc not in procs:
                continue
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, self.stderr(i)[-3000:]
            assert out.strip() == b"done"

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def jobs(fake_openai: FakeOpenAIServer, redis_server: RedisServer, tmp_path: Path) -> Iterator[Jobs]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMP_GLOBAL", "LLM_GLOBAL"))}
    env.update(LLMP_REDIS_URL=redis_server.url, LLMP_GLOBAL_LEASE="1.5")
    running = Jobs(tmp_path, env)
    yield running
    running.kill_all()


def test_four_processes_never_exceed_the_cluster_wide_cap(
    fake_openai: FakeOpenAIServer, jobs: Jobs, tmp_path: Path
) -> None:
    fake_openai.ttft = 0.05
    # Each process has its own machine-wide slot directory: only Redis can hold the cap.
    for k in range(4):
        jobs.start(f"p{k}", 24, LLMP_GLOBAL_CONCURRENCY="3", LLMP_GLOBAL_SLOTS_DIR=str(tmp_path / f"s{k}"))
    jobs.finish()
    assert fake_openai.request_count == 96
    assert fake_openai.max_in_flight == 3  # never more, and the four did fill it
    assert not any("falls back" in jobs.stderr(k) for k in range(4))


def test_a_sigkilled_worker_frees_its_slots_within_the_lease(
    fake_openai: FakeOpenAIServer, jobs: Jobs, redis_server: RedisServer, tmp_path: Path
) -> None:
    lease = 1.5
    fake_openai.ttft = 0.02
    fake_openai.inject(slow(60), times=None, when=lambda body: "victim" in json.dumps(body["messages"]))
    common = {"LLMP_GLOBAL_CONCURRENCY": "2", "LLMP_GLOBAL_SLOTS_DIR": str(tmp_path / "slots")}
    victim = jobs.start("victim", 8, **common)
    wait_for(lambda: fake_openai.in_flight == 2 and zcard(redis_server, LEASES) == 2, what="victim holding 2")
    workers = [jobs.start(f"w{k}", 10, **common) for k in range(3)]
    # In the queue: the victim (it wants 8 and has 2) and the three workers.
    wait_for(lambda: zcard(redis_server, QUEUE) == 4, what="three workers waiting")
    assert fake_openai.request_count == 2  # nobody got past the victim's two slots
    victims = members(redis_server, LEASES)
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    # A worker holds a lease: measured in Redis, since a worker's first request also pays for
    # importing the SDK and a TLS handshake, which say nothing about the slots.
    back = wait_for(lambda: bool(members(redis_server, LEASES) - victims), what="a worker holding a slot")
    victim.wait(10)
    recovery = back - killed
    print(f"slots back {recovery:.2f}s after SIGKILL (lease {lease}s)")
    assert recovery <= lease + 0.25, f"slots came back {recovery:.2f}s after the kill; the lease is {lease}s"
    jobs.finish(workers)
    assert fake_openai.request_count == 2 + 30
    assert fake_openai.max_in_flight <= 2


class InFlightSampler:
    """The fake server's requests in flight, sampled every millisecond (a measurement only)."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.samples.append((time.monotonic(), self.server.in_flight))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def peak(self, start: float, end: float = float("inf")) -> int:
        return max((n for t, n in self.samples if start <= t <= end), default=0)


def test_redis_restarted_mid_job_the_jobs_carry_on_and_lose_nothing(
    fake_openai: FakeOpenAIServer, jobs: Jobs, redis_server: RedisServer, tmp_path: Path
) -> None:
    fake_openai.ttft = 0.03
    common = {"LLMP_GLOBAL_CONCURRENCY": "3", "LLMP_GLOBAL_SLOTS_DIR": str(tmp_path / "slots")}
    for k in range(4):
        jobs.start(f"p{k}", 60, **common)
    sampler = InFlightSampler(fake_openai)
    wait_for(lambda: fake_openai.request_count >= 30, what="the jobs under way")
    killed = time.monotonic()
    redis_server.kill()
    down = fake_openai.request_count
    wait_for(lambda: all("falls back" in jobs.stderr(k) for k in range(4)), what="every process warned")
    wait_for(lambda: fake_openai.request_count >= down + 20, what="progress while Redis is down")
    restarted = time.monotonic()
    redis_server.start()  # empty, like a Redis without persistence after a crash
    jobs.finish()
    sampler.stop()
    assert fake_openai.request_count == 240  # every prompt answered once: nothing lost, nothing twice
    for k in range(4):
        log = jobs.stderr(k)
        assert log.count("falls back") == 1, log  # one clear warning per process
        assert "answers again" in log, log
    before, switching, after = (
        sampler.peak(0, killed),
        sampler.peak(killed, restarted),
        sampler.peak(restarted),
    )
    print(f"peak in flight (cap 3): {before} before, {switching} while down, {after} after the restart")
    assert before <= 3
    # At the switch, requests already in flight under Redis leases of other processes are not in
    # the local slots: at most the cap more, for the rest of those requests.
    assert fake_openai.max_in_flight <= 6
    # Coming back is exact: slots taken locally are registered, and nothing is granted until every
    # holder had time to register its leases with the restarted Redis.
    assert after <= 3


BUCKET_JOB = """
import asyncio, json, sys, time
from llmp._buckets import rate_bucket

async def main():
    bucket = rate_bucket("test:rpm", 6000, per=60, burst=10)  # 100/s, shared via LLMP_REDIS_URL
    assert type(bucket).__name__ == "RedisTokenBucket"
    stop, times = time.monotonic() + float(sys.argv[1]), []

    async def hammer():
        while time.monotonic() < stop:
            await bucket.acquire()
            times.append(time.time())

    await asyncio.gather(*(hammer() for _ in range(8)))
    print(json.dumps(times))

asyncio.run(main())
"""


def test_a_shared_rpm_bucket_admits_the_rate_plus_one_burst_across_processes(
    redis_server: RedisServer,
) -> None:
    env = {**os.environ, "LLMP_REDIS_URL": redis_server.url}
    procs = [
        subprocess.Popen([sys.executable, "-c", BUCKET_JOB, "2.0"], env=env, stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    times = sorted(t for p in procs for t in json.loads(p.communicate(timeout=60)[0]))
    assert all(p.returncode == 0 for p in procs)
    rate, burst = 100.0, 10
    span = times[-1] - times[0]
    print(f"{len(times)} admitted in {span:.2f}s (allowed {burst + rate * span:.0f})")
    # Each process stamps an admission when its event loop gets to it, late by its scheduling
    # delay (tens of ms on a loaded 2-core machine): allow 0.1 s of that. Four unshared buckets
    # would admit four times as much.
    jitter = 0.1
    for window in (0.25, 0.5, 1.0, 2.0):
        start, most = 0, 0
        for end in range(len(times)):
            while times[end] - times[start] > window:
                start += 1
            most = max(most, end - start + 1)
        assert most <= burst + rate * (window + jitter), (window, most)
    assert len(times) >= 0.8 * rate * span  # the processes shared the budget, they did not waste it
