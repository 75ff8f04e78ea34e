"""``llmp run``: a file of prompts as one big job, checkpointed so that a re-run resumes.

The output file is `LLM.generate`'s ``output_jsonl`` checkpoint: one JSON line per prompt,
``{"index", "request_hash", "outputs", "usage", "error"}``, in prompt order once the job ends.
Items are consumed as they finish (`iter_generate`), so neither the prompts nor the results of
a job of millions are held in memory.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmp._cli._context import Context
from llmp._cli._errors import CLIError, describe
from llmp._cli._inputs import PromptSource
from llmp._cli._summary import usage_text

__all__ = ["finished_before", "run"]


def finished_before(output: Path, total: int) -> int:
    """How many items an earlier run of this job already finished (they will not be re-sent)."""
    if not output.is_file():
        return 0
    done: set[int] = set()
    with output.open("rb") as f:
        for raw in f:
            try:
                record = json.loads(raw)
                index = int(record["index"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line: the job drops it on resume
            if record.get("outputs") is not None and 0 <= index < total:
                done.add(index)
    return len(done)


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
    resumed = finished_before(output, len(prompts))
    if resumed:
        ctx.info(f"resuming: {resumed:,} of {len(prompts):,} prompts already done in {output}")

    ok = failed = 0
    first: tuple[int, BaseException] | None = None
    try:
        for index, result in llm.iter_generate(
            prompts, args.system, args.n, output_jsonl=output, progress=args.progress, **params
        ):
            if isinstance(result, BaseException):
                failed += 1
                if first is None or index < first[0]:
                    first = (index, result)
            else:
                ok += 1
    except KeyboardInterrupt:
        raise CLIError(
            f"interrupted; {ok + resumed:,} finished prompts are saved in {output}: "
            "run the same command again to resume",
            130,
        ) from None

    ctx.info(f"{llm.model}: {len(prompts):,} prompts, {ok:,} ok, {failed:,} failed -> {output}")
    ctx.info(f"  {usage_text(llm.usage)}" + (f" (this run; {resumed:,} resumed)" if resumed else ""))
    if first is not None:
        index, error = first
        ctx.info(
            f"  first failure, prompt {index}: {' '.join(describe(error).split())}\n"
            "  run the same command again to retry the failed prompts"
        )
        return 1
    return 0
