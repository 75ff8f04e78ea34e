"""Several models at once: the same prompts to each, all models in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar, overload

from llmp._jobs import check_prompts
from llmp._llm import LLM, Messages
from llmp._llm_jobs import Prompt
from llmp._runner import run_sync
from llmp.types import Response

__all__ = ["amulti_chat", "amulti_generate", "multi_chat", "multi_generate"]

T = TypeVar("T")


def _llms(models: Iterable[str | LLM], llm_kwargs: dict[str, Any]) -> dict[str, LLM]:
    out: dict[str, LLM] = {}
    for model in models:
        llm = model if isinstance(model, LLM) else LLM(model, **llm_kwargs)
        out[llm.model] = llm
    return out


@overload
async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[False] = ...,
    response_format: None = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[list[str]]]: ...
@overload
async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[False] = ...,
    response_format: type[T],
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[list[T]]]: ...
@overload
async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[True],
    response_format: Any = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[Response]]: ...
@overload
async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: bool = ...,
    response_format: Any = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[Any]]: ...


async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = None,
    n: int = 1,
    *,
    rich: bool = False,
    response_format: Any = None,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, list[Any]]:
    """``{model: generate(prompts)}`` for every model, the models running in parallel.

    `models` are names or ready `LLM` instances (to read their usage afterwards). Results per
    model are as `LLM.generate` gives them (texts, validated values with `response_format`, or
    `Response` objects with ``rich=True``; `params` may carry tools, reasoning, ...). Every model
    runs to the end even if another fails; then the first failure is raised.
    """
    items = list(check_prompts(prompts, "multi_generate"))  # every model needs the whole list
    llms = _llms(models, llm_kwargs or {})
    results = await asyncio.gather(
        *(
            llm.agenerate(items, system_prompt, n, rich=rich, response_format=response_format, **params)
            for llm in llms.values()
        ),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(zip(llms, results, strict=True))  # type: ignore[arg-type]


@overload
def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[False] = ...,
    response_format: None = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[list[str]]]: ...
@overload
def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[False] = ...,
    response_format: type[T],
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[list[T]]]: ...
@overload
def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: Literal[True],
    response_format: Any = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[Response]]: ...
@overload
def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = ...,
    n: int = ...,
    *,
    rich: bool = ...,
    response_format: Any = ...,
    llm_kwargs: dict[str, Any] | None = ...,
    **params: Any,
) -> dict[str, list[Any]]: ...


def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[Prompt],
    system_prompt: str | None = None,
    n: int = 1,
    *,
    rich: bool = False,
    response_format: Any = None,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, list[Any]]:
    """Synchronous `amulti_generate`."""
    return run_sync(
        amulti_generate(
            models,
            prompts,
            system_prompt,
            n,
            rich=rich,
            response_format=response_format,
            llm_kwargs=llm_kwargs,
            **params,
        )
    )


async def amulti_chat(
    models: Iterable[str | LLM],
    messages: Messages,
    system_prompt: str | None = None,
    *,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, str]:
    """``{model: chat(messages)}`` for every model, in parallel."""
    llms = _llms(models, llm_kwargs or {})
    replies = await asyncio.gather(*(llm.achat(messages, system_prompt, **params) for llm in llms.values()))
    return dict(zip(llms, replies, strict=True))


def multi_chat(
    models: Iterable[str | LLM],
    messages: str | Sequence[dict[str, Any]],
    system_prompt: str | None = None,
    *,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, str]:
    """Synchronous `amulti_chat`."""
    return run_sync(amulti_chat(models, messages, system_prompt, llm_kwargs=llm_kwargs, **params))
