"""Run the benchmark grid and write docs/performance.md and docs/performance.png.

    .venv/bin/python bench/run.py            # the grid (~11 min on 2 cores) + extras (~35 min)
    .venv/bin/python bench/run.py --quick --no-extras   # c in {32, 128}, one repeat (~1.5 min)

Grid: {stream, non-stream} x concurrency {1, 32, 128, 512} x clients. One fake server (its own
process) serves the whole run; each cell runs in a fresh process (``cell.py``). Then, unless
``--no-extras``, ``startup.py``, ``sdk_paths.py``, ``connections.py`` and ``gemini.py`` run and their
tables join the report.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import report
from _common import REPO, Server, Workload, bytecode_env, fake_server, run_child
from clients import CLIENTS, DEFAULT_CLIENTS

NOTES = Path(__file__).with_name("notes.md")  # the hand-written reading of the numbers
HEADLINE_C = 128  # the concurrency the targets are stated at
RESULTS = Path(__file__).with_name("results") / "latest.json"  # git-ignored


def requests_for(c: int, quick: bool) -> int:
    """Several rounds of c; c=1 is latency-bound (~145 ms a request), so 8 is plenty there."""
    if c == 1:
        return 8
    if quick:
        return max(64, 2 * c)
    return min(max(128, 4 * c), max(1024, 2 * c))  # 128, 512, 1024 for c = 32, 128, 512


def repeats_for(c: int, repeats: int) -> int:
    """c=512 rounds are the longest (1,024 requests; ~40 s for litellm): one fewer keeps the grid
    near 10 minutes."""
    return max(1, repeats - 1) if c >= 512 else repeats


def run_cell(server: Server, client: str, mode: str, c: int, args: argparse.Namespace) -> dict[str, Any]:
    n = args.requests or requests_for(c, args.quick)
    cmd = ["bench/cell.py", client, f"--{mode}", "-c", str(c), "-n", str(n)]
    cmd += ["--repeats", str(repeats_for(c, args.repeats))]
    server.handle.reset()  # so max_in_flight is this cell's
    started = time.perf_counter()
    try:
        row = json.loads(run_child(cmd, server.env, timeout=args.cell_timeout).splitlines()[-1])
    except Exception as exc:  # one broken cell must not lose the grid
        mode = "non-stream" if mode == "no-stream" else mode
        return {"client": client, "mode": mode, "c": c, "n": n, "error": repr(exc)}
    row["in_flight"] = server.max_in_flight()
    row["cell_s"] = time.perf_counter() - started  # import + warm-up + timed rounds
    return row


def run_grid(args: argparse.Namespace, workload: Workload) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    # Progress lines use fixed widths; the final table is re-aligned.
    widths = [10, 10, 3, 4, 10, 7, 6, 7, 6, 11, 11, 6, 9, 7, 14]
    header = [title for _, title, _ in report.COLUMNS]
    print("  ".join(t.ljust(w) for t, w in zip(header, widths, strict=True)), flush=True)
    with fake_server(workload, h2_streams=args.h2_streams) as server:
        # Passes interleave whole grids, so slow drift on a shared machine hits every client alike;
        # then extra passes over the headline concurrency alone, merged into its cells.
        plan = [(m, c) for _ in range(args.passes) for m in args.modes for c in args.concurrency]
        if HEADLINE_C in args.concurrency:
            plan += [(m, HEADLINE_C) for _ in range(args.headline_passes) for m in args.modes]
        for mode, c in plan:
            for client in args.clients:
                rows.append(run_cell(server, client, mode, c, args))
                line = report.text_table(report.enrich(list(rows), workload)).splitlines()[-1]
                cells = line.split()
                print("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=False)), flush=True)
    print(f"grid: {time.perf_counter() - started:.0f} s")
    return report.enrich(report.merge(rows), workload)


def run_extra(script: str, *flags: str, timeout: float = 1200) -> Any:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        try:
            cmd = [f"bench/{script}", *flags, "--json", out.name]
            sys.stdout.write(run_child(cmd, bytecode_env(), timeout=timeout))
            return json.loads(Path(out.name).read_text())
        except Exception as exc:
            print(f"{script} failed: {exc!r}", file=sys.stderr)
            return None


def git_state() -> str:
    import subprocess

    try:
        run = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return run.stdout.strip()


def versions() -> str:
    names = ["llmp-core", "llmp-openai", "openai", "httpx2", "h2", "litellm", "aiohttp", "hypercorn"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def write_markdown(
    path: Path,
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    workload: Workload,
    extras: dict[str, Any],
    state: str,
) -> None:
    import connections
    import gemini
    import sdk_paths
    import startup

    table, verdicts = report.headline(rows)
    command = args.command
    parts = [
        "# Performance",
        "",
        f"Generated by `{command}` on {datetime.date.today()}: {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}, 2 cores (a shared, "
        f"noisy VM), work tree `{state}`. Versions: {versions()}.",
        "",
        "## Workload",
        "",
        f"A local fake OpenAI server (`llmp_openai.testing`, hypercorn, TLS, HTTP/2 and HTTP/1.1) in its own "
        f"process: first byte after {workload.ttft * 1000:.0f} ms, then {workload.chunks} content deltas "
        f"{workload.token_delay * 1000:.0f} ms apart, so one request takes {workload.latency * 1000:.0f} ms "
        "with an infinitely fast client (non-streamed replies wait as long). Each request: one 26-word user "
        "message; the reply echoes it (28 output tokens); streams carry the role chunk, 20 deltas, the "
        "finish chunk and a usage chunk. Each cell runs in a fresh process: import, one warm-up round of "
        f"`max(4, c)` requests (opens the connections), then {args.repeats} timed rounds of `n` requests "
        f"({max(1, args.repeats - 1)} at c=512; at c=128, {1 + args.headline_passes} passes of them, "
        "interleaved with the other clients, merged); "
        "figures are medians over the rounds (TTFT pooled). Every reply is checked.",
        "",
        "- **CPU ms/req**: the client process's CPU time (all threads) over the timed rounds / n. The "
        "headline: on 2 cores the client's CPU per request decides throughput at high concurrency.",
        "- **x floor**: CPU/request over the floor's (same mode and c). **ideal s**: latency x ceil(n/c).",
        "- **srv CPU**: the fake server's CPU / wall over the same interval (near 100%: the server, "
        "not the client, was the bottleneck). **conns**: open connections by protocol after the run.",
        "",
        "Clients: **floor** = raw `httpx2.AsyncClient(http2=True)`, `json.loads` of the body or of each "
        "SSE `data:` line; **openai-h1/h2** = `AsyncOpenAI(http_client=httpx2.AsyncClient(http2=...), "
        "max_retries=0).chat.completions.create`; **litellm** = `litellm.acompletion(model='openai/...')` "
        "with its defaults (aiohttp transport, HTTP/1.1); **llmp** = `LLM(model, cache=False, "
        "max_concurrent=c)`: `agenerate(prompts)`, or `astream(prompt)` per prompt, c at a time.",
        "",
        "## Headline: c=128",
        "",
        table,
        "",
        *[f"- {v}" for v in verdicts],
        "",
        "## Full grid",
        "",
        report.markdown_table(rows),
        "",
        "![throughput and CPU per request against concurrency](performance.png)",
        "",
    ]
    if extras.get("startup"):
        parts += ["## Startup and cache (`bench/startup.py`)", "", startup.markdown(extras["startup"]), ""]
    if extras.get("sdk_paths"):
        parts += [
            "## Streaming through the openai SDK: objects vs raw response (`bench/sdk_paths.py`)",
            "",
            sdk_paths.markdown(extras["sdk_paths"]),
            "",
        ]
    if extras.get("sdk_paths_nonstream"):
        parts += [
            "The same paths without streaming (`bench/sdk_paths.py --no-stream`): floor -> sdk-raw-post "
            "is the SDK's own request overhead, sdk-raw-post -> llmp is llmp's (core + plugin).",
            "",
            sdk_paths.markdown(extras["sdk_paths_nonstream"]),
            "",
        ]
    if extras.get("connections"):
        parts += [
            "## HTTP/2: one connection, a few, or HTTP/1.1 (`bench/connections.py`)",
            "",
            connections.markdown(extras["connections"]),
            "",
        ]
    if extras.get("gemini"):
        parts += [
            "## Gemini: llmp-gemini against google-genai (`bench/gemini.py`)",
            "",
            gemini.markdown(extras["gemini"]),
            "",
        ]
    if NOTES.exists():
        parts += [NOTES.read_text().strip(), ""]
    parts += [
        "## Reproduce",
        "",
        "```bash",
        "uv sync --group bench   # litellm, matplotlib, psutil, pyinstrument, py-spy",
        "# what wrote this page (grid ~12 min + extras ~35 min on 2 cores):",
        ".venv/bin/python bench/run.py --headline-passes 1",
        ".venv/bin/python bench/run.py --quick --no-extras   # a smaller grid, ~1.5 min",
        ".venv/bin/python bench/run.py --clients floor,llmp --concurrency 128 --no-extras --no-docs",
        ".venv/bin/python bench/run.py --from-json bench/results/latest.json   # rewrite this page",
        ".venv/bin/python bench/sdk_paths.py [--no-stream]   # the SDK-path micro-benchmark",
        ".venv/bin/python bench/startup.py                   # import, LLM(), first call, cache hits",
        ".venv/bin/python bench/startup.py --cold-only       # a call in a fresh process vs httpx2, SDKs",
        ".venv/bin/python bench/connections.py               # HTTP/2 x1/x2/x4/x8 vs HTTP/1.1, c=128/512",
        ".venv/bin/python bench/gemini.py                    # llmp-gemini vs google-genai (aiohttp, httpx2)",
        ".venv/bin/python bench/ray.py                       # Ray Data: 2 actors against 1 (~3 min)",
        ".venv/bin/python bench/deployments.py               # a set of one; one of three killed (~5 min)",
        ".venv/bin/python bench/spy.py floor llmp --no-stream --frames openai,llmp,llmp_openai",
        "```",
        "",
    ]
    path.write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="c in {32, 128}, one repeat")
    parser.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help=f"from {sorted(CLIENTS)}")
    parser.add_argument("--concurrency", default=None, help="comma-separated (default 1,32,128,512)")
    parser.add_argument("--modes", default="stream,no-stream", help="stream,no-stream")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per cell (default 3)")
    parser.add_argument("--passes", type=int, default=1, help="run the grid N times, interleaved; merge")
    parser.add_argument(
        "--headline-passes", type=int, default=0, help="extra passes at c=128, merged into its cells"
    )
    parser.add_argument("--requests", type=int, default=None, help="n per cell (default: by c)")
    parser.add_argument("--h2-streams", type=int, default=None, help="server's HTTP/2 stream limit")
    parser.add_argument("--cell-timeout", type=float, default=900.0)
    parser.add_argument(
        "--no-extras", action="store_true", help="skip startup, sdk_paths, connections and gemini"
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs/")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"raw results (default {RESULTS})")
    parser.add_argument("--from-json", type=Path, default=None, help="rewrite the docs from saved results")
    args = parser.parse_args()
    args.clients = args.clients.split(",")
    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; choose from {sorted(CLIENTS)}")
    default_c = "32,128" if args.quick else "1,32,128,512"
    args.concurrency = [int(c) for c in (args.concurrency or default_c).split(",")]
    args.modes = args.modes.split(",")
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.command = " ".join(["python bench/run.py", *sys.argv[1:]])
    workload = Workload()

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        rows, extras = saved["rows"], saved["extras"]
        args.quick, args.repeats, state = saved["quick"], saved["repeats"], saved["git"]
        args.headline_passes = saved.get("headline_passes", 0)
        args.command = saved.get("command", "python bench/run.py")
    else:
        state = git_state()
        rows = run_grid(args, workload)
        extras = {}
        if not args.no_extras:
            print()
            extras["startup"] = run_extra("startup.py")
            print()
            extras["sdk_paths"] = run_extra("sdk_paths.py")
            print()
            extras["sdk_paths_nonstream"] = run_extra("sdk_paths.py", "--no-stream")
            print()
            extras["connections"] = run_extra("connections.py", timeout=3600)  # ~25 min on 2 cores
            print()
            extras["gemini"] = run_extra("gemini.py")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        saved = {"rows": rows, "extras": extras, "quick": args.quick, "repeats": args.repeats, "git": state}
        saved["headline_passes"] = args.headline_passes
        saved["command"] = args.command
        args.json.write_text(json.dumps(saved, indent=1))
    print("\n" + report.text_table(rows) + "\n")
    for verdict in report.headline(rows)[1]:
        print(verdict)
    if not args.no_docs:
        docs = REPO / "docs"
        write_markdown(docs / "performance.md", rows, args, workload, extras, state)
        report.plot(rows, docs / "performance.png")
        print(f"\nwrote {docs / 'performance.md'} and {docs / 'performance.png'}")


if __name__ == "__main__":
    main()
