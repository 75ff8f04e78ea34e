"""`generate(ds, model, ...)`: `LLMPredictor` over a Ray Dataset, checked before any request.

The driver checks every argument and the columns (the input column exists, no output column
would overwrite an input one) and reaches the job's Redis once, so bad input fails here with an
error naming it rather than in every actor. Ray is imported only here, when a job is started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmp._ray._columns import USAGE_COLUMNS
from llmp._ray._predictor import LLMPredictor, Settings
from llmp._ray._usage import JobUsage, check_redis, read_job, redis_url_for, sum_columns
from llmp.errors import ConfigurationError

if TYPE_CHECKING:
    from llmp._plugins import Registry

__all__ = ["generate", "job_usage", "usage"]

DEFAULT_BATCH_SIZE = 256


def _dataset_columns(ds: Any) -> list[str]:
    columns = getattr(ds, "columns", None)
    if not callable(columns):
        raise ConfigurationError(f"ds must be a ray.data.Dataset, got {type(ds).__name__}")
    names = columns()
    return list(names or ())


def _check_columns(settings: Settings, names: list[str]) -> None:
    column, argument = settings.column
    if column not in names:
        raise ConfigurationError(
            f"{argument}={column!r} is not a column of the dataset; its columns are: "
            f"{', '.join(map(repr, names)) or '(none)'}"
        )
    clash = [name for name in settings.layout().columns if name in names]
    if clash:
        raise ConfigurationError(
            f"the dataset already has column(s) {', '.join(map(repr, clash))} that llmp.ray would add: "
            "pass output_prefix='llm_' (or any prefix), or drop or rename them"
        )


def _compute(concurrency: int | tuple[int, int]) -> Any:
    from ray.data import ActorPoolStrategy

    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > 0:
        return ActorPoolStrategy(size=concurrency)
    if (
        isinstance(concurrency, tuple)
        and len(concurrency) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in concurrency)
        and 0 < concurrency[0] <= concurrency[1]
    ):
        return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    raise ConfigurationError(
        f"concurrency must be a number of actors (a positive integer) or (min, max), got {concurrency!r}"
    )


def generate(
    ds: Any,
    model: Any,
    *,
    prompt_column: str | None = "prompt",
    messages_column: str | None = None,
    system_prompt: str | None = None,
    n: int = 1,
    rich: bool = False,
    response_format: Any = None,
    tools: Sequence[Any] | None = None,
    tool_choice: str | None = None,
    parallel_tool_calls: bool | None = None,
    reasoning: Any = None,
    max_turns: int | None = None,
    cache: Any = True,
    max_concurrent: int = 32,
    llm_options: Mapping[str, Any] | None = None,
    registry_factory: Callable[[], Registry] | None = None,
    job: str | None = None,
    redis_url: str | None = None,
    output_prefix: str = "",
    concurrency: int | tuple[int, int] = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ray_remote_args: Mapping[str, Any] | None = None,
    **params: Any,
) -> Any:
    """Answer every row of the Ray Dataset `ds` with `model`: the rows, output columns added.

    ```python
    ds = ray.data.read_parquet("questions.parquet")
    out = llmp.ray.generate(ds, "gpt-4.1-mini", prompt_column="question", cache="redis://cache:6379/0",
                            job="questions-v1", concurrency=8, temperature=0)
    out.write_parquet("answers/")
    ```

    Lazy, like every Dataset transformation: nothing is sent until the result is consumed
    (written, iterated, materialized). Each of `concurrency` actors keeps one `llmp.LLM` for
    all its batches of `batch_size` rows. The arguments from `prompt_column` to `output_prefix`
    are `LLMPredictor`'s. Columns added (`output_prefix` before each name):

    - ``text``, or ``parsed`` with a `response_format` (JSON-able values: a pydantic model as
      its ``model_dump(mode="json")``); with ``rich=True`` all of ``text``, ``reasoning``,
      ``refusal``, ``tool_calls`` (``id``, ``name``, ``arguments``), ``parsed`` (with a
      `response_format`), ``finish_reason`` and ``deployment``. With ``n > 1`` each holds a
      list of n values.
    - ``input_tokens``, ``cached_input_tokens``, ``output_tokens``, ``reasoning_tokens``,
      ``cost`` (US dollars; null when the price is unknown), ``cached`` (from the cache, free).
    - ``error``: null, or ``"ErrorType: message"`` for a row that failed, which keeps the
      others; an error that stops the whole job (a bad setting in the actors, a missing key)
      is in every row it left unanswered.

    Args:
        ds: A ``ray.data.Dataset``.
        concurrency: Actors (or ``(min, max)`` for an autoscaling pool).
        batch_size: Rows per batch; a batch is one llmp job of up to `max_concurrent`
            requests in flight, so keep it several times larger than that.
        ray_remote_args: More ``map_batches`` arguments: ``num_cpus`` per actor,
            ``max_restarts``, ``max_task_retries``, ``runtime_env`` (environment variables such
            as ``LLMP_GLOBAL_CONCURRENCY`` / ``LLMP_REDIS_URL`` for the actors), ...

    Raises:
        ConfigurationError: a bad argument, a column the dataset does not have (naming the
            columns it has), an output column it already has, an unreachable Redis for `job`;
            all before any request.
    """
    options: dict[str, Any] = {
        "prompt_column": prompt_column,
        "messages_column": messages_column,
        "system_prompt": system_prompt,
        "n": n,
        "rich": rich,
        "response_format": response_format,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "reasoning": reasoning,
        "max_turns": max_turns,
        "cache": cache,
        "max_concurrent": max_concurrent,
        "llm_options": llm_options,
        "registry_factory": registry_factory,
        "job": job,
        "redis_url": redis_url,
        "output_prefix": output_prefix,
    }
    settings = Settings(model, **options, params=dict(params))
    settings.check()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(
            f"batch_size must be a positive integer (rows per batch), got {batch_size!r}"
        )
    if ray_remote_args is not None and not isinstance(ray_remote_args, Mapping):
        raise ConfigurationError(
            f"ray_remote_args must be a dict of map_batches arguments, got {ray_remote_args!r}"
        )
    _check_columns(settings, _dataset_columns(ds))
    # Resolved here, so that actors on machines without the driver's environment use it too.
    options["redis_url"] = redis_url_for(redis_url)
    if job is not None:
        url = redis_url_for(redis_url, cache=cache, required=f"job={job!r}")
        assert url is not None
        check_redis(url)
    compute = _compute(concurrency)
    return ds.map_batches(
        LLMPredictor,
        fn_constructor_args=(model,),
        fn_constructor_kwargs={**options, **params},
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=compute,
        **dict(ray_remote_args or {}),
    )


def usage(ds: Any, *, output_prefix: str = "") -> JobUsage:
    """The usage columns of a generated Dataset added up: rows, errors, cache hits, the tokens
    and cost of rows not served from the cache (`JobUsage.requests` counts those rows).

    Reads `ds` once: call it on a materialized Dataset (``ds.materialize()``) or one read back
    from the written output, or it runs the job again (from the cache, but still).
    """
    names = [output_prefix + name for name in (*USAGE_COLUMNS, "error")]
    missing = [name for name in names if name not in _dataset_columns(ds)]
    if missing:
        raise ConfigurationError(
            f"ds has no column(s) {', '.join(map(repr, missing))}: pass a Dataset llmp.ray.generate "
            "produced (and its output_prefix)"
        )
    from ray.data.dataset import MaterializedDataset

    # A materialized Dataset's blocks are read as they are; selecting the columns first would
    # start a task per block. Elsewhere it lets a reader (Parquet) read only those columns.
    source = ds if isinstance(ds, MaterializedDataset) else ds.select_columns(names)
    return sum_columns(source.iter_batches(batch_format="pyarrow", batch_size=None), output_prefix)


def job_usage(job: str, *, redis_url: str | None = None) -> JobUsage:
    """What the actors of `job` have reported so far (live, from any machine): see `generate`'s
    `job`. Batches still running are not in it yet; a rerun under the same name adds to it."""
    if not isinstance(job, str) or not job:
        raise ConfigurationError(f"job must be the job's name (a non-empty string), got {job!r}")
    url = redis_url_for(redis_url, required="job_usage()")
    assert url is not None
    return read_job(url, job)
