"""pytest fixtures every plugin's tests may need (entry point ``pytest11: llmp``).

pytest loads this module in every run in an environment with llmp-core installed, so it imports
nothing heavy: the server code is imported inside the fixtures, only by tests that use them.
A provider's fake server and its fixtures ship in that provider's plugin (``fake_openai`` in
llmp-openai, ``fake_gemini`` in llmp-gemini, ``fake_anthropic`` in llmp-litellm).

- ``redis_server`` (function): a real ``redis-server`` on a free port (one per session),
  running and flushed; ``redis_server.url``, ``.kill()``, ``.restart()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmp.testing._redis import RedisServer


@pytest.fixture(scope="session")
def redis_server_process() -> Iterator[RedisServer]:
    """One real ``redis-server`` for the session (see `llmp.testing.RedisServer`)."""
    from llmp.testing._redis import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_server(redis_server_process: RedisServer) -> Iterator[RedisServer]:
    """The session's ``redis-server``, running (restarted if a test stopped it) and empty."""
    server = redis_server_process
    server.start()
    server.flush()
    yield server
    if server.running:
        server.flush()
