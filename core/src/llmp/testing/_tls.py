"""Throwaway TLS material for the local fake servers.

The CA is a trustme CA made fresh in each process (never a real one), so no test ever trusts a
certificate that could verify a real host; all fake servers of one process share it. Clients
trust the CA through ``SSL_CERT_FILE=<ca_path>`` (httpcore2's default SSL context reads it) or
through :meth:`TLSFiles.client_context`.
"""

from __future__ import annotations

import functools
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TLSFiles", "make_tls_files"]

# The names a client may use to reach a server bound to loopback.
_IDENTITIES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files in a private temporary directory: the CA and the server's key and chain."""

    directory: Path
    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (for clients that take ``verify=ctx``)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def remove(self) -> None:
        """Delete the directory; clients created afterwards can no longer load the CA."""
        shutil.rmtree(self.directory, ignore_errors=True)


@functools.cache
def _process_ca() -> Any:
    """One throwaway CA per process: every fake server started here (OpenAI, Gemini, Anthropic)
    gets a leaf from it, so one ``SSL_CERT_FILE`` trusts them all, as one system bundle would."""
    import trustme

    return trustme.CA(organization_name="llmp fake server CA")


def make_tls_files(directory: Path | None = None) -> TLSFiles:
    """Create a CA and a server certificate for the loopback names, written as PEM files.

    ``directory`` defaults to a fresh ``mkdtemp`` directory, which the caller owns and removes
    with :meth:`TLSFiles.remove`.
    """
    root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="llmp-fake-tls-"))
    root.mkdir(parents=True, exist_ok=True)
    ca = _process_ca()
    leaf = ca.issue_cert(*_IDENTITIES)
    files = TLSFiles(
        directory=root,
        ca_path=root / "ca.pem",
        cert_path=root / "server-chain.pem",
        key_path=root / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_path))
    # The chain (leaf first) goes in one file because hypercorn takes certfile and keyfile apart.
    files.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key_path))
    files.key_path.chmod(0o600)
    return files
