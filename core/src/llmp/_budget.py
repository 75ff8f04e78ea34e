"""``max_cost``: a budget in US dollars that is never overshot.

Before a request is sent it reserves its worst-case cost: the prompt's tokens, estimated from
above (a token is at least ~3 characters of text; every message and image adds a margin), plus
the most it may write (``max_tokens`` / ``max_completion_tokens``, else the model's own output
cap), priced by the plugin's price table. When it finishes, the reservation is replaced by what
it really cost. A request whose worst case fits in what is left but not beside the reservations
of the requests in flight waits (holding no slot) for them to settle: most cost far less than
their worst case. A request whose worst case does not fit in what is left even with nothing in
flight fails with `BudgetExceededError` before anything is sent. So the total spent stays at or
below ``max_cost``, and a job, however many requests it has in flight, stops within one
request's worst case of it. Cache hits cost nothing.

A budget needs prices and an output bound: without them the worst case is unknown, and llmp
refuses at the first request rather than guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from llmp.errors import BudgetExceededError, ConfigurationError
from llmp.types import Capabilities, Cost, Request, Usage

__all__ = ["Budget", "estimate_prompt_tokens", "worst_case_usage"]

_CHARS_PER_TOKEN = 3
_PER_MESSAGE = 8
_PER_IMAGE = 2000


def _chars(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "image_url":
            images += 1
        elif isinstance(part, dict):
            chars += len(str(part.get("text", "")))
    return chars, images


def estimate_prompt_tokens(request: Request) -> int:
    """An upper estimate of the request's input tokens."""
    chars = images = 0
    for message in request.messages:
        c, i = _chars(message.get("content"))
        chars += c + len(str(message.get("tool_calls") or ""))
        images += i
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(str(tool.parameters))
    if request.output_schema is not None:
        chars += len(str(request.output_schema.schema))
    return chars // _CHARS_PER_TOKEN + 1 + _PER_MESSAGE * len(request.messages) + _PER_IMAGE * images


def worst_case_usage(request: Request, caps: Capabilities, model: str) -> Usage:
    params = request.params
    limit = params.get("max_completion_tokens") or params.get("max_tokens") or caps.max_output_tokens
    if not limit:
        raise ConfigurationError(
            f"max_cost needs to know the most {model!r} may write, and neither max_tokens nor the "
            "model's output limit is known: pass max_tokens=..."
        )
    return Usage(input_tokens=estimate_prompt_tokens(request), output_tokens=int(limit) * request.n)


class Budget:
    """The spend of one LLM (or deployment set), shared by every request it makes (on any loop)."""

    def __init__(self, max_cost: float) -> None:
        self.max_cost = max_cost
        self.spent = 0.0
        self.reserved = 0.0
        self._holds = 0  # reservations not yet settled (`reserved` may keep float dust at 0)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    async def reserve(
        self, request: Request, caps: Capabilities, model: str, price: Callable[[Usage], Cost | None]
    ) -> float:
        """Reserve the request's worst case, waiting for requests in flight to settle while it
        does not fit beside theirs; `BudgetExceededError` if it does not fit in what is left."""
        cost = price(worst_case_usage(request, caps, model))
        if cost is None:
            raise ConfigurationError(
                f"max_cost needs a price for {model!r}, and its plugin has none: llmp never guesses a price"
            )
        amount = cost.total
        while True:
            with self._lock:
                if self.spent + amount > self.max_cost:
                    raise BudgetExceededError(
                        f"max_cost=${self.max_cost:g} reached: ${self.spent:.6f} spent, and this request "
                        f"may cost up to ${amount:.6f}",
                        max_cost=self.max_cost,
                        spent=self.spent,
                    )
                if not self._holds or self.spent + self.reserved + amount <= self.max_cost:
                    self.reserved += amount
                    self._holds += 1
                    return amount
                loop = asyncio.get_running_loop()
                waiter = loop.create_future()
                self._waiters.append((loop, waiter))
            await waiter  # the next settlement wakes every waiter to look again

    def settle(self, reserved: float, actual: float | None) -> None:
        """Replace a reservation by what the request really cost (None: nothing was billed)."""
        with self._lock:
            self._holds -= 1
            self.reserved = max(0.0, self.reserved - reserved) if self._holds else 0.0
            if actual:
                self.spent += actual
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            _wake(loop, waiter)


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    try:
        here = asyncio.get_running_loop() is loop
    except RuntimeError:
        here = False
    if here:
        if not waiter.done():
            waiter.set_result(None)
        return
    with contextlib.suppress(RuntimeError):  # that loop is closed: nothing waits there any more
        loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a cancelled waiter is done already
        waiter.set_result(None)
