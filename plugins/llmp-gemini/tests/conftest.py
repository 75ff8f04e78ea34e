"""Fixtures shared by llmp-gemini's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp_gemini import _hooks

FLASH = "gemini/gemini-3-flash-preview"
MakeLLM = Callable[..., llmp.LLM]


@pytest.fixture
def make_llm(fake_gemini: Any) -> MakeLLM:
    """``make_llm(model=FLASH, **kwargs)``: an uncached LLM on its own registry (so its own
    google-genai client), with the environment pointed at the fake Gemini server."""

    def make(model: str = FLASH, **kwargs: Any) -> llmp.LLM:
        kwargs.setdefault("cache", False)
        registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
        return llmp.LLM(model, registry=registry, **kwargs)

    return make
