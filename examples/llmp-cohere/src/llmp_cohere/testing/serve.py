"""``python -m llmp.testing.serve cohere``: the fake Cohere server's factory for that runner,
registered in the ``llmp.testing.fakes`` entry-point group (see `llmp.testing.serve.FakeFactory`)."""

from __future__ import annotations

from collections.abc import Iterable

from llmp.testing import ControlledServer, ServerOptions

from llmp_cohere.testing._fake_cohere import FakeCohereServer


def serve_fake(
    options: ServerOptions,
    /,
    *,
    ttft: float,
    token_delay: float,
    chunk_count: int | None,
    api_keys: Iterable[str] | None,
    record: bool,
) -> ControlledServer:
    """The fake behind the ``/_fake/`` control endpoints (it has none of its own). It has no
    latency knobs: answers come at once."""
    return ControlledServer(FakeCohereServer(), options=options)
