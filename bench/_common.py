"""Shared pieces of the benchmarks: the workload, the fake server, the child-process environment.

Every benchmark talks to the same fake OpenAI server (``llmp_openai.testing``), run in its own process so
its CPU is never charged to the client being measured, and sends the same requests: one user
message of 28 words whose echoed reply streams as 20 content deltas.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
MODEL = "gpt-4.1-mini"
_FILLER = " ".join(f"w{i}" for i in range(26))


@dataclass(frozen=True)
class Workload:
    """Server-side latency: first byte after ``ttft``; ``chunks`` deltas ``token_delay`` apart."""

    ttft: float = 0.050
    token_delay: float = 0.005
    chunks: int = 20

    @property
    def latency(self) -> float:
        """Seconds one request takes with an infinitely fast client (stream and non-stream alike)."""
        return self.ttft + self.token_delay * (self.chunks - 1)


def prompt(i: int) -> str:
    """A distinct prompt per request; the fake replies ``"Echo: " + prompt`` (28 words)."""
    return f"Request {i}: {_FILLER}"


def expected(prompt_text: str) -> str:
    return f"Echo: {prompt_text}"


def tokens(text: str) -> int:
    """Output tokens as the fake server counts them (whitespace-separated words)."""
    return len(text.split())


def messages(prompt_text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt_text}]


@dataclass
class Server:
    """A spawned fake server: ``env`` is what a client process needs to reach it."""

    handle: Any  # llmp.testing.SpawnedServer: stats(), reset(), stop()
    env: dict[str, str]

    def max_in_flight(self) -> int | None:
        """Peak requests in flight at the server since the last ``reset()``."""
        try:
            return int(self.handle.stats()["max_in_flight"])
        except Exception:
            return None


@contextlib.contextmanager
def fake_server(workload: Workload, *, h2_streams: int | None = None) -> Iterator[Server]:
    """Spawn the fake OpenAI server in a child process (its CPU is not the client's)."""
    from llmp_openai.testing import FakeOpenAIServer

    handle = FakeOpenAIServer.spawn(
        ttft=workload.ttft,
        token_delay=workload.token_delay,
        chunk_count=workload.chunks,
        h2_max_concurrent_streams=h2_streams,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="llmp-bench-cache-") as cache_dir:
            env = client_env(handle.base_url, str(handle.ca_path), handle.api_key or "sk-bench", cache_dir)
            env["BENCH_SERVER_PID"] = str(handle.pid)
            yield Server(handle, env)
    finally:
        handle.stop()


def bytecode_env() -> dict[str, str]:
    """This environment, but compiled modules are cached (under a private prefix, so nothing is
    written into the repo or the venv) as after a ``pip install``: with ``PYTHONDONTWRITEBYTECODE``
    every import would compile its source again, which is not what users see."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "llmp-bench-pycache")
    return env


def client_env(base_url: str, ca_path: str, api_key: str, cache_dir: str) -> dict[str, str]:
    env = {k: v for k, v in bytecode_env().items() if not k.startswith(("OPENAI_", "LLMP_", "LLM_"))}
    env.update(
        SSL_CERT_FILE=ca_path,
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY=api_key,
        LLMP_PLUGINS="openai",
        LLMP_CACHE_DIR=cache_dir,
        # litellm fetches its price map from the internet at import unless told not to.
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONHASHSEED="0",
    )
    return env


def run_child(args: Sequence[str], env: dict[str, str], timeout: float) -> str:
    """Run ``python <args>`` in a fresh process and return its stdout (stderr passes through)."""
    done = subprocess.run(
        [PYTHON, *args], env=env, cwd=REPO, stdout=subprocess.PIPE, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}")
    return done.stdout.decode()


def proc_cpu(pid: int | None) -> float | None:
    """User+system CPU seconds of another process (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, ``q`` in [0, 100]; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(max(1, math.ceil(q / 100 * len(ordered))), len(ordered))
    return ordered[rank - 1]
