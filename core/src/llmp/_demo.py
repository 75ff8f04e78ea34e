"""``python -m llmp demo``: llmp's main job in half a minute.

Without an API key it starts llmp-openai's fake OpenAI server (TLS, HTTP/2, realistic latency)
and runs a few hundred prompts through `llmp.LLM`, twice: the second run is served from the disk
cache, with no request and no cost. With ``OPENAI_API_KEY`` set it runs a handful of prompts
against the real API instead (a fraction of a cent on gpt-4.1-mini).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from contextlib import ExitStack
from typing import Any

from llmp._cli._errors import CLIError

#: What the local fake server runs on: the ``testing`` extra of llmp-core (core/pyproject.toml).
FAKE_SERVER_MODULES = ("hypercorn", "trustme", "h2")
#: Where the fake OpenAI server ships (and the route to gpt-* models): the llmp-openai plugin.
FAKE_SERVER_PLUGIN = ("llmp_openai", "llmp-openai")

COLORS = ["red", "green", "blue", "amber", "violet", "teal", "coral", "ivory"]


def _prompts(count: int) -> list[str]:
    return [
        f"In one word, what do you associate with the color {COLORS[i % len(COLORS)]} ({i})?"
        for i in range(count)
    ]


def _run(llm: Any, prompts: list[str], label: str) -> list[list[str]]:
    before = llm.usage.requests, llm.usage.cache_hits
    t0 = time.perf_counter()
    results: list[list[str]] = llm.generate(prompts, system_prompt="Answer in one word.", max_tokens=16)
    elapsed = time.perf_counter() - t0
    requests = llm.usage.requests - before[0]
    hits = llm.usage.cache_hits - before[1]
    print(
        f"{label}: {len(results)} prompts in {elapsed:.2f}s ({len(results) / elapsed:,.0f}/s): "
        f"{requests} requests sent, {hits} served from cache"
    )
    return results


def _check_fake_server_installed() -> None:
    # The server runs in a child process: without this check a missing module fails there and
    # here, as two tracebacks, instead of as one line saying what to install.
    missing = [name for name in FAKE_SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise CLIError(
            f"the demo's local fake server needs llmp-core's testing extra (missing: {', '.join(missing)}): "
            'pip install "llmp-core[testing]", or set OPENAI_API_KEY to run the demo against the real API'
        )
    module, distribution = FAKE_SERVER_PLUGIN
    if importlib.util.find_spec(module) is None:
        raise CLIError(
            f"the demo's local fake OpenAI server ships in the {distribution} plugin, which is not "
            f"installed: pip install {distribution}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmp demo", description=__doc__)
    parser.add_argument("-n", "--prompts", type=int, default=300, help="prompts to run (fake server)")
    parser.add_argument("-m", "--model", default="gpt-4.1-mini")
    parser.add_argument("--real", action="store_true", help="use the real API even for many prompts")
    args = parser.parse_args(argv)
    if args.prompts < 1:
        parser.error(f"-n/--prompts must be at least 1, got {args.prompts}")  # exits with 2

    live = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_KEYS"))
    if not live:
        _check_fake_server_installed()

    import llmp

    with ExitStack() as stack:
        count = args.prompts if (not live or args.real) else min(args.prompts, 8)
        cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="llmp-demo-"))
        if live:
            print(f"OPENAI_API_KEY is set: running {count} prompts against the real API ({args.model}).")
        else:
            from llmp_openai.testing import FakeOpenAIServer

            server = stack.enter_context(FakeOpenAIServer.spawn(ttft=0.05, token_delay=0.002))
            # The test CA (it vouches for loopback names only), trusted the standard way; nothing
            # leaves this machine.
            os.environ["SSL_CERT_FILE"] = str(server.ca_path)
            os.environ["OPENAI_BASE_URL"] = server.base_url
            os.environ["OPENAI_API_KEY"] = "sk-demo-not-a-real-key"
            print(
                f"No OPENAI_API_KEY: using llmp-openai's fake OpenAI server, {server.base_url} (TLS, HTTP/2)"
            )

        llm = llmp.LLM(args.model, cache=cache_dir, max_concurrent=64)
        prompts = _prompts(count)
        results = _run(llm, prompts, "first run ")
        for prompt, outputs in list(zip(prompts, results, strict=True))[:3]:
            print(f"  {prompt!r} -> {outputs[0]!r}")
        cost = "unknown" if llm.total_cost is None else f"${llm.total_cost:.6f}"
        print(
            f"usage: {llm.total_input_tokens} input tokens ({llm.total_cached_tokens} cached), "
            f"{llm.total_output_tokens} output tokens, cost {cost}"
        )

        again = llmp.LLM(args.model, cache=cache_dir, max_concurrent=64)
        repeat = _run(again, prompts, "second run")
        assert repeat == results, "the cache returned different results"
        print(f"second run cost ${again.total_cost or 0:.6f}: a new LLM, the same disk cache, nothing sent.")
        print(f"samples: {llm.generate(prompts[0], n=3)[0]}")
        print(f"chat:    {llm.chat('Say hello in French.')!r}")
    return 0
