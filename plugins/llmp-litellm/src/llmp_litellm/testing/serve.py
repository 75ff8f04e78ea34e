"""``python -m llmp.testing.serve anthropic``: the fake Anthropic server's factory for that runner.

Registered in the ``llmp.testing.fakes`` entry-point group; `llmp.testing.serve` parses the flags
and hands over the knobs (see `llmp.testing.serve.FakeFactory`).
"""

from __future__ import annotations

from collections.abc import Iterable

from llmp.testing import ServerOptions
from llmp.testing._controlled import ControlledServer
from llmp_litellm.testing._fake_anthropic import FakeAnthropicServer


def serve_fake(
    options: ServerOptions,
    /,
    *,
    ttft: float,
    token_delay: float,
    chunk_count: int | None,
    api_keys: Iterable[str] | None,
    record: bool,
    cached_tokens: int = 0,
    rpm: int | None = None,
    tpm: int | None = None,
) -> ControlledServer:
    """A `FakeAnthropicServer` behind the control endpoints (``cached_tokens`` are cache reads);
    base URL: the origin."""
    fake = FakeAnthropicServer(
        ttft=ttft,
        token_delay=token_delay,
        chunk_count=chunk_count,
        cache_read_tokens=cached_tokens,
        api_keys=api_keys,
        rpm=rpm,
        tpm=tpm,
        record=record,
    )
    return ControlledServer(fake, options=options)
