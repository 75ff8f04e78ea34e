"""`BackgroundServed`: the lifecycle every fake server shares, on a `BackgroundServer`.

A fake keeps its `BackgroundServer` in ``_server`` and gets ``start``/``stop``, the context
manager, and where clients reach it (:attr:`base_url`, :attr:`ca_path`, :attr:`port`) from here.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from llmp.testing._server import BackgroundServer

__all__ = ["BackgroundServed"]


class BackgroundServed:
    """Start, stop and address a fake served by the `BackgroundServer` in ``self._server``."""

    _server: BackgroundServer
    #: What clients append to the origin for their base URL (``"/v1"`` for OpenAI's; ``""``: none).
    base_path: str = ""

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>`` plus :attr:`base_path`."""
        return self._server.origin + self.base_path

    @property
    def ca_path(self) -> Path:
        """The test CA's certificate: point ``SSL_CERT_FILE`` at it."""
        return self._server.tls.ca_path

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def running(self) -> bool:
        return self._server.running

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
