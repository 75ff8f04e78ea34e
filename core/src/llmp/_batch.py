"""Provider batch APIs (half price): submit, status, retrieve, with self-contained ids.

A batch id is ``"<provider>:<count>:<raw id>"`` (``"openai:2:batch_abc123"``): the provider and
the number of prompts travel with the provider's own id, so another process with only the id and
an `LLM` of the same provider can check and retrieve it. The id never contains a key.

The plugin side is the ``llmp_batch(client, op, payload)`` hook; its payloads and answers:

- ``submit``: ``{"requests": [Request...], "custom_ids": ["0", "1", ...]}`` ->
  ``{"id": raw_id}``
- ``status``: ``{"id": raw_id}`` -> ``{"status": one of STATUSES, "raw_status": str,
  "counts": {"completed": int, "failed": int, "total": int}}``
- ``retrieve``: ``{"id": raw_id}`` -> ``{"done": bool, "results": {custom_id: {"texts": [...],
  "usage": Usage, "finish_reasons": [...]}}, "errors": {custom_id: {"kind": "errored" |
  "expired" | "canceled", "message": str, "status_code": int | None}}}``
- ``cancel``: ``{"id": raw_id}`` -> the status answer.

At submit, the core writes a small manifest (the cache key of each request, no secrets) next to
the cache, so that retrieving, even from another process, stores every finished answer in the
cache: a later `generate()` of the same requests costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmp._engine import Engine
from llmp._jobs import check_prompts, to_messages
from llmp._paths import default_cache_dir
from llmp.errors import BatchItemError, ConfigurationError, GenerationError, PluginError
from llmp.types import Response, Usage

__all__ = ["STATUSES", "TERMINAL", "BatchRunner", "format_id", "parse_id"]

STATUSES = (
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
BATCH_PROVIDERS = ("openai", "anthropic", "gemini")
_ID = re.compile(r"^(?P<provider>[A-Za-z0-9_.-]+):(?P<count>\d+):(?P<raw>.+)$")


def format_id(provider: str, count: int, raw: str) -> str:
    return f"{provider}:{count}:{raw}"


def parse_id(batch_id: str, provider: str) -> tuple[int, str]:
    """``(count, raw id)`` of a batch id for `provider`; ValueError when it is not one."""
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

    # -- plumbing ----------------------------------------------------------------------------

    async def _op(self, op: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        engine = self.engine
        # Batch jobs belong to an account, not to one of several rotated keys: use the first.
        key = engine.keys.keys[0] if engine.keys is not None else None
        awaitable = engine.registry.hook.llmp_batch(client=engine.client(key), op=op, payload=payload)
        if awaitable is None:
            if op == "submit":
                raise ConfigurationError(
                    f"{engine.provider!r} has no batch API in llmp. Batch APIs (half price) are "
                    f"available for: {', '.join(BATCH_PROVIDERS)} models; use generate() here."
                )
            raise PluginError(f"the {engine.provider!r} plugin does not implement batch {op!r}")
        result: Mapping[str, Any] = await awaitable
        return result

    def _manifest_path(self, batch_id: str) -> Path:
        cache = self.engine.cache
        root = cache.path.parent if cache is not None else default_cache_dir()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", batch_id)
        return root / "batches" / f"{safe}.json"

    # -- operations --------------------------------------------------------------------------

    async def submit(
        self, prompts: Iterable[str], system_prompt: str | None, n: int, params: dict[str, Any]
    ) -> str:
        prompts = list(prompts)
        check_prompts(prompts)
        if not prompts:
            raise ValueError("batch_submit needs at least one prompt")
        engine = self.engine
        requests = [engine.request(to_messages(p, system_prompt), n, params) for p in prompts]
        custom_ids = [str(i) for i in range(len(requests))]
        answer = await self._op("submit", {"requests": requests, "custom_ids": custom_ids})
        batch_id = format_id(engine.provider, len(requests), str(answer["id"]))
        path = self._manifest_path(batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {"id": batch_id, "model": engine.model, "keys": [engine.cache_key(r) for r in requests]}
        path.write_text(json.dumps(manifest))
        return batch_id

    async def status(self, batch_id: str) -> dict[str, Any]:
        _, raw = parse_id(batch_id, self.engine.provider)
        answer = dict(await self._op("status", {"id": raw}))
        if answer.get("status") not in STATUSES:
            raise PluginError(f"batch status {answer.get('status')!r} is not one of {STATUSES}")
        return answer

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        _, raw = parse_id(batch_id, self.engine.provider)
        return dict(await self._op("cancel", {"id": raw}))

    async def retrieve(self, batch_id: str, on_error: str = "raise") -> list[Any] | None:
        """Results in prompt order, or None while the batch is not finished."""
        count, raw = parse_id(batch_id, self.engine.provider)
        answer = await self._op("retrieve", {"id": raw})
        if not answer.get("done"):
            return None
        results: Mapping[str, Mapping[str, Any]] = answer.get("results") or {}
        failures: Mapping[str, Mapping[str, Any]] = answer.get("errors") or {}
        keys = self._manifest_keys(batch_id, count)
        engine = self.engine
        out: list[Any] = []
        errors: dict[int, BaseException] = {}
        for index in range(count):
            custom_id = str(index)
            item = results.get(custom_id)
            if item is None:
                info = failures.get(custom_id) or {"kind": "missing", "message": "no result for this request"}
                error = BatchItemError(
                    str(info.get("message", "")),
                    kind=str(info.get("kind", "errored")),
                    provider=engine.provider,
                    status_code=info.get("status_code"),
                )
                errors[index] = error
                out.append(error)
                continue
            usage = item.get("usage")
            response = Response(
                list(item["texts"]),
                usage if isinstance(usage, Usage) else Usage.from_dict(usage or {}),
                list(item.get("finish_reasons") or []),
            )
            cost = engine.registry.price(engine.provider, engine.model, response.usage, "batch")
            engine.stats.record(response.usage, cost)
            if keys is not None and engine.cache is not None:
                engine.store(keys[index], response)
            out.append(response.texts)
        if on_error == "return" or not errors:
            return out
        raise GenerationError([None if isinstance(r, BaseException) else r for r in out], errors)

    def _manifest_keys(self, batch_id: str, count: int) -> list[str] | None:
        try:
            data = json.loads(self._manifest_path(batch_id).read_text())
        except (OSError, ValueError):
            return None  # submitted on another machine: results are returned, not cached
        keys = data.get("keys")
        return keys if isinstance(keys, list) and len(keys) == count else None

    async def run(
        self,
        prompts: Iterable[str],
        system_prompt: str | None,
        n: int,
        params: dict[str, Any],
        poll_interval: float,
        on_error: str,
    ) -> list[Any]:
        batch_id = await self.submit(prompts, system_prompt, n, params)
        while True:
            status = await self.status(batch_id)
            if status["status"] in TERMINAL:
                break
            await asyncio.sleep(poll_interval)  # never blocks the loop
        results = await self.retrieve(batch_id, on_error)
        if results is None:
            raise PluginError(f"batch {batch_id} is {status['status']} but its results are not available")
        return results
