"""Local fake provider servers for tests, demos and benchmarks (no network needed).

``FakeOpenAIServer`` speaks OpenAI's chat-completions wire over TLS with HTTP/2 and HTTP/1.1,
records what it receives and injects faults on request. The pytest fixtures ``fake_openai`` and
``fake_openai_server`` (registered by the ``llmp`` pytest plugin) give tests a shared instance.

``llmp`` never imports this package. Names load on first use, so the pytest plugin (which every
test run imports) costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp.testing._fake_openai import FakeOpenAIServer
    from llmp.testing._fake_openai_app import DEFAULT_MODELS, FakeOpenAIApp, RequestRecord
    from llmp.testing._faults import (
        Fault,
        Injection,
        MalformedChunk,
        ResetMidStream,
        Slow,
        StatusError,
        TruncatedStream,
        bad_request,
        malformed_chunk,
        quota_exceeded,
        rate_limited,
        reset_mid_stream,
        server_error,
        slow,
        truncated_stream,
    )
    from llmp.testing._openai_wire import default_reply, format_duration
    from llmp.testing._server import BackgroundServer, ServerOptions, SpawnedServer
    from llmp.testing._tls import TLSFiles, make_tls_files

__all__ = [
    "DEFAULT_MODELS",
    "BackgroundServer",
    "FakeOpenAIApp",
    "FakeOpenAIServer",
    "Fault",
    "Injection",
    "MalformedChunk",
    "RequestRecord",
    "ResetMidStream",
    "ServerOptions",
    "Slow",
    "SpawnedServer",
    "StatusError",
    "TLSFiles",
    "TruncatedStream",
    "bad_request",
    "default_reply",
    "format_duration",
    "make_tls_files",
    "malformed_chunk",
    "quota_exceeded",
    "rate_limited",
    "reset_mid_stream",
    "server_error",
    "slow",
    "truncated_stream",
]

# Where each public name lives, for the lazy loader below.
_HOMES = {
    "FakeOpenAIServer": "_fake_openai",
    "DEFAULT_MODELS": "_fake_openai_app",
    "FakeOpenAIApp": "_fake_openai_app",
    "RequestRecord": "_fake_openai_app",
    "default_reply": "_openai_wire",
    "format_duration": "_openai_wire",
    "BackgroundServer": "_server",
    "ServerOptions": "_server",
    "SpawnedServer": "_server",
    "TLSFiles": "_tls",
    "make_tls_files": "_tls",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES.get(name, '_faults')}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
