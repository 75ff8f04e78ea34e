"""Core tests run on `llmp.testing.FunctionClient`: no TLS, no server, no plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp.testing import FunctionClient
from llmp.types import Cost, PriceMode, Usage


def per_token(model: str, usage: Usage, mode: PriceMode) -> Cost:
    """A made-up price: $1 per million input tokens, $2 per million output tokens, half in batch."""
    factor = 0.5 if mode == "batch" else 1.0
    return Cost(usage.input_tokens * 1e-6 * factor, 0.0, usage.output_tokens * 2e-6 * factor)


@pytest.fixture
def make_llm(tmp_path: Path) -> Callable[..., tuple[llmp.LLM, FunctionClient]]:
    """``make_llm(reply, **llm_kwargs)`` -> an LLM on a FunctionClient, and the client.

    Each LLM gets its own cache directory under tmp_path unless `cache` is given.
    """
    counter = iter(range(10_000))

    def make(reply: Any = "ok", *, client_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        client = (
            reply
            if isinstance(reply, FunctionClient)
            else FunctionClient(
                reply if callable(reply) else (lambda request: reply), **(client_kwargs or {})
            )
        )
        kwargs.setdefault("cache", str(tmp_path / f"cache-{next(counter)}"))
        llm = llmp.LLM("test/model", registry=client.registry(), **kwargs)
        return llm, client

    return make
