"""Many prompts as one job: a bounded window of requests, nothing finished ever lost.

Workers pull prompts from one shared iterator, so at most `concurrency` prompts are in flight and
in memory at once however long (or endless) the input is; finished items pass through a queue of
the same bound to the consumer, which applies back-pressure. One failing prompt never discards
the others: its error takes its place. A bad item from a generator is that item's error.

Errors that would fail every item the same way stop the job instead of being repeated for each
prompt: a rejected key, bad configuration (an unsupported feature, a checkpoint of another job),
an untrusted certificate, a broken plugin (any exception that is not an llmp error is a bug and
stops the job), and the same 400 for the first few requests (a bad parameter). A spent budget
(`BudgetExceededError`) is each remaining prompt's own error: nothing more is sent, and every
finished result is returned and checkpointed.
Every worker is stopped and awaited before the error is raised, so nothing writes to the
checkpoint afterwards; what finished is in the cache and the checkpoint.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from typing import Any, Literal

from llmp._call import CallSpec
from llmp._checkpoint import Checkpoint
from llmp._messages import to_messages
from llmp._progress import Progress
from llmp._target import Target
from llmp._toolloop import run_tool_loop
from llmp._usage import UsageStats
from llmp.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    GenerationError,
    LLMPError,
    PluginError,
    TLSError,
)
from llmp.types import Response

__all__ = ["OnError", "check_prompts", "generate_all", "run_job"]

OnError = Literal["raise", "return"]
_FATAL = (AuthenticationError, ConfigurationError, PluginError, TLSError)
#: This many identical 400s in a row stop a job: a bad parameter fails every prompt the same way.
SAME_BAD_REQUEST_LIMIT = 3


def check_prompts(prompts: Any, method: str) -> Iterable[Any]:
    """`prompts` as an iterable; a known list is checked whole before anything is sent."""
    if isinstance(prompts, str):
        return [prompts]
    if prompts is None or isinstance(prompts, (bytes, dict)) or not isinstance(prompts, Iterable):
        raise ConfigurationError(
            f"{method}: prompts must be a string or an iterable of prompts (strings or message lists), "
            f"got {type(prompts).__name__}"
        )
    if isinstance(prompts, (list, tuple)):
        for index, prompt in enumerate(prompts):
            to_messages(prompt, None, f"prompts[{index}]")
    return prompts


class _BadRequests:
    """Spots the same 400 repeating: `seen` returns the error to stop the job with, if any."""

    __slots__ = ("count", "last")

    def __init__(self) -> None:
        self.count = 0
        self.last: tuple[int | None, str] | None = None

    def seen(self, error: Exception) -> BadRequestError | None:
        if type(error) is not BadRequestError:
            self.count, self.last = 0, None
            return None
        signature = (error.status_code, error.message)
        self.count = self.count + 1 if signature == self.last else 1
        self.last = signature
        if self.count < SAME_BAD_REQUEST_LIMIT:
            return None
        stop = BadRequestError(
            f"stopped the job: {self.count} requests in a row were refused with the same error, which "
            f"would fail every prompt (a bad parameter?): {error.message}",
            provider=error.provider,
            status_code=error.status_code,
            body=error.body,
        )
        stop.__cause__ = error
        return stop


class _Item:
    """One prompt, ready to send: its request, cache key and what the cache had for it."""

    __slots__ = ("error", "index", "key", "messages", "prefetched", "prepared")

    def __init__(self, index: int, messages: Any = None, prepared: Any = None, key: str | None = None,
                 error: LLMPError | None = None) -> None:  # fmt: skip
        self.index, self.messages, self.prepared, self.key, self.error = index, messages, prepared, key, error
        self.prefetched: dict[str, Any] | None = None


class _Feed:
    """The workers' prompts, read ahead one window at a time: each window's requests are built
    and their cache keys looked up in one round trip (`Cache.aget_many`), which is what makes a
    Redis cache as cheap per prompt as a local file. At most one window is held in memory."""

    def __init__(
        self, prompts: Iterable[Any], target: Target, spec: CallSpec, keyed: bool, window: int
    ) -> None:
        self._items: Iterator[tuple[int, Any]] = enumerate(prompts)
        self._target, self._spec, self._keyed, self._window = target, spec, keyed, window
        self._pending: collections.deque[_Item] = collections.deque()
        self._lock = asyncio.Lock()
        self._exhausted = False

    async def next(self) -> _Item | None:
        if not self._pending and not self._exhausted:
            async with self._lock:
                if not self._pending and not self._exhausted:
                    await self._fill()
        return self._pending.popleft() if self._pending else None

    async def _fill(self) -> None:
        target, spec = self._target, self._spec
        batch: list[_Item] = []
        for index, prompt in itertools.islice(self._items, self._window):
            try:
                messages = to_messages(prompt, spec.system_prompt, f"prompts[{index}]")
            except ConfigurationError as error:  # a bad item from a generator: that item's error
                batch.append(_Item(index, error=error))
                continue
            prepared = target.prepare(messages, spec)
            batch.append(_Item(index, messages, prepared, target.item_key(prepared) if self._keyed else None))
        if len(batch) < self._window:
            self._exhausted = True
        if target.cache is not None and spec.max_turns is None:
            keys = [
                key
                for item in batch
                if item.prepared is not None
                for key in target.lookup_keys(item.prepared)
            ]
            hits = await target.cache.aget_many(keys) if keys else {}
            for item in batch:
                item.prefetched = hits
        self._pending.extend(batch)


async def _answer(
    target: Target, spec: CallSpec, item: _Item, checkpoint: Checkpoint | None
) -> tuple[Any, Response | None]:
    index, key = item.index, item.key
    if checkpoint is not None and key is not None:
        saved = checkpoint.restored(index, key)
        if saved is not None:
            response = Response.from_dict(saved)
            try:
                if spec.output is not None:
                    for choice in response.choices:
                        choice.parsed = spec.output.parse(choice.text) if choice.text else None
                return spec.outputs(response, target.provider), None
            except ValueError:
                pass  # no longer valid for this call: ask again
    try:
        if spec.max_turns is not None:
            response = await run_tool_loop(target, item.messages, spec, key)
        else:
            response = await target.answer(item.prepared, spec.parser, item.prefetched, key)
        output = spec.outputs(response, target.provider)
    except LLMPError as error:
        if checkpoint is not None and key is not None:
            checkpoint.write(index, key, None, error)  # a failed item is tried again on resume
        raise
    if checkpoint is not None and key is not None:
        checkpoint.write(index, key, response.to_dict(), None)
    return output, response


async def run_job(
    target: Target,
    prompts: Iterable[Any],
    spec: CallSpec,
    *,
    concurrency: int,
    checkpoint: Checkpoint | None = None,
    progress: bool | None = False,
) -> AsyncIterator[tuple[int, Any]]:
    """Yield ``(index, outputs or the item's LLMPError)`` for every prompt, as items finish."""
    total = len(prompts) if isinstance(prompts, Sized) else None
    queue: asyncio.Queue[tuple[int, Any] | None] = asyncio.Queue(maxsize=concurrency)
    fatal: list[BaseException] = []
    keyed = checkpoint is not None or target.cache is not None
    bad_requests = _BadRequests()
    job = UsageStats()
    feed = _Feed(prompts, target, spec, keyed, window=min(max(concurrency, 1), 256))

    async def worker() -> None:
        while not fatal and (item := await feed.next()) is not None:
            index = item.index
            if item.error is not None:
                await queue.put((index, item.error))
                continue
            try:
                output, response = await _answer(target, spec, item, checkpoint)
            except _FATAL as error:
                fatal.append(error)
                return
            except LLMPError as error:
                stop = bad_requests.seen(error)
                if stop is not None:
                    fatal.append(stop)
                    return
                usage = getattr(error, "usage", None)
                if usage is not None:  # billed although it failed (an empty answer, say)
                    job.record(usage, target.price(usage))
                await queue.put((index, error))
                continue
            except Exception as error:  # a bug (plugin or caller): stop, do not repeat it per prompt
                fatal.append(error)
                return
            bad_requests.count = 0
            if response is not None:
                job.add_response(response)
            await queue.put((index, output))

    async def run_workers() -> None:
        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:  # the prompts iterator itself raised
                    fatal.append(task.exception())  # type: ignore[arg-type]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Not in `finally`: when the consumer left between two items the queue may be full, and a
        # put there would wait forever (the job's own clean-up awaits this task).
        await queue.put(None)

    job_note = getattr(target, "job_note", None)  # a set of deployments: what each does in this job
    bar = Progress(progress, total, job, desc=target.model, note=job_note() if job_note is not None else None)
    runner = asyncio.ensure_future(run_workers())
    completed = False
    try:
        # After a fatal error workers take no new prompt, but what is in flight finishes (it is
        # paid for) and is handed out before the error is raised.
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
    target: Target,
    prompts: Iterable[Any],
    spec: CallSpec,
    *,
    concurrency: int,
    on_error: OnError,
    checkpoint: Checkpoint | None = None,
    progress: bool | None = False,
) -> list[Any]:
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    async for index, result in run_job(
        target, prompts, spec, concurrency=concurrency, checkpoint=checkpoint, progress=progress
    ):
        results[index] = result
        if isinstance(result, BaseException):
            errors[index] = result
    ordered = [results[i] for i in range(len(results))]
    if on_error == "return" or not errors:
        return ordered
    raise GenerationError([None if isinstance(r, BaseException) else r for r in ordered], errors)
