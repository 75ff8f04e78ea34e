"""Shared fixtures: a registry with only this plugin, and LLMs on the Anthropic route."""

from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp_litellm import _hooks

MODEL = "anthropic/claude-sonnet-4-6"
MakeLLM = Callable[..., llmp.LLM]


@pytest.fixture
def registry() -> llmp.Registry:
    # Only this plugin: other plugins' routes and prices cannot interfere.
    return llmp.Registry(load_entry_points=False, plugins=[_hooks])


@pytest.fixture
def make_llm(registry: llmp.Registry) -> MakeLLM:
    """``make_llm(**kwargs)``: an uncached, non-retrying LLM on the Anthropic route."""

    def make(**kwargs: Any) -> llmp.LLM:
        kwargs.setdefault("cache", False)
        kwargs.setdefault("max_retries", 0)
        return llmp.LLM(MODEL, registry=registry, **kwargs)

    return make
