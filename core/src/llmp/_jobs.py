"""Many prompts through one engine: a bounded window of requests, results in prompt order.

Workers pull prompts from one shared iterator, so at most `concurrency` prompts are in flight and
in memory at once however long (or endless) the input is. One failing prompt never discards the
others: per-item errors are collected and reported with every finished result. Errors that would
fail every item the same way (a rejected key, a bad parameter, an untrusted certificate) stop the
job early instead of being repeated for each prompt; what finished is already in the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Literal

from llmp._engine import Engine
from llmp.errors import AuthenticationError, ConfigurationError, GenerationError, PluginError, TLSError
from llmp.types import ChatMessage

__all__ = ["OnError", "generate_all", "to_messages"]

OnError = Literal["raise", "return"]
_FATAL = (AuthenticationError, ConfigurationError, PluginError, TLSError)


def to_messages(prompt: str, system_prompt: str | None) -> list[ChatMessage]:
    if system_prompt is None:
        return [{"role": "user", "content": prompt}]
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]


def _checked(prompts: Iterable[str]) -> Iterator[tuple[int, str]]:
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompt {index} is {type(prompt).__name__}, not str")
        yield index, prompt


async def generate_all(
    engine: Engine,
    prompts: Iterable[str],
    *,
    system_prompt: str | None,
    n: int,
    params: dict[str, object],
    concurrency: int,
    on_error: OnError,
) -> list[list[str]] | list[list[str] | BaseException]:
    if isinstance(prompts, (list, tuple)):
        # A known list is checked before anything is sent: a bad item is a bug in the caller.
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError(f"prompt {index} is {type(prompt).__name__}, not str")
        if not prompts:
            return []
    items = _checked(prompts)
    results: dict[int, list[str]] = {}
    errors: dict[int, BaseException] = {}
    fatal: list[BaseException] = []

    async def worker() -> None:
        for index, prompt in items:
            if fatal:
                return
            request = engine.request(to_messages(prompt, system_prompt), n, params)
            try:
                response = await engine.complete(request)
            except _FATAL as error:
                fatal.append(error)
                return
            except Exception as error:
                errors[index] = error
            else:
                results[index] = response.texts

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    if fatal:
        raise fatal[0]
    total = len(results) + len(errors)
    if on_error == "return":
        return [results[i] if i in results else errors[i] for i in range(total)]
    if errors:
        raise GenerationError([results.get(i) for i in range(total)], errors)
    return [results[i] for i in range(total)]
