"""Many prompts through one engine: a bounded window of requests, nothing finished ever lost.

Workers pull prompts from one shared iterator, so at most `concurrency` prompts are in flight and
in memory at once however long (or endless) the input is; finished items pass through a queue of
the same bound to the consumer, which applies back-pressure. One failing prompt never discards
the others. Errors that would fail every item the same way (a rejected key, a bad parameter, an
untrusted certificate, a checkpoint from another job) stop the job early instead of being
repeated for each prompt; what finished is already in the cache and the checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from typing import Literal

from llmp._checkpoint import Checkpoint
from llmp._engine import Engine
from llmp._progress import Progress
from llmp.errors import AuthenticationError, ConfigurationError, GenerationError, PluginError, TLSError
from llmp.types import ChatMessage

__all__ = ["ItemResult", "OnError", "generate_all", "run_job", "to_messages"]

OnError = Literal["raise", "return"]
ItemResult = list[str] | BaseException
_FATAL = (AuthenticationError, ConfigurationError, PluginError, TLSError)


def to_messages(prompt: str, system_prompt: str | None) -> list[ChatMessage]:
    if system_prompt is None:
        return [{"role": "user", "content": prompt}]
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]


def _check(index: int, prompt: object) -> str:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt {index} is {type(prompt).__name__}, not str")
    return prompt


def _checked(prompts: Iterable[str]) -> Iterator[tuple[int, str]]:
    for index, prompt in enumerate(prompts):
        yield index, _check(index, prompt)


def check_prompts(prompts: Iterable[str]) -> None:
    """A known list is checked before anything is sent: a bad item is a bug in the caller."""
    if isinstance(prompts, (list, tuple)):
        for index, prompt in enumerate(prompts):
            _check(index, prompt)


async def run_job(
    engine: Engine,
    prompts: Iterable[str],
    *,
    system_prompt: str | None,
    n: int,
    params: dict[str, object],
    concurrency: int,
    checkpoint: Checkpoint | None = None,
    progress: bool | None = False,
) -> AsyncIterator[tuple[int, ItemResult]]:
    """Yield ``(index, outputs or exception)`` for every prompt, as items finish."""
    check_prompts(prompts)
    items = _checked(prompts)
    total = len(prompts) if isinstance(prompts, Sized) else None
    queue: asyncio.Queue[tuple[int, ItemResult] | None] = asyncio.Queue(maxsize=concurrency)
    fatal: list[BaseException] = []
    keyed = checkpoint is not None or engine.cache is not None

    async def worker() -> None:
        for index, prompt in items:
            if fatal:
                return
            request = engine.request(to_messages(prompt, system_prompt), n, params)
            key = engine.cache_key(request) if keyed else None
            try:
                if checkpoint is not None and key is not None:
                    restored = checkpoint.restored(index, key)
                    if restored is not None:
                        await queue.put((index, list(restored["texts"])))
                        continue
                response = await engine.complete(request, key)
            except _FATAL as error:
                fatal.append(error)
                return
            except Exception as error:
                if checkpoint is not None and key is not None:
                    checkpoint.write(index, key, None, error)
                await queue.put((index, error))
                continue
            if checkpoint is not None and key is not None:
                saved = {"texts": response.texts, "usage": response.usage.to_dict()}
                checkpoint.write(index, key, saved, None)
            await queue.put((index, response.texts))

    async def run_workers() -> None:
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        except Exception as error:  # e.g. a non-str prompt from a generator
            fatal.append(error)
        # Not in a `finally`: a cancelled job has no consumer left, and a put into its full
        # queue would wait forever (Ctrl-C between two items hung there).
        await queue.put(None)

    bar = Progress(progress, total, engine.stats, desc=engine.model)
    runner = asyncio.ensure_future(run_workers())
    completed = False
    try:
        while (item := await queue.get()) is not None:
            bar.advance(failed=isinstance(item[1], BaseException))
            yield item
        if fatal:
            raise fatal[0]
        completed = True
    finally:
        if not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        bar.close()
        if checkpoint is not None:
            # Only a finished job is rewritten in order; an interrupted one stays append-only
            # (every line valid), ready to resume.
            if completed:
                checkpoint.finish(total)
            else:
                checkpoint.close()


async def generate_all(
    engine: Engine,
    prompts: Iterable[str],
    *,
    system_prompt: str | None,
    n: int,
    params: dict[str, object],
    concurrency: int,
    on_error: OnError,
    checkpoint: Checkpoint | None = None,
    progress: bool | None = False,
) -> list[list[str]] | list[ItemResult]:
    results: dict[int, ItemResult] = {}
    errors: dict[int, BaseException] = {}
    async for index, result in run_job(
        engine,
        prompts,
        system_prompt=system_prompt,
        n=n,
        params=params,
        concurrency=concurrency,
        checkpoint=checkpoint,
        progress=progress,
    ):
        results[index] = result
        if isinstance(result, BaseException):
            errors[index] = result
    ordered = [results[i] for i in range(len(results))]
    if on_error == "return" or not errors:
        return ordered
    raise GenerationError([None if isinstance(r, BaseException) else r for r in ordered], errors)
