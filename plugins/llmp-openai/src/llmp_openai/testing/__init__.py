"""The fake OpenAI server, for tests, demos and benchmarks of code that speaks OpenAI's wire.

``FakeOpenAIServer`` speaks OpenAI's chat-completions, embeddings, Files and Batch wire over TLS
with HTTP/2 and HTTP/1.1, records what it receives and injects the faults of `llmp.testing`
(rendered in OpenAI's error shape). The pytest fixtures ``fake_openai`` and
``fake_openai_server`` are registered by this plugin (``pytest11: llmp_openai``);
``python -m llmp.testing.serve openai`` runs it in its own process.

Names load on first use, so the pytest plugin (which every test run imports) costs nothing until
a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp_openai.testing._fake_openai import FakeOpenAIServer
    from llmp_openai.testing._fake_openai_app import FakeOpenAIApp
    from llmp_openai.testing._fake_openai_state import DEFAULT_MODELS, FakeOpenAIState
    from llmp_openai.testing._openai_wire import default_reply, format_duration

__all__ = [
    "DEFAULT_MODELS",
    "FakeOpenAIApp",
    "FakeOpenAIServer",
    "FakeOpenAIState",
    "default_reply",
    "format_duration",
]

# Where each public name lives, for the lazy loader below.
_HOMES = {
    "FakeOpenAIServer": "_fake_openai",
    "FakeOpenAIApp": "_fake_openai_app",
    "FakeOpenAIState": "_fake_openai_state",
    "DEFAULT_MODELS": "_fake_openai_state",
    "default_reply": "_openai_wire",
    "format_duration": "_openai_wire",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
