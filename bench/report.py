"""Tables and the plot for the grid's results (rows as printed by ``cell.py``, one dict per cell)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Workload

Row = dict[str, Any]
LEFT = {"client", "mode", "connections"}  # text columns; the rest are right-aligned numbers
COLUMNS = (
    ("client", "client", "{}"),
    ("mode", "mode", "{}"),
    ("c", "c", "{}"),
    ("n", "n", "{}"),
    ("cpu_ms_per_req", "CPU ms/req", "{:.2f}"),
    ("x_floor", "x floor", "{:.2f}"),
    ("wall_s", "wall s", "{:.2f}"),
    ("ideal_s", "ideal s", "{:.2f}"),
    ("tokens_per_s", "tok/s", "{:,.0f}"),
    ("ttft_p50_ms", "TTFT p50 ms", "{:.0f}"),
    ("ttft_p95_ms", "TTFT p95 ms", "{:.0f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("in_flight", "in flight", "{}"),
    ("server_cpu_util", "srv CPU", "{:.0%}"),
    ("connections", "conns", "{}"),
)


def merge(rows: Sequence[Row]) -> list[Row]:
    """Fold rows of the same (client, mode, c) from several passes into one: medians over every
    timed round (CPU, wall) or over the passes (rates, TTFT percentiles), the highest peak RSS."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["client"], row.get("mode"), row.get("c")), []).append(row)
    out = []
    for group in groups.values():
        ok = [r for r in group if not r.get("error")]
        if len(ok) < 2:
            out.append(ok[0] if ok else group[0])
            continue
        row = dict(ok[-1])
        for key in ("cpu_ms_per_req", "wall_s"):
            row[f"{key}_all"] = [v for r in ok for v in r[f"{key}_all"]]
            row[key] = statistics.median(row[f"{key}_all"])
        for key in ("tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "server_cpu_util"):
            values = [r[key] for r in ok if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
        row["in_flight"] = max((r.get("in_flight") or 0) for r in ok) or None
        row["repeats"] = sum(r["repeats"] for r in ok)
        row["passes"] = sum(r.get("passes", 1) for r in ok)
        out.append(row)
    return out


def enrich(rows: list[Row], workload: Workload) -> list[Row]:
    """Add ``x_floor`` (CPU/request over the floor's, same mode and c) and ``ideal_s``."""
    floors = {(r["mode"], r["c"]): r.get("cpu_ms_per_req") for r in rows if r["client"] == "floor"}
    for row in rows:
        floor = floors.get((row["mode"], row["c"]))
        cpu = row.get("cpu_ms_per_req")
        row["x_floor"] = cpu / floor if cpu is not None and floor else None
        row["ideal_s"] = workload.latency * math.ceil(row["n"] / row["c"])
    return rows


def _cell(row: Row, key: str, fmt: str) -> str:
    if key == "client" and row.get("error"):
        return f"{row['client']} (FAILED)"
    value = row.get(key)
    return "-" if value is None else fmt.format(value)


def text_table(rows: Sequence[Row], columns: Sequence[tuple[str, str, str]] = COLUMNS) -> str:
    cells = [[title for _, title, _ in columns]]
    cells += [[_cell(row, key, fmt) for key, _, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    left = [key in LEFT for key, _, _ in columns]
    lines = [
        "  ".join(v.ljust(w) if lft else v.rjust(w) for v, w, lft in zip(line, widths, left, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row], columns: Sequence[tuple[str, str, str]] = COLUMNS) -> str:
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" if key in LEFT else "---:" for key, _, _ in columns) + "|"
    body = ["| " + " | ".join(_cell(row, key, fmt) for key, _, fmt in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def find(rows: Sequence[Row], client: str, mode: str, c: int) -> Row | None:
    for row in rows:
        if (row["client"], row["mode"], row["c"]) == (client, mode, c) and not row.get("error"):
            return row
    return None


def headline(rows: Sequence[Row], c: int = 128) -> tuple[str, list[str]]:
    """The c=128 comparison: llmp's CPU/request against every other client, and the targets."""
    lines = [
        "| mode | llmp CPU ms/req | vs floor | vs openai-h2 | vs openai-h1 | vs litellm | wall vs floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for mode in ("stream", "non-stream"):
        ours = find(rows, "llmp", mode, c)
        if ours is None:
            continue
        cells = [mode, f"{ours['cpu_ms_per_req']:.2f}"]
        for other, word in (("floor", "x"), ("openai-h2", "/"), ("openai-h1", "/"), ("litellm", "/")):
            row = find(rows, other, mode, c)
            if row is None:
                cells.append("-")
            elif word == "x":
                cells.append(f"{ours['cpu_ms_per_req'] / row['cpu_ms_per_req']:.2f}x")
            else:  # how many times cheaper llmp is
                cells.append(f"{row['cpu_ms_per_req'] / ours['cpu_ms_per_req']:.1f}x cheaper")
        floor = find(rows, "floor", mode, c)
        cells.append(f"{ours['wall_s'] / floor['wall_s']:.2f}x" if floor else "-")
        lines.append("| " + " | ".join(cells) + " |")
        if floor:
            ratio = ours["cpu_ms_per_req"] / floor["cpu_ms_per_req"]
            verdict = "met" if round(ratio, 2) <= 1.25 else "MISSED"
            wall = ours["wall_s"] / floor["wall_s"]
            wall_verdict = "met" if round(wall, 2) <= 1.1 else "MISSED"
            flight = f"in flight: llmp {ours.get('in_flight') or '?'}, floor {floor.get('in_flight') or '?'}"
            verdicts.append(
                f"{mode}, c={c}: llmp CPU/request is {ratio:.2f}x the floor's (target <= 1.25x: {verdict}); "
                f"wall {wall:.2f}x the floor's (target <= 1.1x: {wall_verdict}; {flight})."
            )
    return "\n".join(lines), verdicts


def plot(rows: Sequence[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("stream", "non-stream") if any(r["mode"] == m for r in rows)]
    clients = list(dict.fromkeys(r["client"] for r in rows))
    fig, axes = plt.subplots(2, len(modes), figsize=(6.5 * len(modes), 8), squeeze=False)
    for col, mode in enumerate(modes):
        for client in clients:
            points = sorted(
                (r["c"], r)
                for r in rows
                if r["client"] == client and r["mode"] == mode and not r.get("error")
            )
            if not points:
                continue
            xs = [c for c, _ in points]
            style = {"linewidth": 2.5 if client in ("llmp", "floor") else 1.5, "marker": "o"}
            if client == "floor":
                style["linestyle"] = "--"
            axes[0][col].plot(xs, [r["tokens_per_s"] for _, r in points], label=client, **style)
            axes[1][col].plot(xs, [r["cpu_ms_per_req"] for _, r in points], label=client, **style)
        axes[0][col].set_title(f"{mode}: throughput")
        axes[0][col].set_ylabel("output tokens / s (higher is better)")
        axes[1][col].set_title(f"{mode}: client CPU per request")
        axes[1][col].set_ylabel("CPU ms / request (lower is better)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrency")
            ax.set_xticks(sorted({r["c"] for r in rows}))
            ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
        axes[0][col].legend()
    fig.suptitle("llmp vs other Python clients against a local fake OpenAI server (2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
