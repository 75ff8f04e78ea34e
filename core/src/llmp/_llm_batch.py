"""`LLM.batch` and friends: the provider's batch API (half price, results within 24 h).

Results come back like `LLM.generate`'s (texts, validated values with `response_format`, or
`Response` objects with ``rich=True``), typed with `@overload` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from llmp._batch import BatchRunner
from llmp._call import CallSpec, build_spec
from llmp._jobs import OnError
from llmp._llm_jobs import Prompts
from llmp._runner import run_sync
from llmp.errors import ConfigurationError, LLMPError
from llmp.types import BatchStatus, Response

if TYPE_CHECKING:
    from llmp._engine import Engine

__all__ = ["BatchMethods"]

T = TypeVar("T")


class BatchMethods:
    _engine: Engine
    defaults: dict[str, Any]

    @property
    def _batches(self) -> BatchRunner:
        return BatchRunner(self._engine)

    def _batch_spec(self, method: str, params: Mapping[str, Any], **options: Any) -> CallSpec:
        return build_spec(self.defaults, params, method=method, **options)

    def _output_spec(self, rich: bool, response_format: Any) -> CallSpec:
        return build_spec({}, {}, method="batch_retrieve", rich=rich, response_format=response_format)

    # -- submit / status / cancel ------------------------------------------------------------

    async def abatch_submit(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        reasoning: Any = None,
        **params: Any,
    ) -> str:
        """Submit prompts to the provider's batch API (half price, results within 24 h).

        Returns a self-contained id, ``"<provider>:<count>:<provider id>"``, that any process
        with an `LLM` of the same provider can pass to `batch_status` / `batch_retrieve`.
        Requests may carry an output schema, tools and a reasoning setting, as in `generate`.
        """
        # What results look like is chosen at retrieve; here only the requests matter.
        spec = self._batch_spec(
            "batch_submit",
            params,
            n=n,
            rich=True,
            system_prompt=system_prompt,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            reasoning=reasoning,
        )
        return await self._batches.submit(prompts, spec)

    def batch_submit(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        reasoning: Any = None,
        **params: Any,
    ) -> str:
        """Synchronous `abatch_submit`."""
        return run_sync(
            self.abatch_submit(
                prompts,
                system_prompt,
                n,
                response_format=response_format,
                tools=tools,
                tool_choice=tool_choice,
                reasoning=reasoning,
                **params,
            )
        )

    async def abatch_status(self, batch_id: str) -> BatchStatus:
        """Where the batch is: ``status.status`` (``"in_progress"``, ``"completed"``, ...),
        ``status.completed`` / ``failed`` / ``total`` request counts, ``status.done``."""
        return await self._batches.status(batch_id)

    def batch_status(self, batch_id: str) -> BatchStatus:
        """Synchronous `abatch_status`."""
        return run_sync(self.abatch_status(batch_id))

    async def abatch_cancel(self, batch_id: str) -> BatchStatus:
        """Ask the provider to cancel the batch; its status afterwards."""
        return await self._batches.cancel(batch_id)

    def batch_cancel(self, batch_id: str) -> BatchStatus:
        """Synchronous `abatch_cancel`."""
        return run_sync(self.abatch_cancel(batch_id))

    # -- retrieve ----------------------------------------------------------------------------

    @overload
    async def abatch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        on_error: Literal["raise"] = ...,
    ) -> list[list[str]] | None: ...
    @overload
    async def abatch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        on_error: Literal["raise"] = ...,
    ) -> list[list[T]] | None: ...
    @overload
    async def abatch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        on_error: Literal["raise"] = ...,
    ) -> list[Response] | None: ...
    @overload
    async def abatch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        on_error: Literal["return"],
    ) -> list[list[str] | LLMPError] | None: ...
    @overload
    async def abatch_retrieve(
        self, batch_id: str, *, rich: bool = ..., response_format: Any = ..., on_error: OnError = ...
    ) -> list[Any] | None: ...

    async def abatch_retrieve(
        self, batch_id: str, *, rich: bool = False, response_format: Any = None, on_error: OnError = "raise"
    ) -> list[Any] | None:
        """The results in prompt order (like `generate`: pass the same `response_format` /
        `rich`), or None while the batch is running. Usage is counted at batch prices and every
        answer is written to the cache."""
        if on_error not in ("raise", "return"):
            raise ConfigurationError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        return await self._batches.retrieve(batch_id, self._output_spec(rich, response_format), on_error)

    @overload
    def batch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        on_error: Literal["raise"] = ...,
    ) -> list[list[str]] | None: ...
    @overload
    def batch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        on_error: Literal["raise"] = ...,
    ) -> list[list[T]] | None: ...
    @overload
    def batch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        on_error: Literal["raise"] = ...,
    ) -> list[Response] | None: ...
    @overload
    def batch_retrieve(
        self,
        batch_id: str,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        on_error: Literal["return"],
    ) -> list[list[str] | LLMPError] | None: ...
    @overload
    def batch_retrieve(
        self, batch_id: str, *, rich: bool = ..., response_format: Any = ..., on_error: OnError = ...
    ) -> list[Any] | None: ...

    def batch_retrieve(
        self, batch_id: str, *, rich: bool = False, response_format: Any = None, on_error: OnError = "raise"
    ) -> list[Any] | None:
        """Synchronous `abatch_retrieve`."""
        return run_sync(
            self.abatch_retrieve(batch_id, rich=rich, response_format=response_format, on_error=on_error)
        )

    # -- submit, wait, retrieve --------------------------------------------------------------

    @overload
    async def abatch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: None = ...,
        tool_choice: None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[list[str]]: ...
    @overload
    async def abatch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: None = ...,
        tool_choice: None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[list[T]]: ...
    @overload
    async def abatch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[Response]: ...
    @overload
    async def abatch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: OnError = ...,
        **params: Any,
    ) -> list[Any]: ...

    async def abatch(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        reasoning: Any = None,
        poll_interval: float = 60.0,
        on_error: OnError = "raise",
        **params: Any,
    ) -> list[Any]:
        """Submit, wait (polling every `poll_interval` seconds), and return results like `generate`."""
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or poll_interval <= 0
        ):
            raise ConfigurationError(f"poll_interval must be positive seconds, got {poll_interval!r}")
        if on_error not in ("raise", "return"):
            raise ConfigurationError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        spec = self._batch_spec(
            "batch",
            params,
            n=n,
            rich=rich,
            system_prompt=system_prompt,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            reasoning=reasoning,
        )
        return await self._batches.run(prompts, spec, float(poll_interval), on_error)

    @overload
    def batch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: None = ...,
        tools: None = ...,
        tool_choice: None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[list[str]]: ...
    @overload
    def batch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[False] = ...,
        response_format: type[T],
        tools: None = ...,
        tool_choice: None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[list[T]]: ...
    @overload
    def batch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: Literal[True],
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: Literal["raise"] = ...,
        **params: Any,
    ) -> list[Response]: ...
    @overload
    def batch(
        self,
        prompts: Prompts,
        system_prompt: str | None = ...,
        n: int = ...,
        *,
        rich: bool = ...,
        response_format: Any = ...,
        tools: Sequence[Any] | None = ...,
        tool_choice: str | None = ...,
        reasoning: Any = ...,
        poll_interval: float = ...,
        on_error: OnError = ...,
        **params: Any,
    ) -> list[Any]: ...

    def batch(
        self,
        prompts: Prompts,
        system_prompt: str | None = None,
        n: int = 1,
        *,
        rich: bool = False,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        reasoning: Any = None,
        poll_interval: float = 60.0,
        on_error: OnError = "raise",
        **params: Any,
    ) -> list[Any]:
        """Synchronous `abatch`."""
        return run_sync(
            self.abatch(
                prompts,
                system_prompt,
                n,
                rich=rich,
                response_format=response_format,
                tools=tools,
                tool_choice=tool_choice,
                reasoning=reasoning,
                poll_interval=poll_interval,
                on_error=on_error,
                **params,
            )
        )
