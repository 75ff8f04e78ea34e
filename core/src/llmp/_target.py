"""What jobs, the tool loop and `LLM` send through: one model (`Engine`) or a set of deployments
(`Router`). A call is prepared once (bad input fails there, before anything is sent), then
answered or streamed; a job also needs the item's identity (for its checkpoint) and the cache
keys to look up ahead for a whole window at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from llmp._answers import Parser
from llmp.types import ChatMessage, Cost, PriceMode, Response, Usage

if TYPE_CHECKING:
    from llmp._cache import Cache
    from llmp._call import CallSpec
    from llmp._usage import UsageStats

__all__ = ["Target"]


class Target(Protocol):
    provider: str
    model: str
    cache: Cache | None

    @property
    def stats(self) -> UsageStats:
        """What it has spent (a set: every deployment's, added up)."""
        ...

    @property
    def concurrency(self) -> int: ...

    def prepare(self, messages: list[ChatMessage], spec: CallSpec) -> Any: ...

    def item_key(self, prepared: Any) -> str: ...

    def lookup_keys(self, prepared: Any) -> list[str]: ...

    async def answer(
        self, prepared: Any, parser: Parser | None = None, prefetched: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Response: ...  # fmt: skip

    def stream_prepared(
        self, prepared: Any, *, text_only: bool, parser: Parser | None = None, out: Any = None
    ) -> AsyncIterator[Any]: ...

    def price(self, usage: Usage, mode: PriceMode = "standard") -> Cost | None: ...

    async def aclose(self) -> None: ...
