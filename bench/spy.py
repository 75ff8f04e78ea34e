"""Where each client's CPU goes, by package, from py-spy samples (side by side).

    .venv/bin/python bench/spy.py floor llmp --stream -c 128 -n 512
    .venv/bin/python bench/spy.py llmp --stream --frames openai,llmp,llmp_openai,pydantic

Runs ``cell.py`` under ``py-spy record --nonblocking`` (the process is not paused to sample, so
its CPU figures stay honest) for each client against one fake server, keeps the samples taken
inside the event loop (the requests; the warm-up round too, but not imports), and charges each
sample to the innermost frame from a third-party or project package (stdlib frames such as
``json`` or ``ssl`` count for the package that called them; samples with no such frame are the
event loop itself). ms/req = share x the cell's measured CPU per request. ``--frames`` also lists
the innermost frames in the given packages, which is where a package's share comes from.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, Workload, fake_server

_FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")
_BENCH = ("clients.py", "cell.py", "sdk_paths.py", "_common.py")
LOOP = "event loop (asyncio itself)"
STDLIB_ROOTS = {
    "asyncio",
    "json",
    "ssl",
    "socket",
    "selectors",
    "contextlib",
    "typing",
    "threading",
    "weakref",
}
Frame = tuple[str, str]  # (function, package)


def package(path: str) -> str:
    if path.startswith(_BENCH) or "/bench/" in path:
        return "bench harness"
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/src/" in path:
        path = path.split("/src/", 1)[1]
    first = path.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def is_library(pkg: str, path: str) -> bool:
    """Not the standard library (frames under lib/python3.X but not site-packages)."""
    stdlib = re.search(r"lib/python3\.\d+/", path) and "site-packages/" not in path
    return not stdlib and pkg not in STDLIB_ROOTS and not pkg.startswith("<")


def load(path: Path) -> list[tuple[list[tuple[str, str, str]], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = []
        for text in stack.split(";"):
            match = _FRAME.match(text)
            name, file = match.groups() if match else (text, text)
            frames.append((name, file, package(file)))
        samples.append((frames, int(count)))
    return samples


def attribute(path: Path, detail: set[str]) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    owners: collections.Counter[str] = collections.Counter()
    frames_out: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in load(path):
        names = [f[0] for f in frames]
        if "BaseEventLoop.run_forever" not in names:
            continue  # imports, interpreter start-up and shutdown
        if "_find_and_load" in names:
            continue  # a lazy import during the warm-up (the SDK on the first call)
        start = names.index("BaseEventLoop.run_forever") + 1
        total += count
        owner = LOOP
        for name, file, pkg in reversed(frames[start:]):
            if is_library(pkg, file):
                owner = pkg
                if pkg in detail:
                    frames_out[f"{pkg}: {name}"] += count
                break
        owners[owner] += count
    return total, owners, frames_out


def record(client: str, args: argparse.Namespace, env: dict[str, str], out: Path) -> dict[str, float]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    cmd = [spy, "record", "--nonblocking", "-r", str(args.rate), "-f", "raw", "-o", str(out), "--"]
    cmd += [sys.executable, "bench/cell.py", client, "--stream" if args.stream else "--no-stream"]
    cmd += ["-c", str(args.concurrency), "-n", str(args.requests), "--repeats", str(args.repeats)]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"py-spy on {client} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clients", nargs="+")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("-c", "--concurrency", type=int, default=128)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--frames", default="", help="packages whose innermost frames to list")
    parser.add_argument("--keep", type=Path, default=None, help="keep the raw py-spy files in this folder")
    args = parser.parse_args()
    detail = set(filter(None, args.frames.split(",")))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="llmp-spy-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    with fake_server(Workload()) as server:
        for client in args.clients:
            out = folder / f"{client}-{'stream' if args.stream else 'non-stream'}.txt"
            cell = record(client, args, server.env, out)
            results[client] = (cell["cpu_ms_per_req"], *attribute(out, detail))
    mode = "stream" if args.stream else "non-stream"
    print(f"CPU by package, {mode}, c={args.concurrency}, n={args.requests}: ms/request (share of samples)")
    packages = collections.Counter()
    for _, total, owners, _ in results.values():
        for pkg, count in owners.items():
            packages[pkg] += count / total
    width = max(len(p) for p in [*packages, "total (measured CPU/request)"])
    print(" " * width + "".join(f"{c:>20}" for c in results))
    for pkg, share in packages.most_common():
        if share < 0.005 * len(results):
            continue  # below half a percent everywhere: noise
        cells = [
            f"{cpu * owners[pkg] / total:8.2f} ({owners[pkg] / total:5.1%})"
            for cpu, total, owners, _ in results.values()
        ]
        print(pkg.ljust(width) + "".join(f"{c:>20}" for c in cells))
    print(
        "total (measured CPU/request)".ljust(width)
        + "".join(f"{r[0]:>11.2f}{'':9}" for r in results.values())
    )
    for client, (cpu, total, _, frames) in results.items():
        if frames:
            print(f"\n{client}: innermost frames in {sorted(detail)} (ms/request)")
            for name, count in frames.most_common(25):
                print(f"  {cpu * count / total:6.3f}  {name}")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
