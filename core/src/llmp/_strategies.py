"""How a set of deployments picks one for each request (``strategy=``).

Each strategy picks among the deployments that are usable now (their circuit is not open), in
the order they were given:

- ``fallback``: the first; the others only when it fails or steps aside.
- ``round_robin``: each in turn.
- ``weighted``: in proportion to `Deployment.weight` (smooth weighted round robin: exact
  proportions, evenly spread, no randomness).
- ``least_busy``: the fewest requests in flight for its `max_concurrent`, so a big job keeps
  every window full.
- ``lowest_latency``: the lowest recent latency (time to first token for streams); one in
  `EXPLORE` picks goes to another deployment, so one that recovers is noticed, and a deployment
  with no measurement yet is tried first.
- ``cheapest``: the lowest price for a typical request (1,000 tokens in, 500 out, from the price
  table); deployments without a known price come last.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from llmp.types import Usage

if TYPE_CHECKING:
    from llmp._router import Member

__all__ = ["EXPLORE", "Picker", "picker"]

#: lowest_latency sends one request in this many elsewhere, to keep measuring the others.
EXPLORE = 20
_TYPICAL = Usage(input_tokens=1000, output_tokens=500)


class Picker(Protocol):
    def pick(self, members: Sequence[Member]) -> Member: ...


class _Fallback:
    def pick(self, members: Sequence[Member]) -> Member:
        return members[0]


class _RoundRobin:
    def __init__(self) -> None:
        self._turn = itertools.count()

    def pick(self, members: Sequence[Member]) -> Member:
        return members[next(self._turn) % len(members)]


class _Weighted:
    def __init__(self) -> None:
        self._current: dict[int, float] = {}

    def pick(self, members: Sequence[Member]) -> Member:
        total = 0.0
        for member in members:
            weight = member.deployment.weight
            total += weight
            self._current[id(member)] = self._current.get(id(member), 0.0) + weight
        best = max(members, key=lambda m: self._current[id(m)])
        self._current[id(best)] -= total
        return best


class _LeastBusy:
    def pick(self, members: Sequence[Member]) -> Member:
        return min(members, key=lambda m: m.in_flight / m.capacity)


class _LowestLatency:
    def __init__(self) -> None:
        self._picks = itertools.count(1)

    def pick(self, members: Sequence[Member]) -> Member:
        untried = [m for m in members if m.recorder.recent_latency() is None]
        if untried:
            return min(untried, key=lambda m: m.in_flight)
        ranked = sorted(members, key=lambda m: m.recorder.recent_latency() or math.inf)
        if len(ranked) > 1 and next(self._picks) % EXPLORE == 0:
            return ranked[1]
        return ranked[0]


class _Cheapest:
    def pick(self, members: Sequence[Member]) -> Member:
        return min(members, key=lambda m: m.unit_price(_TYPICAL))


def picker(strategy: str) -> Picker:
    strategies: dict[str, type[Picker]] = {
        "fallback": _Fallback,
        "round_robin": _RoundRobin,
        "weighted": _Weighted,
        "least_busy": _LeastBusy,
        "lowest_latency": _LowestLatency,
        "cheapest": _Cheapest,
    }
    return strategies[strategy]()
