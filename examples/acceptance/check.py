"""Issue 11's acceptance run: rich results end to end, per provider, against the local fakes.

    python examples/acceptance/check.py            # every provider whose plugin is installed
    python examples/acceptance/check.py gemini     # one of: openai, gemini, anthropic

For OpenAI (llmp-openai), Gemini (llmp-gemini) and Anthropic (llmp-litellm) in turn, it starts
that provider's fake server (TLS, HTTP/2, the provider's real wire format) in this process and
checks, with figures from the server's own request counter:

- ``generate(100 prompts, response_format=City)`` returns 100 validated ``City`` models;
- a tool round trip (the model asks, the Python function runs, the model answers) from a sync
  call, from a sync call inside a running event loop, and from ``await acomplete``;
- a rerun of both is served from the cache: the server sees no request;
- an ``output_jsonl`` job of rich results killed with SIGKILL mid-run, then resumed: every record
  restored with its parsed model and usage, no prompt answered twice beyond what was in flight;
- ``batch(prompts, response_format=City)`` through the provider's batch API returns models.

It prints one table and exits 1 if any check failed. `run.sh` runs it in a fresh venv installed
with plain pip; tests/test_acceptance.py runs it in the test environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import llmp

PROMPTS = 100
JOB_PROMPTS = 60


class City(BaseModel):
    name: str
    population: int


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    fake: str  # "module:Class" of the provider's fake server
    env: Callable[[Any], dict[str, str]]


PROVIDERS = [
    Provider(
        "openai",
        "gpt-4.1-mini",
        "llmp_openai.testing:FakeOpenAIServer",
        lambda s: {"OPENAI_BASE_URL": s.base_url, "OPENAI_API_KEY": s.api_key},
    ),
    Provider(
        "gemini",
        "gemini/gemini-3-flash-preview",
        "llmp_gemini.testing:FakeGeminiServer",
        lambda s: {"GEMINI_BASE_URL": s.base_url, "GEMINI_API_KEY": s.api_key},
    ),
    Provider(
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "llmp_litellm.testing:FakeAnthropicServer",
        lambda s: {"ANTHROPIC_BASE_URL": s.base_url, "ANTHROPIC_API_KEY": s.api_key},
    ),
]


def _installed(provider: Provider) -> bool:
    import importlib.util

    plugin = {"openai": "llmp_openai", "gemini": "llmp_gemini", "anthropic": "llmp_litellm"}[provider.name]
    return importlib.util.find_spec(plugin) is not None


@contextmanager
def _serving(provider: Provider, workdir: Path) -> Iterator[Any]:
    import importlib

    module, _, cls = provider.fake.partition(":")
    with getattr(importlib.import_module(module), cls)() as server:
        saved = dict(os.environ)
        os.environ.update(provider.env(server))
        os.environ["SSL_CERT_FILE"] = str(server.ca_path)
        os.environ["LLMP_CACHE_DIR"] = str(workdir / "cache")
        for name in ("GEMINI_KEYS", "OPENAI_KEYS", "ANTHROPIC_KEYS", "GOOGLE_GENAI_API_VERSION"):
            os.environ.pop(name, None)
        try:
            yield server
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _requests(server: Any) -> int:
    return int(server.request_count)


# -- the checks: each returns a short figure, or raises AssertionError -------------------------


def check_schema(model: str, server: Any) -> str:
    prompts = [f"describe city {i}" for i in range(PROMPTS)]
    before = _requests(server)
    with llmp.LLM(model) as llm:
        cities = llm.generate(prompts, response_format=City)
    assert len(cities) == PROMPTS, len(cities)
    assert all(isinstance(c[0], City) for c in cities), "a reply is not a validated City"
    return f"{PROMPTS} City, {_requests(server) - before} requests"


def _round_trip(response: llmp.types.Response) -> None:
    assert "sunny in" in (response.text or ""), f"the model did not use the tool: {response.text!r}"


def _tool_round_trips(model: str) -> None:
    """Three round trips: a sync call, a sync call inside a running loop, an async call."""
    with llmp.LLM(model) as llm:
        _round_trip(llm.complete("What is the weather in Paris?", tools=[weather], max_turns=3))

        async def in_a_loop() -> None:
            # A sync call from code that already runs an event loop (a notebook, a web handler).
            _round_trip(llm.complete("Weather in Rome?", tools=[weather], max_turns=3))
            _round_trip(await llm.acomplete("Weather in Oslo?", tools=[weather], max_turns=3))

        asyncio.run(in_a_loop())


def check_tools(model: str, server: Any) -> str:
    before = _requests(server)
    _tool_round_trips(model)
    sent = _requests(server) - before
    assert sent == 6, f"three round trips should be 6 requests, were {sent}"
    return "sync, sync in a loop, async: 6 requests"


def check_cache_rerun(model: str, server: Any) -> str:
    before = _requests(server)
    check_schema(model, server)
    _tool_round_trips(model)
    sent = _requests(server) - before
    assert sent == 0, f"the rerun sent {sent} requests"
    return "0 requests"


_JOB = """
import sys, llmp
sys.path.insert(0, {here!r})
from check import City, JOB_PROMPTS
llmp.LLM({model!r}, max_concurrent=4).generate(
    [f"job city {{i}}" for i in range(JOB_PROMPTS)], rich=True, response_format=City, output_jsonl={path!r}
)
"""


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def check_resume(model: str, server: Any, workdir: Path) -> str:
    path = workdir / f"{model.replace('/', '_')}.jsonl"
    before = _requests(server)
    server.ttft = 0.05  # slow enough to kill the job halfway
    code = _JOB.format(here=str(Path(__file__).parent), model=model, path=str(path))
    child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while _lines(path) < JOB_PROMPTS // 3:
            assert child.poll() is None, f"the job ended early (exit {child.returncode})"
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.01)  # polling a file another process writes; the condition decides
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        server.ttft = 0.0
    saved = _lines(path)
    with llmp.LLM(model) as llm:
        resumed = llm.generate(
            [f"job city {i}" for i in range(JOB_PROMPTS)], rich=True, response_format=City, output_jsonl=path
        )
    assert all(isinstance(r.parsed, City) for r in resumed), "a resumed result lost its parsed model"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    indexes = sorted(r["index"] for r in records)
    assert indexes == list(range(JOB_PROMPTS)), "the file is not one record per prompt"
    # The file keeps the reply's text (the parsed model is rebuilt from it, validated, on resume).
    assert all(City.model_validate_json(r["response"]["choices"][0]["text"]) for r in records)
    assert all(r.usage.output_tokens > 0 for r in resumed), "a resumed result lost its usage"
    sent = _requests(server) - before
    # Each prompt is paid once, plus at most the requests in flight when the job was killed.
    assert JOB_PROMPTS <= sent <= JOB_PROMPTS + 4, f"{sent} requests for {JOB_PROMPTS} prompts"
    return f"killed at {saved}/{JOB_PROMPTS}, {sent} requests"


def check_batch(model: str, server: Any) -> str:
    with llmp.LLM(model, cache=False) as llm:
        cities = llm.batch([f"batch city {i}" for i in range(5)], response_format=City, poll_interval=0.01)
    assert [type(c[0]) for c in cities] == [City] * 5, cities
    return "5 City"


CHECKS: list[tuple[str, Callable[..., str]]] = [
    ("schema x100", check_schema),
    ("tool round trip", check_tools),
    ("cache rerun", check_cache_rerun),
    ("kill + resume", check_resume),
    ("batch + schema", check_batch),
]


def run(provider: Provider, workdir: Path) -> list[str]:
    cells = []
    with _serving(provider, workdir) as server:
        for _name, check in CHECKS:
            args = (provider.model, server, workdir) if check is check_resume else (provider.model, server)
            try:
                cells.append("ok: " + check(*args))
            except Exception as exc:  # reported in the table, the run goes on
                cells.append(f"FAILED: {type(exc).__name__}: {exc}"[:200])
    return cells


def main(argv: list[str]) -> int:
    chosen = [p for p in PROVIDERS if not argv or p.name in argv]
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmp-acceptance-") as tmp:
        for provider in chosen:
            if not _installed(provider):
                rows.append((provider.name, ["plugin not installed"] * len(CHECKS)))
                continue
            rows.append((provider.name, run(provider, Path(tmp) / provider.name)))
    for name, cells in rows:
        print(f"\n{name}")
        for (check, _), cell in zip(CHECKS, cells, strict=True):
            print(f"  {check:<16} {cell}")
    failed = any(not cell.startswith("ok") for _, cells in rows for cell in cells)
    print("\nall checks passed" if not failed else "\nSOME CHECKS FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
