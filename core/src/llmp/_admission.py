"""What a request must pass before its attempt takes a slot: the budget and the rate limits.

One `Admission` per deployment (engine): its rpm and tpm buckets (`llmp._buckets`), and the
`Budget` its LLM shares between deployments. Waiting on a bucket holds no slot. The tpm bucket
reserves an estimate (the prompt, and ``max_tokens`` or a typical answer) and is settled with
the real count; the budget reserves the worst case and is settled with the real cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmp._budget import Budget, estimate_prompt_tokens
from llmp.types import Capabilities, Cost, Request, Usage

__all__ = ["Admission", "Ticket"]

#: Output tokens assumed for a tpm reservation when the request sets no max_tokens.
TYPICAL_OUTPUT = 256


class Ticket:
    __slots__ = ("money", "tokens")

    def __init__(self, money: float, tokens: float) -> None:
        self.money, self.tokens = money, tokens


class Admission:
    def __init__(
        self,
        *,
        model: str,
        capabilities: Callable[[], Capabilities],
        price: Callable[[Usage], Cost | None],
        budget: Budget | None = None,
        rpm: Any = None,
        tpm: Any = None,
    ) -> None:
        self.model = model
        self._capabilities = capabilities
        self._price = price
        self.budget = budget
        self.rpm = rpm
        self.tpm = tpm

    async def admit(self, request: Request) -> Ticket:
        money = (
            await self.budget.reserve(request, self._capabilities(), self.model, self._price)
            if self.budget
            else 0.0
        )
        tokens = 0.0
        try:
            if self.rpm is not None:
                await self.rpm.acquire(1)
            if self.tpm is not None:
                params = request.params
                out = params.get("max_completion_tokens") or params.get("max_tokens") or TYPICAL_OUTPUT
                tokens = float(estimate_prompt_tokens(request) + int(out) * request.n)
                await self.tpm.acquire(min(tokens, self.tpm.capacity))
                tokens = min(tokens, self.tpm.capacity)
        except BaseException:
            if self.budget is not None:
                self.budget.settle(money, None)
            raise
        return Ticket(money, tokens)

    def done(self, ticket: Ticket, usage: Usage | None) -> None:
        """The attempt ended: what it was billed (None: nothing)."""
        if self.budget is not None:
            cost = self._price(usage) if usage is not None else None
            self.budget.settle(ticket.money, cost.total if cost is not None else None)
        if self.tpm is not None and ticket.tokens:
            self.tpm.settle(ticket.tokens, float(usage.input_tokens + usage.output_tokens) if usage else 0.0)
