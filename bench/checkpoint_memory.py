"""Peak memory of a checkpointed job: `iter_generate(..., output_jsonl=...)` with big answers.

    uv run --all-packages python bench/checkpoint_memory.py                 # 6,000 answers of 24 KB
    uv run --all-packages python bench/checkpoint_memory.py --prompts 1000  # quick
    uv run --all-packages python bench/checkpoint_memory.py --src /path/to/other/llmp/core/src

Issue 15 item 16: the old checkpoint kept every record in memory, 207 MB peak RSS with the
checkpoint against 66 MB without, for 6,000 answers of ~24 KB. Each row runs in a fresh client
process (the fake server runs in its own), so its peak RSS (ru_maxrss) is the client's alone:
interpreter, SDK, llmp and the job. The prompts come from a generator and every answer is dropped
as it arrives, so without a checkpoint nothing grows; the checkpoint should add nothing either,
when it is written and when a re-run resumes from it (every answer read back from disk).
`--src` runs the same rows against another llmp source tree (e.g. a checkout from before the
change) for the before/after table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import client_env

CHILD = """
import json, resource, sys, time, llmp
prompts, size, concurrency, output = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=concurrency)
t0 = time.perf_counter()
count = chars = 0
job = (f"{i} " + "x" * size for i in range(prompts))  # the echoed answer is as big as the prompt
for index, result in llm.iter_generate(job, output_jsonl=output or None, progress=False):
    assert not isinstance(result, BaseException), result
    count += 1
    chars += len(result[0])
elapsed = time.perf_counter() - t0
assert count == prompts
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak, "mb_answered": chars / 1e6,
                  "requests": llm.usage.requests}))
"""

ROWS = (
    ("no checkpoint", False),
    ("checkpoint (written)", True),
    ("checkpoint (resumed)", True),  # the same file again: every answer read back, none sent
)


def run(prompts: int, size: int, concurrency: int, src: str | None) -> list[dict[str, object]]:
    from llmp_openai.testing import FakeOpenAIServer

    rows: list[dict[str, object]] = []
    with FakeOpenAIServer.spawn() as server, tempfile.TemporaryDirectory() as scratch:
        cache = str(Path(scratch) / "cache")
        env = client_env(server.base_url, str(server.ca_path), server.api_key, cache)
        if src:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        output = Path(scratch) / "job.jsonl"
        for name, checkpointed in ROWS:
            command = [sys.executable, "-c", CHILD, str(prompts), str(size), str(concurrency)]
            command.append(str(output) if checkpointed else "")
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name}: {done.stderr}")
            row = json.loads(done.stdout)
            row["name"] = name
            row["file_mb"] = output.stat().st_size / 1e6 if checkpointed else 0.0
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=6_000)
    parser.add_argument("--size", type=int, default=24_000, help="characters per answer")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--src", help="run the children against this llmp source tree (PYTHONPATH)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = run(args.prompts, args.size, args.concurrency, args.src)
    base = float(rows[0]["peak_rss_mb"])  # type: ignore[arg-type]
    print(f"{args.prompts:,} prompts, answers of {args.size:,} characters, -c {args.concurrency}")
    print(f"{'':<22} {'requests':>9} {'file MB':>8} {'seconds':>8} {'peak RSS MB':>12} {'vs none':>8}")
    for row in rows:
        peak = float(row["peak_rss_mb"])  # type: ignore[arg-type]
        print(
            f"{row['name']:<22} {row['requests']:>9,} {row['file_mb']:>8.0f} {row['seconds']:>8.1f} "
            f"{peak:>12.1f} {peak / base:>7.2f}x"
        )
    print(f"(total {time.perf_counter() - t0:.0f}s; issue 15 item 16 measured 207 MB vs 66 MB before)")


if __name__ == "__main__":
    main()
