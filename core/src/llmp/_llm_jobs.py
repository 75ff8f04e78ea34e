"""`LLM.generate` and `LLM.iter_generate` (and their async twins): many prompts as one job.

What comes back per prompt depends on the call, and the types say so (`@overload`), so user
code under ``mypy --strict`` needs no casts:

- plain: ``list[str]``, one text per sample;
- ``response_format=Model``: ``list[Model]``, one validated value per sample (a JSON-schema
  dict gives ``list[Any]``);
- ``rich=True``: the whole `Response` (tool calls, reasoning, refusals, usage, cost, ...).

With ``on_error="return"`` a failed prompt's place holds its `LLMPError` instead.

(Most of this module's length is those `@overload` signatures: they are the types users see.)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from llmp._call import CallSpec, build_spec
from llmp._checkpoint import Checkpoint
from llmp._jobs import OnError, check_prompts, generate_all, run_job
from llmp._runner import iterate_sync, run_sync
from llmp.errors import ConfigurationError, LLMPError
from llmp.types import ChatMessage, Response

if TYPE_CHECKING:
    from llmp._target import Target

__all__ = ["JobMethods", "Prompt"]

T = TypeVar("T")
#: One prompt: a string (one user message) or a whole conversation.
Prompt = str | Sequence[ChatMessage]
Prompts = str | Iterable[Prompt]
PathArg = str | os.PathLike[str] | None


def _checkpoint(output_jsonl: PathArg) -> Checkpoint | None:
    if output_jsonl is None:
        return None
    if not isinstance(output_jsonl, (str, os.PathLike)):
        raise ConfigurationError(
            f"output_jsonl must be a path (str or PathLike), got {type(output_jsonl).__name__}"
        )
    return Checkpoint(output_jsonl)


class JobMethods:
    _target: Target
    defaults: dict[str, Any]

    def _job_spec(self, method: str, params: Mapping[str, Any], **options: Any) -> CallSpec:
        if "stream" in params:
            raise ConfigurationError(
                f"{method}() does not stream: use stream() / stream_events(), or iter_generate()"
            )
        return build_spec(self.defaults, params, method=method, **options)

    # -- agenerate ---------------------------------------------------------------------------

    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[str]]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[T]]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: Mapping[str, Any],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[Any]]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Response]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[str] | LLMPError]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[T] | LLMPError]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Response | LLMPError]: ...
    @overload
    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: OnError = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Any]: ...

    async def agenerate(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        on_error: OnError = "raise",
        output_jsonl: PathArg = None,
        progress: bool | None = None,
        **params: Any,
    ) -> list[Any]:
        """Generate `n` samples for each prompt, in prompt order.

        Any iterable works, including a generator of millions of prompts: at most
        `max_concurrent` are in flight and in memory at once. A prompt is a string or a list of
        chat messages. Per prompt the result is ``list[str]`` (one text per sample), the
        validated values with `response_format`, or the whole `Response` with ``rich=True``.
        `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning` and `max_turns` are as in
        `LLM.acomplete`; with `tools` pass ``rich=True`` or ``max_turns``.

        When some prompts fail, ``on_error="raise"`` (default) raises `llmp.errors.GenerationError`
        carrying every finished result and every per-item error; ``on_error="return"`` puts the
        error in place of that prompt's result. ``output_jsonl=PATH`` checkpoints every finished
        item (rich results included) as it finishes; calling again with the same prompts resumes,
        never re-sending a finished prompt. ``progress`` shows a bar (default: only on a terminal).
        """
        if on_error not in ("raise", "return"):
            raise ConfigurationError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        spec = self._job_spec(
            "generate",
            params,
            n=n,
            rich=rich,
            system_prompt=system_prompt,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            reasoning=reasoning,
            max_turns=max_turns,
        )
        items = check_prompts(prompts, "generate")
        return await generate_all(
            self._target,
            items,
            spec,
            concurrency=self._target.concurrency,
            on_error=on_error,
            checkpoint=_checkpoint(output_jsonl),
            progress=progress,
        )

    # -- generate ----------------------------------------------------------------------------

    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[str]]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[T]]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: Mapping[str, Any],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[Any]]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["raise"] = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Response]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[str] | LLMPError]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[list[T] | LLMPError]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: Literal["return"],
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Response | LLMPError]: ...
    @overload
    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        on_error: OnError = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> list[Any]: ...

    def generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        on_error: OnError = "raise",
        output_jsonl: PathArg = None,
        progress: bool | None = None,
        **params: Any,
    ) -> list[Any]:
        """Synchronous `agenerate` (works in scripts, threads, Jupyter and running event loops)."""
        return run_sync(
            self.agenerate(
                prompts,
                system_prompt,
                n,
                rich=rich,
                response_format=response_format,
                tools=tools,
                tool_choice=tool_choice,
                parallel_tool_calls=parallel_tool_calls,
                reasoning=reasoning,
                max_turns=max_turns,
                on_error=on_error,
                output_jsonl=output_jsonl,
                progress=progress,
                **params,
            )
        )

    # -- iter_generate -----------------------------------------------------------------------

    @overload
    def aiter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> AsyncIterator[tuple[int, list[str] | LLMPError]]: ...
    @overload
    def aiter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> AsyncIterator[tuple[int, list[T] | LLMPError]]: ...
    @overload
    def aiter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> AsyncIterator[tuple[int, Response | LLMPError]]: ...
    @overload
    def aiter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> AsyncIterator[tuple[int, Any]]: ...

    def aiter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        output_jsonl: PathArg = None,
        progress: bool | None = None,
        **params: Any,
    ) -> AsyncIterator[tuple[int, Any]]:
        """Yield ``(index, result)`` as items finish (not in prompt order); a failed item yields
        its `LLMPError` in place of the result. Arguments as in `agenerate`. For writing results
        as they come; bad arguments raise here, at the call."""
        spec = self._job_spec(
            "iter_generate",
            params,
            n=n,
            rich=rich,
            system_prompt=system_prompt,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            reasoning=reasoning,
            max_turns=max_turns,
        )
        items = check_prompts(prompts, "iter_generate")
        return run_job(
            self._target,
            items,
            spec,
            concurrency=self._target.concurrency,
            checkpoint=_checkpoint(output_jsonl),
            progress=progress,
        )

    @overload
    def iter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> Iterator[tuple[int, list[str] | LLMPError]]: ...
    @overload
    def iter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> Iterator[tuple[int, list[T] | LLMPError]]: ...
    @overload
    def iter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> Iterator[tuple[int, Response | LLMPError]]: ...
    @overload
    def iter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        parallel_tool_calls: bool | None = ...,
        reasoning: Any = ...,
        max_turns: int | None = ...,
        output_jsonl: PathArg = ...,
        progress: bool | None = ...,
        **params: Any,
    ) -> Iterator[tuple[int, Any]]: ...

    def iter_generate(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        output_jsonl: PathArg = None,
        progress: bool | None = None,
        **params: Any,
    ) -> Iterator[tuple[int, Any]]:
        """Synchronous `aiter_generate`."""
        return iterate_sync(
            self.aiter_generate(
                prompts,
                system_prompt,
                n,
                rich=rich,
                response_format=response_format,
                tools=tools,
                tool_choice=tool_choice,
                parallel_tool_calls=parallel_tool_calls,
                reasoning=reasoning,
                max_turns=max_turns,
                output_jsonl=output_jsonl,
                progress=progress,
                **params,
            )
        )
