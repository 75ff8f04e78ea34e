"""Throwaway TLS material for the local fake servers, all signed by one shared test CA.

Every fake server, in this process or in any ``python -m llmp.testing.serve``, gets its leaf
certificate from the CA kept in one directory: ``LLMP_TEST_CA_DIR`` (``serve --ca-dir``), else
a private per-user directory under the system temp dir. So one ``SSL_CERT_FILE`` (the CA's
``ca.pem``, see :func:`shared_ca_path`) trusts the fakes of every provider at once, as one system
bundle would. Clients trust it through ``SSL_CERT_FILE=<ca_path>`` (httpcore2's default SSL
context reads it) or through :meth:`TLSFiles.client_context`.

The CA can only vouch for loopback names: its certificate carries name constraints
(``localhost``, ``127.0.0.0/8``, ``::1``) that every TLS client enforces, so trusting it, or
anyone reading its key, can never make a certificate for a real host verify.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CA_DIR_ENV", "TLSFiles", "default_ca_dir", "make_tls_files", "shared_ca_path"]

#: Names the directory holding the shared test CA (``ca.pem``, ``ca-key.pem``).
CA_DIR_ENV = "LLMP_TEST_CA_DIR"

# The names a client may use to reach a server bound to loopback.
_IDENTITIES = ("localhost", "127.0.0.1", "::1")
_CA_CERT = "ca.pem"
_CA_KEY = "ca-key.pem"
_CA_NAME = "llmp fake server CA"


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files of one server: its key and chain in a private temporary directory, and the
    shared test CA (``ca_path``, outside that directory) that clients trust."""

    directory: Path
    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA (for clients that take ``verify=ctx``)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def remove(self) -> None:
        """Delete the server's key and certificate; the shared CA stays for the other servers."""
        shutil.rmtree(self.directory, ignore_errors=True)


def default_ca_dir() -> Path:
    """``$LLMP_TEST_CA_DIR``, else ``<temp dir>/llmp-test-ca-<user>``: where the test CA lives."""
    configured = os.environ.get(CA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"llmp-test-ca-{user}"


def shared_ca_path(ca_dir: str | os.PathLike[str] | None = None) -> Path:
    """The shared test CA's certificate (``SSL_CERT_FILE``), created in `ca_dir` if missing.

    `ca_dir` defaults to :func:`default_ca_dir`. Every fake server started with the same
    directory, in any process, has a certificate this one file verifies.
    """
    directory = Path(ca_dir) if ca_dir is not None else default_ca_dir()
    _load_or_create_ca(directory)
    return directory / _CA_CERT


def make_tls_files(
    directory: Path | None = None, *, ca_dir: str | os.PathLike[str] | None = None
) -> TLSFiles:
    """Issue a certificate for the loopback names from the shared test CA, written as PEM files.

    ``directory`` (the server's key and chain) defaults to a fresh ``mkdtemp`` directory, which
    the caller owns and removes with :meth:`TLSFiles.remove`. ``ca_dir`` is where the CA lives
    (default: :func:`default_ca_dir`); it is created on first use and then shared.
    """
    ca_root = Path(ca_dir) if ca_dir is not None else default_ca_dir()
    ca = _load_or_create_ca(ca_root)
    root = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="llmp-fake-tls-"))
    root.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*_IDENTITIES)
    files = TLSFiles(
        directory=root,
        ca_path=ca_root / _CA_CERT,
        cert_path=root / "server-chain.pem",
        key_path=root / "server-key.pem",
    )
    # The chain (leaf first) goes in one file because hypercorn takes certfile and keyfile apart.
    files.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_private(files.key_path, leaf.private_key_pem.bytes())
    return files


def _load_or_create_ca(directory: Path) -> Any:
    """The `trustme.CA` kept in `directory`, made there first if it holds none.

    Processes starting servers at the same moment must end up with the same CA, so the check
    and the creation happen under an exclusive lock on a file in the directory.
    """
    import trustme

    _private_dir(directory)
    cert_path, key_path = directory / _CA_CERT, directory / _CA_KEY
    with _locked(directory / ".lock"):
        if not (cert_path.is_file() and key_path.is_file()):
            cert_pem, key_pem = _new_ca_pems()
            # The key first: a reader that sees ca.pem can count on the key being there.
            _write_private(key_path, key_pem)
            _replace(cert_path, cert_pem)
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())


def _new_ca_pems() -> tuple[bytes, bytes]:
    # trustme's CA plus name constraints (which trustme cannot add): the same extensions as
    # trustme.CA() so leaves it issues verify under Python's strict X.509 checks too.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, "llmp test CA (loopback names only)"),
        ]
    )
    loopback: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    ]
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2000, 1, 1))
        .not_valid_after(datetime.datetime(3000, 1, 1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.NameConstraints(permitted_subtrees=loopback, excluded_subtrees=None), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix":
        return
    # It holds a CA key: a directory someone else owns or can write to could hold their CA.
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PermissionError(
            f"the test CA directory {directory} must be owned by you and writable only by you "
            f"(it holds the test CA's key): remove it, or point {CA_DIR_ENV} at another directory"
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, so only a simultaneous first start can race
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    _replace(path, data, mode=0o600)


def _replace(path: Path, data: bytes, mode: int = 0o644) -> None:
    # Written aside, then renamed: a reader never sees half a file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
