"""Shared fixtures: a registry with only this plugin, LLMs on the Anthropic route, and a plain HTTP
client for the fake Anthropic server."""

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import llmp
from llmp_litellm import _hooks
from llmp_litellm.testing import FakeAnthropicServer

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


@pytest.fixture
def http(fake_anthropic: FakeAnthropicServer) -> Iterator[httpx.Client]:
    """A plain HTTP/2 client for the fake Anthropic server, with its key and API version."""
    headers = {"x-api-key": fake_anthropic.api_key, "anthropic-version": "2023-06-01"}
    with httpx.Client(
        base_url=fake_anthropic.base_url,
        headers=headers,
        verify=ssl.create_default_context(cafile=str(fake_anthropic.ca_path)),
        http2=True,
    ) as client:
        yield client
