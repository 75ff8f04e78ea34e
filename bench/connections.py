"""How many connections? One HTTP/2 connection, a few, or HTTP/1.1, at c=128 and c=512.

    .venv/bin/python bench/connections.py [-c 128,512] [--modes stream,non-stream]
        [--workloads fast,slow] [--repeats 2] [--passes 2] [--variants h2x1,h2x4,...] [--json PATH]

The floor client of the grid (raw httpx2 + ``json.loads``, every reply checked), varying only
how requests reach the server; each variant in its own fresh process, CPU per request as in
``cell.py`` (warm-up round that opens the connections, then timed rounds). Every floor variant
reads a streamed body to its end (``clients.FloorDrained``): the grid's floor stops at
``[DONE]``, which over HTTP/1.1 closes the connection and costs a new one (and a TLS handshake)
per streamed request; ``--variants h1-undrained`` measures that too.

- ``h2 x1``: one ``httpx2.AsyncClient(http2=True)``, as shipped. httpcore2 opens one connection
  per origin and multiplexes at most 100 streams on it; the rest queue inside the client.
- ``h2 x1 uncapped*``: the same with httpcore2 patched (see `uncap_http2`) to allow
  ``UNCAPPED_STREAMS`` streams: what one connection could do if the client did not cap it.
- ``h2 x2`` / ``x4`` / ``x8``: that many clients, one HTTP/2 connection each, each request sent
  on the one with the fewest in flight (``clients.FloorLanes``).
- ``h1.1``: ``http2=False``, a pool that grows to one connection per request in flight.
- ``llmp``: ``LLM(..., cache=False, max_concurrent=c)`` as shipped (llmp-openai adds an HTTP/2
  connection per 100 streams in flight).

Where the 100 comes from (httpcore2 2.16.2): ``AsyncHTTP2Connection._send_connection_init``
hard-codes the client's *local* ``SETTINGS_MAX_CONCURRENT_STREAMS = 100`` (``_async/http2.py``
line 194), and ``handle_async_request`` sizes the per-connection stream semaphore from that local
value (lines 111-112). The server's advertised limit can only lower it: a SETTINGS change is
applied as ``min(server's value, local value)`` (lines 371-374). httpx2 passes no HTTP/2 settings
through, so no client knob raises it. And the pool never opens a second connection to the same
origin: an HTTP/2 connection, even one still connecting, reports itself available whatever its
load (``connection.py`` lines 164-170, ``http2.py`` lines 505-511), so every request is assigned
to it and waits on its semaphore.
(Strictly, the local setting limits streams the *server* may open, i.e. pushes; httpcore2 uses
it for its own requests as well.) The fake server is started advertising ``--h2-streams``
(default 1024), so the server is never what caps a single connection here.

Two servers: ``fast`` answers as in the grid (0.145 s a request), ``slow`` takes 0.975 s (see
`WORKLOADS` for why both). The peak in flight is the fake server's own count (``max_in_flight``,
reset before each process); ``opened`` counts connections the client's pools created (warm-up
included), ``conns`` those still open at the end, by protocol. HTTP/1.1 can open more than c:
httpx2 drops a connection left idle for 5 s (its default keep-alive expiry), which happens at
round boundaries when the client is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import report
from _common import Server, Workload, fake_server, run_child
from cell import measure, summarize
from clients import CLIENTS, FloorDrained, FloorLanes

# Above the largest concurrency measured, so the patched single connection is never the cap.
UNCAPPED_STREAMS = 1024
SERVER_STREAMS = 1024  # what the fake server advertises (its default, 256, would cap c=512)
BASELINE = "h2 x1"
# "fast" is the grid's server (0.145 s a request): there the client's CPU saturates long before
# 100 streams are in flight (~5 ms/request streamed on this class of machine is ~200 requests/s,
# while 100 streams at 0.145 s allow ~690/s), so a cap on streams barely shows. Real requests
# take seconds; "slow" (0.975 s) is still short of that but long enough that 100 streams (~100
# requests/s) is below what the client can do, so the cap, if it binds, shows in wall time.
WORKLOADS = {"fast": Workload(), "slow": Workload(ttft=0.5, token_delay=0.025)}


def uncap_http2(streams: int) -> None:
    """Patch httpcore2 so one HTTP/2 connection carries up to ``streams`` requests, not 100.

    This replaces ``AsyncHTTP2Connection._send_connection_init`` with a copy that differs only in
    the local ``MAX_CONCURRENT_STREAMS`` value; everything that reads that value (the stream
    semaphore, the clamp on the server's SETTINGS) then follows. The check on the original's
    source makes a changed httpcore2 fail loudly instead of measuring something else.
    """
    import h2.settings
    from httpcore2._async.http2 import AsyncHTTP2Connection

    if "MAX_CONCURRENT_STREAMS: 100," not in inspect.getsource(AsyncHTTP2Connection._send_connection_init):
        raise RuntimeError("httpcore2's HTTP/2 connection init changed: update uncap_http2()")

    async def _send_connection_init(self: Any, request: Any) -> None:
        # httpcore2 2.16.2's method, with 100 -> streams.
        self._h2_state.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        del self._h2_state.local_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]
        self._h2_state.initiate_connection()
        self._h2_state.increment_flow_control_window(2**24)
        await self._write_outgoing_data(request)

    AsyncHTTP2Connection._send_connection_init = _send_connection_init  # type: ignore[method-assign]


def _uncapped(c: int) -> FloorDrained:
    uncap_http2(UNCAPPED_STREAMS)
    return FloorDrained(c)


def _lanes(n: int) -> Callable[[int], FloorLanes]:
    return lambda c: FloorLanes(c, lanes=n, lane=FloorDrained)


# Command-line id -> (row label, constructor taking the concurrency).
VARIANTS: dict[str, tuple[str, Callable[[int], Any]]] = {
    "h2x1": (BASELINE, FloorDrained),
    "h2x1-uncapped": ("h2 x1 uncapped*", _uncapped),
    "h2x2": ("h2 x2", _lanes(2)),
    "h2x4": ("h2 x4", _lanes(4)),
    "h2x8": ("h2 x8", _lanes(8)),
    "h1": ("h1.1", lambda c: FloorDrained(c, http2=False)),
    "llmp": ("llmp", CLIENTS["llmp"]),
    # Not by default: the grid's floor-h1 as is (a new connection per streamed request).
    "h1-undrained": ("h1.1 undrained", CLIENTS["floor-h1"]),
}
DEFAULT_VARIANTS = ("h2x1", "h2x1-uncapped", "h2x2", "h2x4", "h2x8", "h1", "llmp")
COLUMNS = (
    ("client", "variant", "{}"),
    ("latency_s", "latency s", "{:.3f}"),
    ("mode", "mode", "{}"),
    ("c", "c", "{}"),
    ("n", "n", "{}"),
    ("cpu_ms_per_req", "CPU ms/req", "{:.2f}"),
    ("x_base", "x h2 x1", "{:.2f}"),
    ("wall_s", "wall s", "{:.2f}"),
    ("ideal_s", "ideal s", "{:.2f}"),
    ("tokens_per_s", "tok/s", "{:,.0f}"),
    ("ttft_p50_ms", "TTFT p50 ms", "{:.0f}"),
    ("ttft_p95_ms", "TTFT p95 ms", "{:.0f}"),
    ("in_flight", "in flight", "{}"),
    ("opened", "opened", "{}"),
    ("connections", "conns", "{}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("server_cpu_util", "srv CPU", "{:.0%}"),
)


def requests_for(c: int) -> int:
    """Several rounds of c, as in run.py: 512 requests at c=128, 1,024 at c=512."""
    return max(512, 2 * c)


def count_connections() -> list[int]:
    """Count the connections every httpcore2 pool in this process creates (one cell, mutable).

    Wrapping the pool's factory costs one call per connection, not per request, and catches
    connections that were opened and closed again, which a heap scan at the end would miss.
    """
    import httpcore2

    opened = [0]
    create = httpcore2.AsyncConnectionPool.create_connection

    def create_connection(self: Any, origin: Any) -> Any:
        opened[0] += 1
        return create(self, origin)

    httpcore2.AsyncConnectionPool.create_connection = create_connection  # type: ignore[method-assign]
    return opened


def child(variant: str, stream: bool, c: int, n: int, repeats: int) -> None:
    label, make = VARIANTS[variant]
    args = argparse.Namespace(client=label, stream=stream, concurrency=c, requests=n, repeats=repeats)
    opened = count_connections()
    cpu0 = time.process_time()
    client = make(c)  # imports the SDK (llmp) or patches httpcore2 (uncapped): not timed
    setup_cpu = time.process_time() - cpu0
    row = summarize(asyncio.run(measure(client, args)), args, setup_cpu)
    row["opened"] = opened[0]
    print(json.dumps(row), flush=True)


def run_variant(server: Server, variant: str, mode: str, c: int, args: argparse.Namespace) -> dict[str, Any]:
    n = args.requests or requests_for(c)
    cmd = ["bench/connections.py", "--child", variant, "--modes", mode, "-c", str(c), "-n", str(n)]
    cmd += ["--repeats", str(args.repeats)]
    server.handle.reset()  # so max_in_flight is this process's
    try:
        row: dict[str, Any] = json.loads(run_child(cmd, server.env, timeout=args.timeout).splitlines()[-1])
    except Exception as exc:  # one broken variant must not lose the rest
        print(f"{variant} {mode} c={c} failed: {exc!r}", file=sys.stderr)
        return {"client": VARIANTS[variant][0], "mode": mode, "c": c, "n": n, "error": repr(exc)}
    row["in_flight"] = server.max_in_flight()
    return row


def fold(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """One row per (variant, mode, c) of workload ``name``: the passes merged as in the grid, plus
    ``x_base`` (CPU/request over h2 x1's, same mode and c) and ``ideal_s`` (wall time with an
    infinitely fast client and no cap on requests in flight)."""
    workload = WORKLOADS[name]
    mine = [r for r in rows if r["workload"] == name]
    merged = report.merge(mine)  # it groups by (client, mode, c): one workload at a time
    base = {(r["mode"], r["c"]): r.get("cpu_ms_per_req") for r in merged if r["client"] == BASELINE}
    for row in merged:
        key = (row["client"], row["mode"], row["c"])
        # merge() keeps the last pass's count; a pass that had to open more should show.
        counts = [r["opened"] for r in mine if (r["client"], r["mode"], r["c"]) == key and "opened" in r]
        row["opened"] = max(counts) if counts else None
        cpu, ref = row.get("cpu_ms_per_req"), base.get((row["mode"], row["c"]))
        row["x_base"] = cpu / ref if cpu is not None and ref else None
        row["workload"], row["latency_s"] = name, workload.latency
        row["ideal_s"] = workload.latency * math.ceil(row["n"] / row["c"])
    return merged


def caption(data: dict[str, Any]) -> str:
    latencies = ", ".join(f"{name} {w['latency']:.3f} s" for name, w in data["workloads"].items())
    return (
        "Floor client (raw httpx2 + json.loads, bodies read to the end, every reply checked) on "
        "one or more HTTP/2 connections or HTTP/1.1, and llmp as shipped, against a fake server "
        f"(own process, {data['h2_streams']} HTTP/2 streams allowed) whose requests take "
        f"{latencies} (20 deltas); median of {data['repeats'] * data['passes']} timed rounds in "
        f"{data['passes']} passes, each variant in a fresh process; * = httpcore2 patched to allow "
        f"{data['uncapped_streams']} streams per connection instead of its hard-coded 100."
    )


def markdown(data: dict[str, Any]) -> str:
    return caption(data) + "\n\n" + report.markdown_table(data["rows"], COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--concurrency", default="128,512", help="comma-separated")
    parser.add_argument("-n", "--requests", type=int, default=None, help="default: max(512, 2c)")
    parser.add_argument("--modes", default="stream,non-stream", help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"from {list(WORKLOADS)}")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per process")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes over the variants")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {list(VARIANTS)}")
    parser.add_argument("--h2-streams", type=int, default=SERVER_STREAMS, help="server's HTTP/2 limit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    modes = args.modes.split(",")
    if args.child:
        n = args.requests or requests_for(concurrency[0])
        child(args.child, modes[0] == "stream", concurrency[0], n, args.repeats)
        return
    variants, names = args.variants.split(","), args.workloads.split(",")
    unknown = (
        [v for v in variants if v not in VARIANTS]
        + [m for m in modes if m not in ("stream", "non-stream")]
        + [w for w in names if w not in WORKLOADS]
    )
    if unknown:
        parser.error(f"unknown variant, mode or workload: {unknown}")
    rows = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # One server per workload, both up for the whole run so the passes can interleave them;
        # an idle server costs nothing, and each is its own process (its CPU is not the client's).
        servers = {
            w: stack.enter_context(fake_server(WORKLOADS[w], h2_streams=args.h2_streams)) for w in names
        }
        # Passes interleave every variant (A B C A B C), so a noisy neighbour hits them all alike.
        for _ in range(args.passes):
            for name in names:
                for mode in modes:
                    for c in concurrency:
                        for variant in variants:
                            row = run_variant(servers[name], variant, mode, c, args)
                            row["workload"] = name
                            rows.append(row)
                            print(
                                f"  {name:>5} {row['client']:>16} {mode:>10} c={c:<4} "
                                + ("FAILED" if row.get("error") else f"{row['wall_s']:.2f} s wall"),
                                file=sys.stderr,
                                flush=True,
                            )
    data = {
        "c": concurrency,
        "modes": modes,
        "repeats": args.repeats,
        "passes": args.passes,
        "h2_streams": args.h2_streams,
        "uncapped_streams": UNCAPPED_STREAMS,
        "workloads": {
            w: {
                "ttft": WORKLOADS[w].ttft,
                "token_delay": WORKLOADS[w].token_delay,
                "latency": WORKLOADS[w].latency,
            }
            for w in names
        },
        "elapsed_s": time.perf_counter() - started,
        "command": " ".join(["python", *sys.argv]),
        "rows": [row for name in names for row in fold(rows, name)],
    }
    print(caption(data))
    print(report.text_table(data["rows"], COLUMNS))
    if args.json:
        args.json.write_text(json.dumps(data))


if __name__ == "__main__":
    main()
