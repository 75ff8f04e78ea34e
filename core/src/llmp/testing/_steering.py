"""Steering a fake server in another process: faults, knobs and the request log, over ``/_fake/``.

A test that runs fakes in their own processes (``python -m llmp.testing.serve``, say three
deployments, one to kill) cannot call `inject` on them. A fake built on `FakeServerState` answers
these control requests with `steer` (JSON bodies):

- ``POST /_fake/fault`` ``{"status": 429, "retry_after": 1.5, "times": null}``: the next ``times``
  requests (null: every one, until a reset) fail with that status and the provider's error body;
- ``POST /_fake/knobs`` ``{"ttft": 0.2}``: change ``ttft``, ``token_delay`` or ``chunk_count``
  from now on (a reset restores the ones the fake was started with);
- ``GET /_fake/requests``: ``[[arrival time.time(), status], ...]`` of the recorded requests
  (the fake must record them: ``--record``), oldest first.
"""

from __future__ import annotations

import json
from typing import Any

from llmp.testing._fake_state import FakeServerState
from llmp.testing._faults import StatusError

__all__ = ["ENDPOINTS", "KNOBS", "steer"]

KNOBS = ("ttft", "token_delay", "chunk_count")
ENDPOINTS = frozenset({"fault", "knobs", "requests"})


def steer(state: FakeServerState, method: str, name: str, raw: bytes) -> tuple[int, bytes]:
    """Carry out one control request on `state`: ``(status, JSON body)``. A test's mistake (an
    unknown knob, a bad body) is a 400 that says which, never a guess."""
    try:
        data: dict[str, Any] = json.loads(raw) if raw else {}
        return 200, _steer(state, method, name, data)
    except (TypeError, ValueError, KeyError) as exc:
        return 400, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()


def _steer(state: FakeServerState, method: str, name: str, data: dict[str, Any]) -> bytes:
    if name == "requests" and method == "GET":
        return json.dumps([[r.timestamp, r.status] for r in state.requests]).encode()
    if name == "fault" and method == "POST":
        fault = StatusError(int(data["status"]), retry_after=data.get("retry_after"))
        state.inject(fault, times=data.get("times", 1))
        return b"{}"
    if name == "knobs" and method == "POST":
        unknown = set(data) - set(KNOBS)
        if unknown:
            raise ValueError(f"unknown knobs {sorted(unknown)}; known: {', '.join(KNOBS)}")
        for knob, value in data.items():
            setattr(state, knob, value)
        return b"{}"
    raise ValueError(f"{method} /_fake/{name} is not a control endpoint")
