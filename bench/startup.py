"""Fixed costs: ``import llmp``, ``LLM(...)``, the first call, a cache hit, and a cold start.

    .venv/bin/python bench/startup.py [--runs 15] [--prompts 10000] [--cold-runs 9]
    .venv/bin/python bench/startup.py --cold-only      # just the cold-start table (~1 min)

- import: fresh interpreters, ``python -X importtime -c "import llmp"`` (llmp's cumulative
  self-reported time) and the wall time of ``import llmp`` measured inside ``python -c``;
  median of ``--runs``. Also lists which SDKs ``import llmp`` (and ``LLM(...)``) pulled in.
- ``LLM(...)``: the first construction in a process (plugin discovery, cache file) and the median
  of the next 2,000 (cache on and off).
- first call: ``llm.chat`` against a zero-latency fake server; the first call's wall and CPU time
  minus the median of the next 50 (the SDK import, the client, the TLS connection).
- cache hits: ``generate`` of ``--prompts`` distinct prompts fills the cache; reruns then hit it
  (same instance, median of 3; and a new process), with the server's request count unchanged.
- cold start: one call in a fresh process, the whole process timed from outside (wall from
  spawn to exit, CPU from ``wait4``'s rusage: interpreter start, imports, client, TLS, the call),
  median of ``--cold-runs``, against zero-latency fake OpenAI and Gemini servers: a raw httpx2
  HTTP/2 POST (sync and async), llmp's ``chat()`` on OpenAI and on Gemini, ``llmp ask
  --no-cache``, and the openai and google-genai SDKs' own first call, each with the ratio to the
  faster raw POST. Plugins are discovered as a user's process discovers them (no
  ``LLMP_PLUGINS``), and the SDK columns say whether the llmp runs imported an SDK.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import MODEL, PYTHON, Workload, bytecode_env, fake_server, run_child

SDKS = ("openai", "httpx2", "httpx", "httpcore2", "google", "litellm", "aiohttp", "pydantic", "sqlitedict")
_IMPORTTIME = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| llmp$")


def _py(code: str, env: dict[str, str], *flags: str) -> tuple[str, str]:
    import subprocess

    done = subprocess.run([PYTHON, *flags, "-c", code], capture_output=True, text=True, env=env, check=True)
    return done.stdout, done.stderr


_LLMP_CHAT = """
import sys, llmp
url, key, model = sys.argv[1:4]
assert llmp.LLM(model, cache=False).chat("hi") == "Echo: hi"
"""
_SDK_IMPORT = re.compile(r"^import time:.*\|\s*(openai|google\.genai)$", re.MULTILINE)
_TIMED_IMPORT = "import time; t = time.perf_counter(); import llmp; print(time.perf_counter() - t)"


def import_times(runs: int) -> dict[str, Any]:
    env = bytecode_env()
    _py("import llmp", env)  # writes the .pyc files a pip install would have written
    bare, inside, self_reported, from_source = [], [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        _py("pass", env)
        bare.append(time.perf_counter() - started)
        inside.append(float(_py(_TIMED_IMPORT, env)[0]))
        _, err = _py("import llmp", env, "-X", "importtime")
        self_reported.extend(int(m.group(1)) / 1e6 for m in map(_IMPORTTIME.match, err.splitlines()) if m)
        no_pyc = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"} | {
            "PYTHONDONTWRITEBYTECODE": "1"
        }
        from_source.append(float(_py(_TIMED_IMPORT, no_pyc, "-B")[0]))
    code = "import sys, json, llmp; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    after_import = json.loads(_py(code, env)[0])
    return {
        "python_startup_ms": statistics.median(bare) * 1000,
        "import_wall_ms": statistics.median(inside) * 1000,
        "import_wall_min_ms": min(inside) * 1000,
        "importtime_cumulative_ms": statistics.median(self_reported) * 1000,
        "import_from_source_ms": statistics.median(from_source) * 1000,
        "sdks_after_import": [m for m in SDKS if m in after_import],
        "modules_after_import": len(after_import),
    }


def child_construct() -> dict[str, Any]:
    import llmp

    started = time.perf_counter()
    llmp.LLM(MODEL)
    first = time.perf_counter() - started
    out: dict[str, Any] = {"llm_first_us": first * 1e6}
    for cache in (True, False):
        times = []
        for _ in range(2000):
            started = time.perf_counter()
            llmp.LLM(MODEL, cache=cache)
            times.append(time.perf_counter() - started)
        out[f"llm_cache_{str(cache).lower()}_us"] = statistics.median(times) * 1e6
    out["sdks_after_llm"] = [m for m in SDKS if m in {name.split(".")[0] for name in sys.modules}]
    return out


def _quiet(llm: Any) -> dict[str, Any]:
    """No progress bar (on by default when stderr is a terminal), where this llmp has one."""
    import inspect

    return {"progress": False} if "progress" in inspect.signature(llm.generate).parameters else {}


def _timed(fn: Any) -> tuple[float, float, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def child_calls(n_prompts: int) -> dict[str, Any]:
    import llmp

    llm = llmp.LLM(MODEL, cache=False)
    first_wall, first_cpu, _ = _timed(lambda: llm.chat("hello there"))
    later = [_timed(lambda: llm.chat("hello there")) for _ in range(50)]
    wall = statistics.median(t[0] for t in later)
    cpu = statistics.median(t[1] for t in later)
    out: dict[str, Any] = {
        "first_call_wall_ms": first_wall * 1000,
        "first_call_cpu_ms": first_cpu * 1000,
        "later_call_wall_ms": wall * 1000,
        "later_call_cpu_ms": cpu * 1000,
        "first_call_extra_wall_ms": (first_wall - wall) * 1000,
        "first_call_extra_cpu_ms": (first_cpu - cpu) * 1000,
    }
    prompts = [f"cached prompt {i}" for i in range(n_prompts)]
    llm = llmp.LLM(MODEL, max_concurrent=128)
    fill_wall, _, _ = _timed(lambda: llm.generate(prompts, **_quiet(llm)))
    hits = []
    for _ in range(3):
        before = llm.usage.cache_hits
        wall, cpu, results = _timed(lambda: llm.generate(prompts, **_quiet(llm)))
        assert llm.usage.cache_hits - before == n_prompts, llm.usage
        assert results[0] == [f"Echo: {prompts[0]}"], results[0]
        hits.append((wall, cpu))
    wall = statistics.median(h[0] for h in hits)
    cpu = statistics.median(h[1] for h in hits)
    out |= {
        "prompts": n_prompts,
        "fill_wall_s": fill_wall,
        "hit_wall_s": wall,
        "hit_cpu_s": cpu,
        "hit_us_per_prompt": wall / n_prompts * 1e6,
    }
    return out


def child_cold_cache(n_prompts: int) -> dict[str, Any]:
    import llmp

    prompts = [f"cached prompt {i}" for i in range(n_prompts)]
    llm = llmp.LLM(MODEL, max_concurrent=128)
    wall, cpu, _ = _timed(lambda: llm.generate(prompts, **_quiet(llm)))
    assert llm.usage.cache_hits == n_prompts, llm.usage
    return {"cold_hit_wall_s": wall, "cold_hit_cpu_s": cpu, "cold_hit_us_per_prompt": wall / n_prompts * 1e6}


# One call in a fresh process, each as a user would write it. argv[1:] = base URL, key, model.
_COLD_CODE = {
    "httpx2-sync": """
import sys, httpx2
url, key, model = sys.argv[1:4]
with httpx2.Client(http2=True) as http:
    reply = http.post(url + "/chat/completions", headers={"authorization": "Bearer " + key},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
assert reply.json()["choices"][0]["message"]["content"] == "Echo: hi", reply.text
""",
    "httpx2-async": """
import asyncio, sys, httpx2
url, key, model = sys.argv[1:4]
async def main():
    async with httpx2.AsyncClient(http2=True) as http:
        return await http.post(url + "/chat/completions", headers={"authorization": "Bearer " + key},
                               json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
reply = asyncio.run(main())
assert reply.json()["choices"][0]["message"]["content"] == "Echo: hi", reply.text
""",
    "llmp-openai": _LLMP_CHAT,
    "llmp-gemini": _LLMP_CHAT,
    "openai-sdk": """
import sys, openai
url, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
assert reply.choices[0].message.content == "Echo: hi", reply
""",
    "genai-sdk": """
import sys
from google import genai
url, key, model = sys.argv[1:4]
client = genai.Client(api_key=key, http_options={"base_url": url})
reply = client.models.generate_content(model=model, contents="hi")
assert reply.text == "Echo: hi", reply
""",
}
COLD_ROWS = (
    ("raw httpx2 HTTP/2 POST, sync Client", "httpx2-sync"),
    ("raw httpx2 HTTP/2 POST, AsyncClient", "httpx2-async"),
    ("llmp: LLM('gpt-4.1-mini', cache=False).chat('hi')", "llmp-openai"),
    ("llmp ask --no-cache hi (the CLI)", "llmp-ask"),
    ("llmp: LLM('gemini/gemini-2.5-flash', cache=False).chat('hi')", "llmp-gemini"),
    ("openai SDK: OpenAI().chat.completions.create", "openai-sdk"),
    ("google-genai SDK: Client().models.generate_content", "genai-sdk"),
)


def _cold_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one fresh process, timed from outside."""
    import subprocess

    with tempfile.TemporaryFile() as err:  # a pipe could fill (-X importtime) and stall the child
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if child.returncode:
        raise RuntimeError(f"{argv[:3]} exited with {child.returncode}: {text[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, text


def cold_start(runs: int) -> dict[str, Any]:
    """Median wall/CPU of one call in a fresh process, per `COLD_ROWS` case."""
    from llmp.testing.serve import spawn

    llmp_cli = str(Path(PYTHON).parent / "llmp")  # the console script: a Python script
    servers = {"openai": spawn("openai"), "gemini": spawn("gemini")}
    try:
        with tempfile.TemporaryDirectory(prefix="llmp-bench-cold-") as cache_dir:
            prefixes = ("OPENAI_", "LLMP_", "LLM_", "GEMINI_", "GOOGLE_")
            base = {k: v for k, v in bytecode_env().items() if not k.startswith(prefixes)}
            base["LLMP_CACHE_DIR"] = cache_dir
            oa, gm = servers["openai"], servers["gemini"]
            oa_key, gm_key = oa.api_key or "sk-bench", gm.api_key or "AIzaBench"
            # Both fakes sign with the same test CA, so one trust store serves both.
            base["SSL_CERT_FILE"] = str(oa.ca_path)
            openai_env = base | {"OPENAI_BASE_URL": oa.base_url, "OPENAI_API_KEY": oa_key}
            gemini_env = base | {"GEMINI_BASE_URL": gm.base_url, "GEMINI_API_KEY": gm_key}
            cases: dict[str, tuple[list[str], dict[str, str]]] = {}
            for name, code in _COLD_CODE.items():
                if name.startswith(("llmp-gemini", "genai")):
                    args, env = [gm.base_url, gm_key, "gemini-2.5-flash"], gemini_env
                    if name == "llmp-gemini":
                        args[2] = "gemini/gemini-2.5-flash"
                else:
                    args, env = [oa.base_url, oa_key, MODEL], openai_env
                cases[name] = ([PYTHON, "-c", code, *args], env)
            cases["llmp-ask"] = ([PYTHON, llmp_cli, "ask", "--no-cache", "-m", MODEL, "hi"], openai_env)
            samples: dict[str, list[tuple[float, float, str]]] = {name: [] for name in cases}
            sdks: dict[str, list[str]] = {}
            for name, (argv, env) in cases.items():
                # Writes the .pyc files a pip install would have written; -X importtime says
                # which SDKs llmp's runs imported.
                _, _, err = _cold_once([argv[0], "-X", "importtime", *argv[1:]], env)
                if name.startswith("llmp"):
                    sdks[name] = sorted(set(_SDK_IMPORT.findall(err)))
            for _ in range(runs):  # in turns, so a busy moment of the machine hits every case
                for name, (argv, env) in cases.items():
                    samples[name].append(_cold_once(argv, env))
    finally:
        for server in servers.values():
            server.stop()
    out: dict[str, Any] = {"cold_runs": runs}
    for name, values in samples.items():
        out[f"cold_{name}_wall_ms"] = statistics.median(v[0] for v in values) * 1000
        out[f"cold_{name}_cpu_ms"] = statistics.median(v[1] for v in values) * 1000
        if name in sdks:
            out[f"cold_{name}_sdks"] = sdks[name]
    return out


def cold_table(result: dict[str, Any]) -> list[str]:
    # The floor: the faster of the two raw clients.
    floor = min(result["cold_httpx2-sync_wall_ms"], result["cold_httpx2-async_wall_ms"])
    lines = [
        f"Cold start: one call in a fresh process, median of {result['cold_runs']} "
        "(wall includes the interpreter's start)",
        "",
        "| one call in a fresh process | wall | CPU | wall / faster raw POST | SDK imported |",
        "|---|---:|---:|---:|---|",
    ]
    for title, name in COLD_ROWS:
        wall, cpu = result[f"cold_{name}_wall_ms"], result[f"cold_{name}_cpu_ms"]
        sdks = result.get(f"cold_{name}_sdks")
        shown = "-" if sdks is None else (", ".join(sdks) or "none")
        lines.append(f"| {title} | {wall:.0f} ms | {cpu:.0f} ms | {wall / floor:.2f}x | {shown} |")
    return lines


def run(runs: int, n_prompts: int) -> dict[str, Any]:
    result = import_times(runs)
    with fake_server(Workload(ttft=0.0, token_delay=0.0)) as server:
        for name in ("construct", "calls", "cold-cache"):
            out = run_child(
                ["bench/startup.py", "--child", name, "--prompts", str(n_prompts)], server.env, 900
            )
            result |= json.loads(out.splitlines()[-1])
    return result


ROWS = (
    ("python -c pass (interpreter alone), wall", "python_startup_ms", "{:.1f} ms"),
    ("import llmp, wall inside the process (target <= 30 ms)", "import_wall_ms", "{:.1f} ms"),
    ("import llmp, wall inside the process, fastest run", "import_wall_min_ms", "{:.1f} ms"),
    (
        "import llmp, -X importtime cumulative (adds its own overhead)",
        "importtime_cumulative_ms",
        "{:.1f} ms",
    ),
    ("import llmp without .pyc files (compiling every module)", "import_from_source_ms", "{:.1f} ms"),
    ("SDKs imported by `import llmp`", "sdks_after_import", "{}"),
    ("SDKs imported by `LLM(...)` too", "sdks_after_llm", "{}"),
    ("first LLM(...) in a process (plugin discovery, cache open)", "llm_first_us", "{:,.0f} us"),
    ("LLM(...) after the first, cache on (target <= 1 ms)", "llm_cache_true_us", "{:,.0f} us"),
    ("LLM(...) after the first, cache=False", "llm_cache_false_us", "{:,.0f} us"),
    ("first chat() call, wall / CPU", ("first_call_wall_ms", "first_call_cpu_ms"), "{:.1f} / {:.1f} ms"),
    (
        "later chat() calls (median), wall / CPU",
        ("later_call_wall_ms", "later_call_cpu_ms"),
        "{:.2f} / {:.2f} ms",
    ),
    (
        "first call's extra cost, wall / CPU",
        ("first_call_extra_wall_ms", "first_call_extra_cpu_ms"),
        "{:.1f} / {:.1f} ms",
    ),
    ("cache fill: generate(prompts), zero-latency server", "fill_wall_s", "{:.2f} s"),
    ("cached rerun, same instance: wall (target < 0.5 s for 10k)", "hit_wall_s", "{:.3f} s"),
    ("cached rerun, same instance: per prompt (target <= 50 us)", "hit_us_per_prompt", "{:.1f} us"),
    ("cached rerun, same instance: CPU (all threads)", "hit_cpu_s", "{:.3f} s"),
    ("cached rerun, new process: wall", "cold_hit_wall_s", "{:.3f} s"),
    ("cached rerun, new process: per prompt", "cold_hit_us_per_prompt", "{:.1f} us"),
    ("cached rerun, new process: CPU (all threads)", "cold_hit_cpu_s", "{:.3f} s"),
)


def _value(result: dict[str, Any], keys: Any, fmt: str) -> str:
    keys = keys if isinstance(keys, tuple) else (keys,)
    if any(result.get(k) is None for k in keys):
        return "-"
    values = [result[k] for k in keys]
    if isinstance(values[0], list):
        return ", ".join(values[0]) or "none"
    return fmt.format(*values)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result.get('prompts', '?')} cached prompts; import figures are medians of fresh interpreters.",
        "",
        "| what | value |",
        "|---|---:|",
    ]
    lines += [f"| {title} | {_value(result, keys, fmt)} |" for title, keys, fmt in ROWS]
    if "cold_runs" in result:
        lines += ["", *cold_table(result)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--cold-runs", type=int, default=9)
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start table")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children = {
            "construct": child_construct,
            "calls": lambda: child_calls(args.prompts),
            "cold-cache": lambda: child_cold_cache(args.prompts),
        }
        print(json.dumps(children[args.child]()), flush=True)
        return
    result = {} if args.cold_only else run(args.runs, args.prompts)
    if not args.cold_only:
        width = max(len(title) for title, _, _ in ROWS)
        print("Startup and cache")
        for title, keys, fmt in ROWS:
            print(f"  {title.ljust(width)}  {_value(result, keys, fmt)}")
        print()
    result |= cold_start(args.cold_runs)
    print("\n".join(cold_table(result)))
    if args.json:
        args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
