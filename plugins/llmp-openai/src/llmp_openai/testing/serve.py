"""``python -m llmp.testing.serve openai``: the fake OpenAI server's factory for that runner.

Registered in the ``llmp.testing.fakes`` entry-point group; `llmp.testing.serve` parses the flags
and hands over the knobs (see `llmp.testing.serve.FakeFactory`).
"""

from __future__ import annotations

from collections.abc import Iterable

from llmp.testing import ServerOptions
from llmp_openai.testing._fake_openai import FakeOpenAIServer


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
    reasoning_tokens: int = 0,
    rpm: int | None = None,
    tpm: int | None = None,
) -> FakeOpenAIServer:
    """A `FakeOpenAIServer` (it has the ``/_fake/`` control endpoints built in; base URL ``/v1``)."""
    return FakeOpenAIServer(
        ttft=ttft,
        token_delay=token_delay,
        chunk_count=chunk_count,
        cached_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
        api_keys=api_keys,
        rpm=rpm,
        tpm=tpm,
        record=record,
        options=options,
    )
