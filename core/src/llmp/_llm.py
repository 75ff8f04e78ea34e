"""`llmp.LLM`: the one call shape for every provider."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from llmp._batch import BatchRunner
from llmp._cache import DiskCache, shared_cache
from llmp._checkpoint import Checkpoint
from llmp._engine import Engine
from llmp._global_slots import global_slots_from_env
from llmp._jobs import ItemResult, OnError, generate_all, run_job, to_messages
from llmp._keys import key_pool
from llmp._plugins import Registry, default_registry
from llmp._retry import RetryPolicy
from llmp._runner import iterate_sync, run_sync
from llmp._usage import UsageStats
from llmp.types import ChatMessage

__all__ = ["LLM"]

DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 6


class LLM:
    """A model, ready to generate.

    >>> llm = LLM("gpt-4.1-mini")
    >>> llm.generate(["What is 2+2?", "Name a color."])   # [["4"], ["Blue"]]

    `max_concurrent` bounds the requests this instance has in flight (the adaptive window shrinks
    below it on 429s). `cache` is True (the shared disk cache under ``LLMP_CACHE_DIR``), False,
    or a directory. `base_url` and `api_key` override the route's defaults and environment.
    Any other keyword (``temperature=0``, ``max_tokens=256``, ...) becomes a default generation
    parameter for every call.
    """

    def __init__(
        self,
        model: str,
        *,
        max_concurrent: int = 32,
        cache: bool | str | os.PathLike[str] | DiskCache = True,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = DEFAULT_TIMEOUT,
        base_url: str | None = None,
        api_key: str | None = None,
        registry: Registry | None = None,
        **defaults: Any,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string like 'gpt-4.1-mini', got {model!r}")
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ValueError(f"max_concurrent must be a positive integer, got {max_concurrent!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        _check_params(defaults)
        self.model = model
        self.max_concurrent = max_concurrent
        self.defaults = defaults
        self.usage = UsageStats()
        registry = registry or default_registry()
        resolved = registry.resolve(model)
        route = resolved.route
        if base_url is None and route.base_url_env:
            base_url = os.environ.get(route.base_url_env) or None
        base_url = (base_url or route.base_url or "").rstrip("/") or None
        self.provider = route.provider
        self._engine = Engine(
            registry,
            resolved,
            base_url=base_url,
            keys=key_pool(route.provider, route.key_env, api_key),
            max_concurrent=max_concurrent,
            cache=_open_cache(cache),
            retry=RetryPolicy(max_retries=max_retries),
            timeout=timeout,
            stats=self.usage,
            global_slots=global_slots_from_env(),
        )
        self._batches = BatchRunner(self._engine)

    def __repr__(self) -> str:
        return f"LLM({self.model!r}, provider={self.provider!r}, max_concurrent={self.max_concurrent})"

    # -- usage -------------------------------------------------------------------------------

    @property
    def total_input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def total_cached_tokens(self) -> int:
        return self.usage.cached_input_tokens

    @property
    def total_output_tokens(self) -> int:
        return self.usage.output_tokens

    @property
    def total_cost(self) -> float | None:
        """US dollars spent by this instance; None if any model's price is unknown."""
        return self.usage.cost

    # -- generate ----------------------------------------------------------------------------

    async def agenerate(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        on_error: OnError = "raise",
        output_jsonl: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        **params: Any,
    ) -> list[list[str]] | list[ItemResult]:
        """Generate `n` samples for each prompt, in prompt order.

        Any iterable works, including a generator of millions of prompts: at most
        `max_concurrent` are in flight and in memory at once. When some prompts fail,
        ``on_error="raise"`` (default) raises `llmp.errors.GenerationError` carrying every
        finished result and every per-item error; ``on_error="return"`` puts the exception in
        place of that prompt's list.

        ``output_jsonl=PATH`` checkpoints every finished item as it finishes; calling again with
        the same prompts resumes, never re-sending a finished prompt. ``progress`` shows a bar
        (default: only on a terminal).
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        _check_n(n)
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        return await generate_all(
            self._engine,
            prompts,
            system_prompt=system_prompt,
            n=n,
            params=self._params(params),
            concurrency=self.max_concurrent,
            on_error=on_error,
            checkpoint=Checkpoint(output_jsonl) if output_jsonl is not None else None,
            progress=progress,
        )

    def generate(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        on_error: OnError = "raise",
        output_jsonl: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        **params: Any,
    ) -> list[list[str]] | list[ItemResult]:
        """Synchronous `agenerate`; works inside Jupyter and other running event loops."""
        return run_sync(
            self.agenerate(
                prompts,
                system_prompt,
                n,
                on_error=on_error,
                output_jsonl=output_jsonl,
                progress=progress,
                **params,
            )
        )

    def aiter_generate(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        output_jsonl: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        **params: Any,
    ) -> AsyncIterator[tuple[int, ItemResult]]:
        """Yield ``(index, outputs)`` as items finish (not in prompt order); a failed item
        yields its exception in place of the outputs. For writing results as they come."""
        if isinstance(prompts, str):
            prompts = [prompts]
        _check_n(n)
        return run_job(
            self._engine,
            prompts,
            system_prompt=system_prompt,
            n=n,
            params=self._params(params),
            concurrency=self.max_concurrent,
            checkpoint=Checkpoint(output_jsonl) if output_jsonl is not None else None,
            progress=progress,
        )

    def iter_generate(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        output_jsonl: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        **params: Any,
    ) -> Iterator[tuple[int, ItemResult]]:
        """Synchronous `aiter_generate`."""
        return iterate_sync(
            self.aiter_generate(
                prompts, system_prompt, n, output_jsonl=output_jsonl, progress=progress, **params
            )
        )

    # -- provider batch APIs ----------------------------------------------------------------

    async def abatch_submit(
        self, prompts: str | Iterable[str], system_prompt: str | None = None, n: int = 1, **params: Any
    ) -> str:
        """Submit prompts to the provider's batch API (half price, results within 24 h).

        Returns a self-contained id, ``"<provider>:<count>:<provider id>"``, that any process
        with an `LLM` of the same provider can pass to `batch_status` / `batch_retrieve`.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        _check_n(n)
        return await self._batches.submit(prompts, system_prompt, n, self._params(params))

    def batch_submit(
        self, prompts: str | Iterable[str], system_prompt: str | None = None, n: int = 1, **params: Any
    ) -> str:
        return run_sync(self.abatch_submit(prompts, system_prompt, n, **params))

    async def abatch_status(self, batch_id: str) -> dict[str, Any]:
        """``{"status": "in_progress", "counts": {"completed": 1, "failed": 0, "total": 2}, ...}``."""
        return await self._batches.status(batch_id)

    def batch_status(self, batch_id: str) -> dict[str, Any]:
        return run_sync(self.abatch_status(batch_id))

    async def abatch_retrieve(self, batch_id: str, *, on_error: OnError = "raise") -> list[Any] | None:
        """The results in prompt order (like `generate`), or None while the batch is running.
        Usage is counted at batch prices and every answer is written to the cache."""
        return await self._batches.retrieve(batch_id, on_error)

    def batch_retrieve(self, batch_id: str, *, on_error: OnError = "raise") -> list[Any] | None:
        return run_sync(self.abatch_retrieve(batch_id, on_error=on_error))

    async def abatch_cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._batches.cancel(batch_id)

    def batch_cancel(self, batch_id: str) -> dict[str, Any]:
        return run_sync(self.abatch_cancel(batch_id))

    async def abatch(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        poll_interval: float = 60.0,
        on_error: OnError = "raise",
        **params: Any,
    ) -> list[Any]:
        """Submit, wait (polling every `poll_interval` seconds), and return results like `generate`."""
        if isinstance(prompts, str):
            prompts = [prompts]
        _check_n(n)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}")
        return await self._batches.run(
            prompts, system_prompt, n, self._params(params), poll_interval, on_error
        )

    def batch(
        self,
        prompts: str | Iterable[str],
        system_prompt: str | None = None,
        n: int = 1,
        *,
        poll_interval: float = 60.0,
        on_error: OnError = "raise",
        **params: Any,
    ) -> list[Any]:
        return run_sync(
            self.abatch(prompts, system_prompt, n, poll_interval=poll_interval, on_error=on_error, **params)
        )

    # -- chat --------------------------------------------------------------------------------

    async def achat(
        self, messages: str | Sequence[ChatMessage], system_prompt: str | None = None, **params: Any
    ) -> str:
        """One reply to a conversation (a string is one user message)."""
        request = self._engine.request(_to_chat(messages, system_prompt), 1, self._params(params))
        response = await self._engine.complete(request)
        return response.texts[0]

    def chat(
        self, messages: str | Sequence[ChatMessage], system_prompt: str | None = None, **params: Any
    ) -> str:
        return run_sync(self.achat(messages, system_prompt, **params))

    def astream(
        self, messages: str | Sequence[ChatMessage], system_prompt: str | None = None, **params: Any
    ) -> AsyncIterator[str]:
        """Yield the reply's text as it arrives (from the cache: all at once).

        Bad arguments raise here, at the call; the request is sent when iteration starts.
        """
        request = self._engine.request(_to_chat(messages, system_prompt), 1, self._params(params))
        return self._engine.stream(request)

    def stream(
        self, messages: str | Sequence[ChatMessage], system_prompt: str | None = None, **params: Any
    ) -> Iterator[str]:
        return iterate_sync(self.astream(messages, system_prompt, **params))

    # -- helpers -----------------------------------------------------------------------------

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params:
            return self.defaults
        _check_params(params)
        return {**self.defaults, **params}


_RESERVED = {"model", "messages", "stream", "n"}


def _check_params(params: dict[str, Any]) -> None:
    bad = _RESERVED & params.keys()
    if bad:
        raise ValueError(
            f"{', '.join(sorted(bad))} cannot be a generation parameter here: pass the model to "
            "LLM(...), prompts/messages and n to the call, and use stream()/astream() to stream."
        )


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (samples per prompt), got {n!r}")


def _to_chat(messages: str | Sequence[ChatMessage], system_prompt: str | None) -> list[ChatMessage]:
    if isinstance(messages, str):
        return to_messages(messages, system_prompt)
    out: list[ChatMessage] = []
    if system_prompt is not None:
        out.append({"role": "system", "content": system_prompt})
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise TypeError(
                f"message {index} must be a dict with 'role' and 'content', got {type(message).__name__}"
            )
        out.append(message)
    if not out:
        raise ValueError("messages is empty: pass a string or at least one {'role', 'content'} message")
    return out


def _open_cache(cache: bool | str | os.PathLike[str] | DiskCache) -> DiskCache | None:
    if cache is False:
        return None
    if cache is True:
        return shared_cache()
    if isinstance(cache, DiskCache):
        return cache
    return shared_cache(Path(cache))
