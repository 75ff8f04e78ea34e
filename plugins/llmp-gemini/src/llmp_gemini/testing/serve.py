"""``python -m llmp.testing.serve gemini``: the fake Gemini server's factory for that runner.

Registered in the ``llmp.testing.fakes`` entry-point group; `llmp.testing.serve` parses the flags
and hands over the knobs (see `llmp.testing.serve.FakeFactory`).
"""

from __future__ import annotations

from collections.abc import Iterable

from llmp.testing import ServerOptions
from llmp.testing._controlled import ControlledServer
from llmp_gemini.testing._fake_gemini import FakeGeminiServer


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
    non_stream_delay: float = 0.0,
) -> ControlledServer:
    """A `FakeGeminiServer` behind the control endpoints; base URL: the origin.

    ``reasoning_tokens`` are its thoughts tokens. ``non_stream_delay`` holds back a non-streamed
    ``generateContent`` request that long (this fake answers one after ``ttft`` alone).
    """
    fake = FakeGeminiServer(
        ttft=ttft,
        token_delay=token_delay,
        chunk_count=chunk_count,
        cached_tokens=cached_tokens,
        thoughts_tokens=reasoning_tokens,
        api_keys=api_keys,
        record=record,
    )

    def delay(path: str) -> float:
        return non_stream_delay if path.endswith(":generateContent") else 0.0

    return ControlledServer(fake, options=options, delay=delay if non_stream_delay else None)
