"""`LLMPredictor`: the callable class Ray Data runs in each actor of ``ds.map_batches(...)``.

One `llmp.LLM` per actor, built in ``__init__`` and kept for the actor's life, so its clients,
connections, adaptive windows and cache handle serve every batch. Each batch is one
`LLM.iter_generate` job (bounded window, cache lookups pipelined per window); the rows come
back in their order with the output columns of `_columns` added.

Nothing fails a batch but a missing column (a mistake in the job itself, raised before any
request): a row that fails carries its error in the ``error`` column, and an error that stops
the whole job (a bad setting, a missing API key, an unreachable cache) is carried by every row
it left unanswered, so a rerun with the setting fixed answers those rows and takes the others
from the cache. Errors in ``__init__`` are kept for the same reason: Ray does not restart an
actor whose constructor raised, and the job would end with nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmp._call import CallSpec, build_spec
from llmp._messages import to_messages
from llmp._ray._batches import num_rows, read_column, strip_nones, with_columns
from llmp._ray._columns import Layout
from llmp._ray._usage import JobCounter, check_job, redis_url_for
from llmp.errors import ConfigurationError, LLMPError
from llmp.types import Response

if TYPE_CHECKING:
    from llmp._llm import LLM
    from llmp._plugins import Registry

__all__ = ["LLMPredictor", "Settings"]

_log = logging.getLogger("llmp.ray")


@dataclass(slots=True)
class Settings:
    """`LLMPredictor`'s arguments, checked without building anything (the driver checks them
    before starting a job; each actor builds from them)."""

    model: Any
    prompt_column: str | None = "prompt"
    messages_column: str | None = None
    system_prompt: str | None = None
    n: int = 1
    rich: bool = False
    response_format: Any = None
    tools: Sequence[Any] | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    reasoning: Any = None
    max_turns: int | None = None
    cache: Any = True
    max_concurrent: int = 32
    llm_options: Mapping[str, Any] | None = None
    registry_factory: Callable[[], Registry] | None = None
    job: str | None = None
    redis_url: str | None = None
    output_prefix: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> tuple[str, str]:
        """(the input column, the argument that named it)."""
        if self.messages_column is not None:
            return self.messages_column, "messages_column"
        assert self.prompt_column is not None  # check() makes sure of it
        return self.prompt_column, "prompt_column"

    def spec(self, *, rich: bool) -> CallSpec:
        return build_spec(
            {},
            self.params,
            method="llmp.ray",
            n=self.n,
            rich=rich,
            system_prompt=self.system_prompt,
            tools=self.tools,
            tool_choice=self.tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=self.response_format,
            reasoning=self.reasoning,
            max_turns=self.max_turns,
        )

    def check(self) -> CallSpec:
        """Every argument checked (ConfigurationError naming the bad one); the spec of the call
        as the user asked for it (its mode says what a row's outputs are)."""
        if self.messages_column is not None and self.prompt_column not in (None, "prompt"):
            raise ConfigurationError(
                "pass prompt_column= (strings) or messages_column= (chat message lists), not both"
            )
        for name in ("prompt_column", "messages_column"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{name} must be a column name (a non-empty string), got {value!r}")
        if self.messages_column is None and self.prompt_column is None:
            raise ConfigurationError("name the input column: prompt_column= or messages_column=")
        if not isinstance(self.rich, bool):
            raise ConfigurationError(f"rich must be True or False, got {self.rich!r}")
        if not isinstance(self.output_prefix, str):
            raise ConfigurationError(f"output_prefix must be a string, got {self.output_prefix!r}")
        if self.registry_factory is not None and not callable(self.registry_factory):
            raise ConfigurationError("registry_factory must be a function returning an llmp Registry")
        if self.llm_options is not None and not isinstance(self.llm_options, Mapping):
            raise ConfigurationError(
                f"llm_options must be a dict of LLM(...) arguments, got {self.llm_options!r}"
            )
        taken = {"model", "cache", "max_concurrent", "registry", "redis_url"} & set(self.llm_options or ())
        if taken:
            raise ConfigurationError(
                f"llm_options must not hold {', '.join(sorted(taken))}: pass them as arguments of their own "
                "(registry as registry_factory=)"
            )
        mc = self.max_concurrent
        if isinstance(mc, bool) or not isinstance(mc, int) or mc < 1:
            raise ConfigurationError(f"max_concurrent must be a positive integer (per actor), got {mc!r}")
        if "stream" in self.params:
            raise ConfigurationError("llmp.ray does not stream: drop stream=")
        check_job(self.job)
        if self.job is not None:
            redis_url_for(self.redis_url, cache=self.cache, required=f"job={self.job!r}")
        return self.spec(rich=self.rich)

    def layout(self) -> Layout:
        """The output columns (as far as they can be told from settings that may be bad)."""
        n = self.n if isinstance(self.n, int) and not isinstance(self.n, bool) and self.n > 0 else 1
        return Layout(
            rich=self.rich is True,
            parsed=self.response_format is not None,
            n=n,
            prefix=self.output_prefix if isinstance(self.output_prefix, str) else "",
        )

    def build_llm(self) -> LLM:
        from llmp._llm import LLM

        registry = self.registry_factory() if self.registry_factory is not None else None
        options = dict(self.llm_options or {})
        if self.redis_url is not None:  # else LLM reads LLMP_REDIS_URL itself
            options["redis_url"] = self.redis_url
        return LLM(
            self.model,
            cache=self.cache,
            max_concurrent=self.max_concurrent,
            registry=registry,
            **options,
        )


class LLMPredictor:
    """Answer a prompt column with one `llmp.LLM` per Ray actor: for ``ds.map_batches``.

    ```python
    ds = ds.map_batches(
        llmp.ray.LLMPredictor,
        fn_constructor_kwargs={"model": "gpt-4.1-mini", "prompt_column": "question", "temperature": 0},
        batch_format="pyarrow",       # any format works; pyarrow keeps the column types
        batch_size=256,
        compute=ray.data.ActorPoolStrategy(size=2),
    )
    ```

    `llmp.ray.generate` does exactly this. Each batch comes back with the output columns added
    (see `llmp.ray.generate` for them); a row that fails carries its error in ``error``.

    Args:
        model: A model name, or a list of deployments, as `llmp.LLM` takes.
        prompt_column: The column of prompt strings (default ``"prompt"``).
        messages_column: Instead, a column of chat message lists (OpenAI's shape).
        system_prompt: As in `LLM.generate`, like `n`, `response_format`, `tools`,
            `tool_choice`, `parallel_tool_calls`, `reasoning` and `max_turns`.
        rich: Output the whole answer (tool calls, reasoning, refusal, finish reason,
            deployment), not only its text or parsed value.
        cache: As in `llmp.LLM`: True (``LLMP_CACHE_URL``, else the machine's SQLite cache), a
            ``redis://`` URL (what a cluster wants: every actor on every machine shares it, and a
            batch Ray retries pays nothing again), a directory or False.
        max_concurrent: Requests in flight per actor.
        llm_options: Other `llmp.LLM` arguments (``max_retries``, ``timeout``, ``base_url``,
            ``strategy``, ``max_cost`` (per actor), ...).
        registry_factory: A picklable function building the plugin registry inside the actor
            (tests, custom plugins); default the installed plugins.
        job: A name under which actors add their usage to Redis as they go (`job_usage` reads
            it); needs a Redis (`redis_url`).
        redis_url: The job's Redis: it makes ``LLMP_GLOBAL_CONCURRENCY`` and rpm/tpm limits
            cluster-wide (as `llmp.LLM`'s `redis_url`) and keeps `job`'s usage. Default
            ``LLMP_REDIS_URL``; for `job` alone, the Redis cache (`cache` or ``LLMP_CACHE_URL``).
        output_prefix: Put before every output column's name (when the input has a ``text``
            column, say).
        **params: Generation parameters (``temperature``, ``max_tokens``, ...).
    """

    def __init__(
        self,
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
        **params: Any,
    ) -> None:
        self.settings = Settings(
            model=model,
            prompt_column=prompt_column,
            messages_column=messages_column,
            system_prompt=system_prompt,
            n=n,
            rich=rich,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            reasoning=reasoning,
            max_turns=max_turns,
            cache=cache,
            max_concurrent=max_concurrent,
            llm_options=llm_options,
            registry_factory=registry_factory,
            job=job,
            redis_url=redis_url,
            output_prefix=output_prefix,
            params=params,
        )
        self.llm: LLM | None = None
        self._counter: JobCounter | None = None
        self._layout = self.settings.layout()
        self._spec: CallSpec | None = None
        #: What stops every row from being answered (a bad setting), if anything.
        self.fatal: BaseException | None = None
        try:
            settings = self.settings
            self._spec = settings.check()
            self.llm = settings.build_llm()
            if settings.job is not None:
                url = redis_url_for(
                    settings.redis_url, cache=settings.cache, required=f"job={settings.job!r}"
                )
                assert url is not None
                self._counter = JobCounter(url, settings.job)
        except Exception as exc:  # see the module docstring: every row carries it
            _log.error("llmp.ray: cannot answer any row: %s: %s", type(exc).__name__, exc)
            self.fatal = exc

    def __repr__(self) -> str:
        return f"LLMPredictor({self.settings.model!r}, column={self.settings.column[0]!r})"

    @property
    def columns(self) -> list[str]:
        """The names of the columns this adds to each batch."""
        return self._layout.columns

    def __call__(self, batch: Any) -> Any:
        name, argument = self.settings.column
        column = read_column(batch, name, argument)
        layout, values = self._layout, self._layout.empty()
        results: dict[int, Response | BaseException] = {}
        fatal = self.fatal
        if fatal is None:
            rows: list[int] = []
            prompts: list[Any] = []
            for row, value in enumerate(column):
                try:
                    prompts.append(self._prompt(value, row, argument))
                    rows.append(row)
                except ConfigurationError as error:
                    results[row] = error
            fatal = self._answer(prompts, rows, results)
        for row in range(num_rows(batch)):
            result = results.get(row, fatal)
            if not isinstance(result, Response):  # its error, or what stopped the batch
                layout.add_error(values, result or RuntimeError("no answer"))
                continue
            try:
                outputs = self._outputs(result)
            except LLMPError as error:  # what generate() would raise for it (a refusal, say)
                layout.add_error(values, error)
                continue
            layout.add_response(values, result, outputs)
        if self._counter is not None and self.llm is not None:
            errors = sum(1 for error in values["error"] if error is not None)
            self._counter.report(self.llm.usage, rows=len(column), errors=errors)
        return with_columns(batch, layout.arrays(values))

    def _outputs(self, response: Response) -> list[Any] | None:
        spec, llm = self._spec, self.llm
        assert spec is not None
        assert llm is not None
        if spec.mode == "rich":
            return None
        outputs: list[Any] = spec.outputs(response, response.provider or llm.provider)
        return outputs

    def _prompt(self, value: Any, row: int, argument: str) -> Any:
        where = f"row {row} of {argument}"
        if self.settings.messages_column is not None:
            if not isinstance(value, list) or not value:
                raise ConfigurationError(
                    f"{where} is {value!r}: it must be a non-empty list of chat messages"
                )
            value = strip_nones(value)
        elif not isinstance(value, str):
            raise ConfigurationError(f"{where} is {type(value).__name__}, not a prompt string")
        to_messages(value, None, where)
        return value

    def _answer(
        self, prompts: list[Any], rows: list[int], results: dict[int, Response | BaseException]
    ) -> BaseException | None:
        """Answer `prompts` (rows `rows`) into `results`; the error that stopped the job, if any."""
        if not prompts:
            return None
        settings, llm = self.settings, self.llm
        assert llm is not None
        try:
            for index, result in llm.iter_generate(
                prompts,
                settings.system_prompt,
                settings.n,
                rich=True,
                tools=settings.tools,
                tool_choice=settings.tool_choice,
                parallel_tool_calls=settings.parallel_tool_calls,
                response_format=settings.response_format,
                reasoning=settings.reasoning,
                max_turns=settings.max_turns,
                progress=False,
                **settings.params,
            ):
                results[rows[index]] = result
        except Exception as exc:  # the job stopped: rows not answered carry why
            _log.error("llmp.ray: a batch stopped: %s: %s", type(exc).__name__, exc)
            return exc
        return None

    def close(self) -> None:
        """Release the actor's LLM (its connections) and Redis client."""
        if self.llm is not None:
            self.llm.close()
        if self._counter is not None:
            self._counter.close()
