"""Several models at once: the same prompts to each, all models in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from llmp._llm import LLM
from llmp._runner import run_sync
from llmp.types import ChatMessage

__all__ = ["amulti_chat", "amulti_generate", "multi_chat", "multi_generate"]


def _llms(models: Iterable[str | LLM], llm_kwargs: dict[str, Any]) -> dict[str, LLM]:
    out: dict[str, LLM] = {}
    for model in models:
        llm = model if isinstance(model, LLM) else LLM(model, **llm_kwargs)
        out[llm.model] = llm
    return out


async def amulti_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[str],
    system_prompt: str | None = None,
    n: int = 1,
    *,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """``{model: generate(prompts)}`` for every model, the models running in parallel.

    `models` are names or ready `LLM` instances (to read their usage afterwards). Every model
    runs to the end even if another fails; then the first failure is raised.
    """
    llms = _llms(models, llm_kwargs or {})
    prompts = list(prompts)  # every model needs the whole list
    results = await asyncio.gather(
        *(llm.agenerate(prompts, system_prompt, n, **params) for llm in llms.values()), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return dict(zip(llms, results, strict=True))


def multi_generate(
    models: Iterable[str | LLM],
    prompts: Iterable[str],
    system_prompt: str | None = None,
    n: int = 1,
    *,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    return run_sync(amulti_generate(models, prompts, system_prompt, n, llm_kwargs=llm_kwargs, **params))


async def amulti_chat(
    models: Iterable[str | LLM],
    messages: str | Sequence[ChatMessage],
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
    messages: str | Sequence[ChatMessage],
    system_prompt: str | None = None,
    *,
    llm_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, str]:
    return run_sync(amulti_chat(models, messages, system_prompt, llm_kwargs=llm_kwargs, **params))
