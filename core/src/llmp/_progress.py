"""A progress bar for long jobs: done/total, rate, tokens, cost, errors (and, for a set of
deployments, what each is doing).

Shown only on a terminal (``progress=None``, the default) or when asked (``progress=True``);
tqdm is imported only then. The postfix is refreshed at most twice a second so that a job of a
million fast cache hits does not spend its time formatting text.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from llmp._usage import UsageStats

__all__ = ["Progress"]

_REFRESH = 0.5


class Progress:
    __slots__ = ("_bar", "_errors", "_last", "_note", "_stats")

    def __init__(
        self,
        enabled: bool | None,
        total: int | None,
        stats: UsageStats,
        desc: str,
        note: Callable[[], str] | None = None,
    ) -> None:
        self._stats = stats
        self._note = note
        self._errors = 0
        self._last = 0.0
        self._bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty() and (total is None or total > 1)
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="prompt", dynamic_ncols=True, smoothing=0.05)

    def advance(self, failed: bool = False) -> None:
        bar = self._bar
        if bar is None:
            return
        if failed:
            self._errors += 1
        now = time.monotonic()
        if now - self._last >= _REFRESH:
            self._last = now
            bar.set_postfix_str(self._postfix(), refresh=False)
        bar.update(1)

    def _postfix(self) -> str:
        s = self._stats
        cost = "?" if s.cost is None else f"${s.cost:.4f}"
        text = (
            f"in {s.input_tokens:,} out {s.output_tokens:,} tok, {cost}, "
            f"{s.cache_hits:,} cached, {self._errors} errors"
        )
        return f"{text} | {self._note()}" if self._note is not None else text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.close()
            self._bar = None
