"""The fake Anthropic server, for tests of code that speaks Anthropic's Messages API.

llmp-litellm is the plugin that serves Anthropic, so the fake of that wire ships here.
``FakeAnthropicServer`` speaks the Messages API (``/v1/messages``, streamed too) and the Message
Batches API over TLS with HTTP/2 and HTTP/1.1, records what it receives and injects the faults of
`llmp.testing` (rendered in Anthropic's error shape). The pytest fixtures ``fake_anthropic`` and
``fake_anthropic_server`` are registered by this plugin (``pytest11: llmp_litellm``);
``python -m llmp.testing.serve anthropic`` runs it in its own process.

Names load on first use, so the pytest plugin costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp_litellm.testing._fake_anthropic import DEFAULT_ANTHROPIC_MODELS, FakeAnthropicServer

__all__ = ["DEFAULT_ANTHROPIC_MODELS", "FakeAnthropicServer"]

_HOMES = {"FakeAnthropicServer": "_fake_anthropic", "DEFAULT_ANTHROPIC_MODELS": "_fake_anthropic"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
