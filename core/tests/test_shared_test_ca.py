"""One test CA for every fake server: in this process and in every ``python -m llmp.testing.serve``
started with the same CA directory, so one ``SSL_CERT_FILE`` trusts the fakes of all providers."""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import trustme

from llmp.testing import shared_ca_path
from llmp.testing._tls import CA_DIR_ENV, default_ca_dir, make_tls_files


def test_processes_starting_at_once_end_up_with_the_same_ca(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    script = (
        "import hashlib, sys; from llmp.testing._tls import make_tls_files; "
        "files = make_tls_files(ca_dir=sys.argv[1]); "
        "print(hashlib.sha256(files.ca_path.read_bytes()).hexdigest()); files.remove()"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(ca_dir)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    digests = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    assert digests == {hashlib.sha256((ca_dir / "ca.pem").read_bytes()).hexdigest()}
    assert (ca_dir / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert ca_dir.stat().st_mode & 0o777 == 0o700


def _handshake(ca_file: Path, leaf: trustme.LeafCert, hostname: str) -> None:
    """A TLS handshake over a socket pair: a server with `leaf`, a client trusting only `ca_file`."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    server_sock, client_sock = socket.socketpair()
    errors: list[BaseException] = []

    def serve_one() -> None:
        try:
            with server_context.wrap_socket(server_sock, server_side=True):
                pass
        except (ssl.SSLError, OSError) as exc:  # the client gave up: its error is the one to see
            errors.append(exc)

    thread = threading.Thread(target=serve_one)
    thread.start()
    try:
        with client_context.wrap_socket(client_sock, server_hostname=hostname):
            pass
    finally:
        client_sock.close()
        thread.join(10)
        server_sock.close()


def test_the_ca_can_only_vouch_for_loopback_names(tmp_path: Path) -> None:
    ca_file = shared_ca_path(tmp_path / "ca")
    # Anyone who reads the CA's key can issue certificates; none verifies for a real host.
    ca = trustme.CA.from_pem(ca_file.read_bytes(), (tmp_path / "ca" / "ca-key.pem").read_bytes())
    _handshake(ca_file, ca.issue_cert("localhost", "127.0.0.1"), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation"):
        _handshake(ca_file, ca.issue_cert("api.openai.com"), "api.openai.com")


def test_the_fakes_certificates_verify_under_strict_x509_checks(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "server", ca_dir=tmp_path / "ca")
    # The fake's own key and chain, as hypercorn loads them.
    leaf = trustme.LeafCert(files.key_path.read_bytes(), files.cert_path.read_bytes(), [])
    _handshake(files.ca_path, leaf, "127.0.0.1")
    files.remove()
    assert files.ca_path.is_file(), "stopping one server must not take the shared CA away"


def test_the_default_ca_directory_is_per_user_under_the_temp_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CA_DIR_ENV)
    default = default_ca_dir()
    assert default.parent == Path(tempfile.gettempdir())
    assert default.name.startswith("llmp-test-ca-")
    assert default.name != "llmp-test-ca-", "the user's id or name is part of it"
    monkeypatch.setenv(CA_DIR_ENV, "/elsewhere/ca")
    assert default_ca_dir() == Path("/elsewhere/ca")


def test_a_ca_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match=CA_DIR_ENV):
        shared_ca_path(shared)
    assert not (shared / "ca-key.pem").exists()
