"""``llmp run``: a file of prompts as one big job, checkpointed so that a re-run resumes.

The output file is `LLM.generate`'s ``output_jsonl`` checkpoint (see `llmp._checkpoint`): one
JSON line per prompt, ``{"v", "index", "request_hash", "response", "error"}``, in prompt order
once the job ends. Items are consumed as they finish (`iter_generate`), so neither the prompts nor
the results of a job of millions are held in memory.
"""

from __future__ import annotations

from pathlib import Path

from llmp._checkpoint import Checkpoint
from llmp._cli._context import Context
from llmp._cli._errors import CLIError, describe
from llmp._cli._inputs import PromptSource
from llmp._cli._summary import deployments_text, usage_text
from llmp.errors import CheckpointLockedError

__all__ = ["finished_in", "run"]


def finished_in(output: Path, total: int) -> int:
    """How many of the job's `total` prompts have an answer saved in `output` (the checkpoint's
    own count: what a re-run will not send again)."""
    checkpoint = Checkpoint(output)
    try:
        return checkpoint.count_finished(total)
    finally:
        checkpoint.close()


def run(ctx: Context) -> int:
    args = ctx.args
    if args.n < 1:
        raise CLIError(f"-n must be at least 1, got {args.n}", 2)
    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be at least 1, got {args.concurrency}", 2)
    output = Path(args.output)
    if args.input != "-" and output.resolve() == Path(args.input).resolve():
        raise CLIError("the output file is the input file: choose another -o")
    prompts = PromptSource(args.input, args.format, args.field, ctx.stdin)
    params = ctx.params()
    llm = ctx.llm(max_concurrent=args.concurrency)
    total = len(prompts)
    resumed = finished_in(output, total)
    if resumed:
        ctx.info(f"resuming: {resumed:,} of {total:,} prompts already done in {output}")

    ok = failed = 0
    first: tuple[int, BaseException] | None = None
    results = llm.iter_generate(
        prompts, args.system, args.n, output_jsonl=output, progress=args.progress, **params
    )
    try:
        for index, result in results:
            if isinstance(result, BaseException):
                failed += 1
                if first is None or index < first[0]:
                    first = (index, result)
            else:
                ok += 1
    except KeyboardInterrupt:
        raise CLIError(_interrupted(results, output, total), 130) from None

    ctx.info(f"{llm.model}: {total:,} prompts, {ok:,} ok, {failed:,} failed -> {output}")
    ctx.info(f"  {usage_text(llm.usage)}" + (f" (this run; {resumed:,} resumed)" if resumed else ""))
    metrics = getattr(llm, "metrics", None)  # a stand-in LLM from a test factory may have none
    for line in deployments_text(metrics()) if metrics is not None else ():
        ctx.info(f"  {line}")
    if first is not None:
        index, error = first
        ctx.info(
            f"  first failure, prompt {index}: {' '.join(describe(error).split())}\n"
            "  run the same command again to retry the failed prompts"
        )
        return 1
    return 0


def _interrupted(results: object, output: Path, total: int) -> str:
    """The message for Ctrl-C: the job is stopped first, then its saved work counted on disk (the
    items this loop consumed are fewer: some finished and were saved but not yet handed over)."""
    close = getattr(results, "close", None)
    if close is not None:
        close()  # already closed when the interrupt came mid-step; this makes it certain
    try:
        count = f"{finished_in(output, total):,}"
    except CheckpointLockedError:  # the job did not unwind in time and still holds the file
        count = "the"
    return (
        f"interrupted; {count} finished prompts are saved in {output}: run the same command again to resume"
    )
