"""Profile one client's timed section with pyinstrument (where does its CPU go?).

    .venv/bin/python bench/profile.py llmp --stream -c 128 -n 512 [--flat] [--html out.html]

Same setup as ``cell.py`` (fresh process, fake server in its own process, one warm-up round), then
one profiled round. ``--flat`` lists functions by self time, which is what to compare between
llmp and the floor; the default is the call tree. The sampler adds some overhead of its own, so
read proportions, not absolute milliseconds. For a sampling view without in-process overhead:
``py-spy record -f raw -o out.txt -- .venv/bin/python bench/cell.py llmp ...`` (needs ptrace).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from _common import Workload, fake_server, prompt, run_child
from clients import CLIENTS


async def profiled(args: argparse.Namespace) -> Any:
    from pyinstrument import Profiler

    client = CLIENTS[args.client](args.concurrency)
    await client.run([prompt(-1 - i) for i in range(max(8, args.concurrency))], args.concurrency, args.stream)
    prompts = [prompt(i) for i in range(args.requests)]
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    cpu = time.process_time()
    profiler.start()
    await client.run(prompts, args.concurrency, args.stream)
    profiler.stop()
    cpu = time.process_time() - cpu
    await client.aclose()
    mode = "stream" if args.stream else "non-stream"
    print(
        f"# {args.client} {mode} c={args.concurrency} n={args.requests}: {cpu / args.requests * 1000:.2f} "
        "CPU ms/request (profiler included)"
    )
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("-c", "--concurrency", type=int, default=128)
    parser.add_argument("-n", "--requests", type=int, default=512)
    parser.add_argument("--flat", action="store_true", help="functions by self time instead of the tree")
    parser.add_argument("--html", default=None, help="also write pyinstrument's HTML view here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from pyinstrument.renderers import ConsoleRenderer

        profiler = asyncio.run(profiled(args))
        if args.html:
            Path(args.html).write_text(profiler.output_html())
        renderer = ConsoleRenderer(
            unicode=False, color=False, flat=args.flat, show_all=False, short_mode=False
        )
        print(profiler.output(renderer))
        return
    forward = [args.client, "--stream" if args.stream else "--no-stream", "-c", str(args.concurrency)]
    forward += ["-n", str(args.requests), "--child"] + (["--flat"] if args.flat else [])
    forward += ["--html", args.html] if args.html else []
    with fake_server(Workload()) as server:
        print(run_child(["bench/profile.py", *forward], server.env, timeout=900), end="")


if __name__ == "__main__":
    main()
