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
    from llmp.testing._conformance import ProviderConformance
    from llmp.testing._fake_openai import FakeOpenAIServer
    from llmp.testing._fake_openai_app import FakeOpenAIApp
    from llmp.testing._fake_openai_state import DEFAULT_MODELS, FakeOpenAIState
    from llmp.testing._fake_state import RequestRecord
    from llmp.testing._faults import (
        EchoKey,
        Fault,
        HugeLine,
        Injection,
        MalformedChunk,
        ResetMidStream,
        Slow,
        StatusError,
        Trickle,
        TruncatedStream,
        bad_request,
        echo_key,
        huge_line,
        malformed_chunk,
        quota_exceeded,
        rate_limited,
        reset_mid_stream,
        server_error,
        slow,
        trickle,
        truncated_stream,
    )
    from llmp.testing._openai_wire import default_reply, format_duration
    from llmp.testing._server import BackgroundServer, ServerOptions, SpawnedServer
    from llmp.testing._tls import TLSFiles, make_tls_files

__all__ = [
    "DEFAULT_MODELS",
    "BackgroundServer",
    "EchoKey",
    "FakeOpenAIApp",
    "FakeOpenAIServer",
    "FakeOpenAIState",
    "Fault",
    "HugeLine",
    "Injection",
    "MalformedChunk",
    "ProviderConformance",
    "RequestRecord",
    "ResetMidStream",
    "ServerOptions",
    "Slow",
    "SpawnedServer",
    "StatusError",
    "TLSFiles",
    "Trickle",
    "TruncatedStream",
    "bad_request",
    "default_reply",
    "echo_key",
    "format_duration",
    "huge_line",
    "make_tls_files",
    "malformed_chunk",
    "quota_exceeded",
    "rate_limited",
    "reset_mid_stream",
    "server_error",
    "slow",
    "trickle",
    "truncated_stream",
]

# Where each public name lives, for the lazy loader below.
_HOMES = {
    "ProviderConformance": "_conformance",
    "FakeOpenAIServer": "_fake_openai",
    "DEFAULT_MODELS": "_fake_openai_state",
    "FakeOpenAIApp": "_fake_openai_app",
    "FakeOpenAIState": "_fake_openai_state",
    "RequestRecord": "_fake_state",
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


# The fake Gemini server (llmp-gemini's wire), loaded lazily like the names above.
if TYPE_CHECKING:
    from llmp.testing._fake_gemini import FakeGeminiServer, GeminiRequestRecord
__all__ += ["FakeGeminiServer", "GeminiRequestRecord"]
_HOMES.update({"FakeGeminiServer": "_fake_gemini", "GeminiRequestRecord": "_fake_gemini"})

# The fake Anthropic Messages server (llmp-litellm's wire), loaded lazily like the names above.
if TYPE_CHECKING:
    from llmp.testing._fake_anthropic import DEFAULT_ANTHROPIC_MODELS, FakeAnthropicServer
__all__ += ["DEFAULT_ANTHROPIC_MODELS", "FakeAnthropicServer"]
_HOMES.update({"FakeAnthropicServer": "_fake_anthropic", "DEFAULT_ANTHROPIC_MODELS": "_fake_anthropic"})

# A real redis-server for tests of the Redis cache and cluster limits.
if TYPE_CHECKING:
    from llmp.testing._redis import RedisServer
__all__ += ["RedisServer"]
_HOMES.update({"RedisServer": "_redis"})

# The in-process client double for testing the core and code built on llmp.
if TYPE_CHECKING:
    from llmp.testing._function_client import (
        FULL_CAPABILITIES,
        FunctionBatch,
        FunctionClient,
        function_registry,
    )
__all__ += ["FULL_CAPABILITIES", "FunctionBatch", "FunctionClient", "function_registry"]
_HOMES.update(
    {
        "FunctionClient": "_function_client",
        "FunctionBatch": "_function_client",
        "FULL_CAPABILITIES": "_function_client",
        "function_registry": "_function_client",
    }
)

# Faults and answer rules every provider's fake shares.
if TYPE_CHECKING:
    from llmp.testing._faults import EmptyAnswer
    from llmp.testing._script import Plan, example_for_schema, plan_answer
__all__ += ["EmptyAnswer", "Plan", "example_for_schema", "plan_answer"]
_HOMES.update({"Plan": "_script", "example_for_schema": "_script", "plan_answer": "_script"})

# The one test CA every fake server's certificate comes from (SSL_CERT_FILE for all of them).
if TYPE_CHECKING:
    from llmp.testing._tls import shared_ca_path
__all__ += ["shared_ca_path"]
_HOMES.update({"shared_ca_path": "_tls"})

# A raw HTTP/2 server that misbehaves at the frame level (GOAWAY mid-body, dropped sessions).
if TYPE_CHECKING:
    from llmp.testing._raw_h2 import RawH2Server
__all__ += ["RawH2Server"]
_HOMES.update({"RawH2Server": "_raw_h2"})
