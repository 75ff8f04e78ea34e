"""Peak memory of a big job: N prompts through `generate` (cache on) against the fake server.

    uv run --all-packages python bench/memory.py              # 10k, 30k, 100k prompts
    uv run --all-packages python bench/memory.py --sizes 1000 # quick

Each size runs in a fresh client process (the fake server runs in its own process), so the peak
RSS reported (ru_maxrss) is the client's alone: interpreter, SDK, llmp, and the job. The job's
own growth is the difference to the smallest size; the target is a peak of <= 200 MB at 100k.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys, time, llmp
n = int(sys.argv[1])
llm = llmp.LLM("gpt-4.1-mini", max_concurrent=64)
t0 = time.perf_counter()
results = llm.generate((f"memory check prompt {i}" for i in range(n)), progress=False)
elapsed = time.perf_counter() - t0
assert len(results) == n and results[-1] == [f"Echo: memory check prompt {n - 1}"]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n": n, "seconds": elapsed, "peak_rss_mb": peak, "requests": llm.usage.requests}))
"""


def run(sizes: list[int]) -> list[dict[str, float]]:
    from llmp_openai.testing import FakeOpenAIServer

    rows = []
    with FakeOpenAIServer.spawn() as server, tempfile.TemporaryDirectory() as cache:
        env = dict(
            os.environ,
            SSL_CERT_FILE=str(server.ca_path),
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY=server.api_key,
            LLMP_CACHE_DIR=cache,
        )
        for n in sizes:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True, text=True
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            rows.append(json.loads(out.stdout))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = run(sorted(args.sizes))
    base = rows[0]["peak_rss_mb"]
    print(f"{'prompts':>9} {'seconds':>8} {'prompts/s':>10} {'peak RSS MB':>12} {'growth MB':>10}")
    for row in rows:
        print(
            f"{int(row['n']):>9,} {row['seconds']:>8.1f} {row['n'] / row['seconds']:>10,.0f} "
            f"{row['peak_rss_mb']:>12.1f} {row['peak_rss_mb'] - base:>10.1f}"
        )
    print(f"(total {time.perf_counter() - t0:.0f}s; target: peak <= 200 MB at 100,000 prompts)")


if __name__ == "__main__":
    main()
