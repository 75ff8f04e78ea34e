"""Provider batch APIs (half price): submit, status, retrieve, with self-contained ids.

A batch id is ``"<provider>:<count>:<raw id>"`` (``"openai:2:batch_abc123"``): the provider and
the number of prompts travel with the provider's own id, so another process with only the id and
an `LLM` of the same provider can check and retrieve it. The id never contains a key.

The plugin side is the client's ``batch`` attribute (`llmp.types.BatchApi`): submit a list of
`Request`s (rich ones too: tools, output schemas, reasoning) under custom ids, read a typed
`BatchStatus`, retrieve `BatchResults` (a `Response` per finished custom id, a `BatchFailure`
per failed one).

At submit, the core writes a small manifest (each request's cache key and sample count, no
secrets) next to the cache, so that retrieving, even from another process, stores every finished
answer in the cache: a later `generate()` of the same requests costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmp._answers import cacheable, check, parse
from llmp._call import CallSpec
from llmp._engine import Engine
from llmp._jobs import check_prompts
from llmp._messages import to_messages
from llmp._paths import default_cache_dir
from llmp.errors import BatchItemError, ConfigurationError, GenerationError, LLMPError, PluginError
from llmp.types import BatchApi, BatchStatus, Request, SupportsBatch

__all__ = ["BATCH_PROVIDERS", "BatchRunner", "format_id", "parse_id"]

BATCH_PROVIDERS = ("openai", "anthropic", "gemini")
_ID = re.compile(r"^(?P<provider>[A-Za-z0-9_.-]+):(?P<count>\d+):(?P<raw>.+)$")


def format_id(provider: str, count: int, raw: str) -> str:
    return f"{provider}:{count}:{raw}"


def parse_id(batch_id: str, provider: str) -> tuple[int, str]:
    """``(count, raw id)`` of a batch id for `provider`; ConfigurationError when it is not one."""
    match = _ID.match(batch_id) if isinstance(batch_id, str) else None
    if match is None:
        raise ConfigurationError(
            f"{batch_id!r} is not an llmp batch id: expected '<provider>:<count>:<id>', "
            "as returned by batch_submit(), e.g. 'openai:2:batch_abc123'"
        )
    if match["provider"] != provider:
        raise ConfigurationError(
            f"batch {batch_id!r} belongs to provider {match['provider']!r}, but this LLM is {provider!r}: "
            f"use an LLM of a {match['provider']} model to check or retrieve it"
        )
    return int(match["count"]), match["raw"]


class BatchRunner:
    """Batch operations for one engine (one `LLM`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _api(self) -> BatchApi:
        engine = self.engine
        if not engine.capabilities().batch:
            raise ConfigurationError(
                f"{engine.provider!r} has no batch API in llmp. Batch APIs (half price) are available "
                f"for: {', '.join(BATCH_PROVIDERS)} models; use generate() here."
            )
        # Batch jobs belong to an account, not to one of several rotated keys: use the first.
        client = engine.client(engine.keys.keys[0] if engine.keys is not None else None)
        if not isinstance(client, SupportsBatch):
            raise PluginError(f"the {engine.provider!r} client says it has a batch API but has no `batch`")
        return client.batch

    def _manifest_path(self, batch_id: str) -> Path:
        path = getattr(self.engine.cache, "path", None)  # a Redis cache has no directory
        root = path.parent if isinstance(path, Path) else default_cache_dir()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", batch_id)
        return root / "batches" / f"{safe}.json"

    def _manifest(self, batch_id: str, count: int) -> dict[str, Any] | None:
        try:
            data = json.loads(self._manifest_path(batch_id).read_text())
        except (OSError, ValueError):
            return None  # submitted on another machine: results are returned, not cached
        keys = data.get("keys")
        return data if isinstance(keys, list) and len(keys) == count else None

    # -- operations --------------------------------------------------------------------------

    async def submit(self, prompts: Iterable[Any], spec: CallSpec) -> str:
        items = list(check_prompts(prompts, "batch_submit"))
        if not items:
            raise ConfigurationError("batch_submit needs at least one prompt")
        if spec.max_turns is not None:
            raise ConfigurationError("a batch cannot run a tool loop (max_turns): submit the turns yourself")
        engine = self.engine
        requests = [
            spec.request(engine, to_messages(p, spec.system_prompt, f"prompts[{i}]"))
            for i, p in enumerate(items)
        ]
        api = self._api()
        raw = await api.submit(requests, [str(i) for i in range(len(requests))])
        batch_id = format_id(engine.provider, len(requests), str(raw))
        path = self._manifest_path(batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {
            "id": batch_id,
            "model": engine.model,
            "n": spec.n,
            "keys": [engine.cache_key(r) for r in requests],
        }
        path.write_text(json.dumps(manifest))
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        _, raw = parse_id(batch_id, self.engine.provider)
        return await self._api().status(raw)

    async def cancel(self, batch_id: str) -> BatchStatus:
        _, raw = parse_id(batch_id, self.engine.provider)
        return await self._api().cancel(raw)

    async def retrieve(self, batch_id: str, spec: CallSpec, on_error: str = "raise") -> list[Any] | None:
        """Results in prompt order, or None while the batch is not finished."""
        count, raw = parse_id(batch_id, self.engine.provider)
        answer = await self._api().retrieve(raw)
        if not answer.done:
            return None
        manifest = self._manifest(batch_id, count)
        keys: list[str] | None = manifest["keys"] if manifest is not None else None
        n = int(manifest.get("n", 1)) if manifest is not None else 1
        engine = self.engine
        out: list[Any] = []
        errors: dict[int, BaseException] = {}
        for index in range(count):
            custom_id = str(index)
            response = answer.results.get(custom_id)
            try:
                if response is None:
                    failure = answer.errors.get(custom_id)
                    raise BatchItemError(
                        failure.message if failure is not None else "no result for this request",
                        kind=failure.kind if failure is not None else "missing",
                        provider=engine.provider,
                        status_code=failure.status_code if failure is not None else None,
                    )
                cost = engine.registry.price(engine.provider, engine.model, response.usage, "batch")
                response.cost = cost.total if cost is not None else None
                response.provider = engine.provider
                engine.stats.record(response.usage, cost)
                check(response, Request(engine.model, [], n), engine.provider)
                if spec.parser is not None:
                    parse(response, spec.parser, engine.provider)
                if keys is not None and engine.cache is not None and cacheable(response):
                    await engine.store(keys[index], response)
                out.append(spec.outputs(response, engine.provider))
            except LLMPError as error:
                errors[index] = error
                out.append(error)
        if on_error == "return" or not errors:
            return out
        raise GenerationError([None if isinstance(r, BaseException) else r for r in out], errors)

    async def run(
        self, prompts: Iterable[Any], spec: CallSpec, poll_interval: float, on_error: str
    ) -> list[Any]:
        batch_id = await self.submit(prompts, spec)
        while True:
            status = await self.status(batch_id)
            if status.done:
                break
            await asyncio.sleep(poll_interval)  # never blocks the loop
        results = await self.retrieve(batch_id, spec, on_error)
        if results is None:
            raise PluginError(f"batch {batch_id} is {status.status} but its results are not available")
        return results
