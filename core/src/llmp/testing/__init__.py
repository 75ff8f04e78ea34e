"""What every plugin author needs to test a plugin without the internet (no network needed).

- `FunctionClient`: an in-process `Client` whose replies come from a Python function, for testing
  the core and code built on llmp without TLS or any plugin.
- The fake servers' common base: `BackgroundServer` (an ASGI app over TLS with HTTP/2 and
  HTTP/1.1 on loopback), `BackgroundServed` (a fake's start, stop and base URL),
  `ControlledServer`, `SpawnedServer` and ``python -m llmp.testing.serve`` (a fake in its own
  process), the ASGI plumbing a fake needs (`serve_lifespan`, `read_body`, `headers_of`), the shared
  test CA (`make_tls_files`, `shared_ca_path`), `FakeServerState` (knobs,
  records, counters, rate-limit budgets), fault injection (`StatusError`, `rate_limited()`, ...),
  the answer rules every fake follows (`plan_answer`), `RawH2Server` (frame-level HTTP/2
  misbehaviour) and `RedisServer` (a real redis-server).
- `ProviderConformance`: the conformance suite every plugin runs against its own fake.

A provider's fake server ships in that provider's plugin, with its pytest fixtures:
``llmp_openai.testing.FakeOpenAIServer`` (``fake_openai``), ``llmp_gemini.testing.FakeGeminiServer``
(``fake_gemini``), ``llmp_litellm.testing.FakeAnthropicServer`` (``fake_anthropic``).

``llmp`` never imports this package. Names load on first use, so the pytest plugin (which every
test run imports) costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp.testing._asgi import headers_of, read_body, serve_lifespan
    from llmp.testing._conformance import ProviderConformance
    from llmp.testing._controlled import ControlledServer
    from llmp.testing._fake_state import FakeServerState, RequestRecord
    from llmp.testing._faults import (
        EchoKey,
        EmptyAnswer,
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
    from llmp.testing._function_client import (
        FULL_CAPABILITIES,
        FunctionBatch,
        FunctionClient,
        function_registry,
    )
    from llmp.testing._raw_h2 import RawH2Server
    from llmp.testing._redis import RedisServer
    from llmp.testing._script import Plan, example_for_schema, plan_answer
    from llmp.testing._served import BackgroundServed
    from llmp.testing._server import BackgroundServer, ServerOptions, SpawnedServer, spawn_server
    from llmp.testing._tls import TLSFiles, make_tls_files, shared_ca_path
    from llmp.testing._wire import ErrorResponse

__all__ = [
    "FULL_CAPABILITIES",
    "BackgroundServed",
    "BackgroundServer",
    "ControlledServer",
    "EchoKey",
    "EmptyAnswer",
    "ErrorResponse",
    "FakeServerState",
    "Fault",
    "FunctionBatch",
    "FunctionClient",
    "HugeLine",
    "Injection",
    "MalformedChunk",
    "Plan",
    "ProviderConformance",
    "RawH2Server",
    "RedisServer",
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
    "echo_key",
    "example_for_schema",
    "function_registry",
    "headers_of",
    "huge_line",
    "make_tls_files",
    "malformed_chunk",
    "plan_answer",
    "quota_exceeded",
    "rate_limited",
    "read_body",
    "reset_mid_stream",
    "serve_lifespan",
    "server_error",
    "shared_ca_path",
    "slow",
    "spawn_server",
    "trickle",
    "truncated_stream",
]

# Where each public name lives, for the lazy loader below (names not listed: `_faults`).
_HOMES = {
    "headers_of": "_asgi",
    "read_body": "_asgi",
    "serve_lifespan": "_asgi",
    "ProviderConformance": "_conformance",
    "ControlledServer": "_controlled",
    "FakeServerState": "_fake_state",
    "RequestRecord": "_fake_state",
    "FunctionClient": "_function_client",
    "FunctionBatch": "_function_client",
    "FULL_CAPABILITIES": "_function_client",
    "function_registry": "_function_client",
    "RawH2Server": "_raw_h2",
    "RedisServer": "_redis",
    "BackgroundServed": "_served",
    "Plan": "_script",
    "example_for_schema": "_script",
    "plan_answer": "_script",
    "BackgroundServer": "_server",
    "ServerOptions": "_server",
    "SpawnedServer": "_server",
    "spawn_server": "_server",
    "TLSFiles": "_tls",
    "make_tls_files": "_tls",
    "shared_ca_path": "_tls",
    "ErrorResponse": "_wire",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES.get(name, '_faults')}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
