"""``llmp batch submit|status|retrieve|cancel``: provider batch jobs (half price, within 24 h).

A thin layer over `LLM.batch_submit` / `batch_status` / `batch_retrieve` / `batch_cancel`. The
batch id carries the provider and the prompt count (``openai:2:batch_abc123``); ``-m`` names the
model whose prices apply when the results are counted (default: the config's model).
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import nullcontext
from typing import Any, TextIO

from llmp._cli._context import Context
from llmp._cli._errors import CLIError
from llmp._cli._inputs import PromptSource
from llmp._cli._summary import usage_text
from llmp.types import BatchStatus, Response

__all__ = ["cancel", "retrieve", "status", "submit"]

#: ``batch retrieve`` exit code while the batch is still running (scripts poll on it).
NOT_FINISHED = 3


def _status_line(batch_id: str, answer: BatchStatus) -> str:
    if not answer.total:
        return f"{batch_id}: {answer.status}"
    return (
        f"{batch_id}: {answer.status} "
        f"({answer.completed} of {answer.total} completed, {answer.failed} failed)"
    )


def submit(ctx: Context) -> int:
    args = ctx.args
    if args.n < 1:
        raise CLIError(f"-n must be at least 1, got {args.n}", 2)
    prompts = PromptSource(args.input, args.format, args.field, ctx.stdin)
    params = ctx.params()
    llm = ctx.llm()
    batch_id: str = llm.batch_submit(list(prompts), args.system, args.n, **params)
    ctx.stdout.write(batch_id + "\n")  # alone on stdout: `id=$(llmp batch submit ...)`
    ctx.stdout.flush()
    ctx.info(
        f"submitted {len(prompts):,} prompts to {llm.model}'s batch API; "
        f"check with: llmp batch status {batch_id} -m {llm.model}"
    )
    return 0


def status(ctx: Context) -> int:
    llm = ctx.llm()
    answer = llm.batch_status(ctx.args.batch_id)
    if ctx.args.json:
        ctx.stdout.write(json.dumps({**dataclasses.asdict(answer), "done": answer.done}) + "\n")
    else:
        ctx.stdout.write(_status_line(ctx.args.batch_id, answer) + "\n")
    return 0


def cancel(ctx: Context) -> int:
    llm = ctx.llm()
    answer = llm.batch_cancel(ctx.args.batch_id)
    ctx.stdout.write(_status_line(ctx.args.batch_id, answer) + "\n")
    return 0


def _record(index: int, result: Response | BaseException) -> dict[str, Any]:
    # The fields of `llmp run`'s output (its checkpoint), so one reader handles both.
    if isinstance(result, BaseException):
        return {
            "index": index,
            "response": None,
            "error": {"type": type(result).__name__, "message": str(result)},
        }
    return {"index": index, "response": result.to_dict(), "error": None}


def retrieve(ctx: Context) -> int:
    args = ctx.args
    llm = ctx.llm()
    results = llm.batch_retrieve(args.batch_id, rich=True, on_error="return")
    if results is None:
        ctx.info(f"batch {args.batch_id} has not finished yet; check with: llmp batch status {args.batch_id}")
        return NOT_FINISHED
    target = nullcontext(ctx.stdout) if not args.output else _open_output(args.output)
    failed = 0
    with target as out:
        for index, result in enumerate(results):
            failed += isinstance(result, BaseException)
            out.write(json.dumps(_record(index, result), ensure_ascii=False) + "\n")
    where = f" -> {args.output}" if args.output else ""
    ctx.info(f"{len(results):,} results, {failed:,} failed{where}; {usage_text(llm.usage)} (batch prices)")
    return 1 if failed else 0


def _open_output(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")  # closed by the caller's `with`
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from exc
