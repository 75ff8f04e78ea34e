"""`llmp.wire.error_from_transport` and `is_tls_failure` on the exceptions real failures raise."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx2
import pytest

from llmp import errors
from llmp.testing._raw_h2 import RawH2Server
from llmp.wire import error_from_transport, is_tls_failure


@pytest.fixture(scope="module")
def server() -> Iterator[RawH2Server]:
    with RawH2Server() as running:
        yield running


async def failure(url: str, **client: object) -> BaseException:
    async with httpx2.AsyncClient(http2=True, **client) as http:  # type: ignore[arg-type]
        try:
            await http.get(url)
        except Exception as exc:
            return exc
    raise AssertionError(f"GET {url} did not fail")


async def test_an_untrusted_certificate_is_a_tls_error(server: RawH2Server) -> None:
    untrusting = ssl.create_default_context()  # the system CAs, not the test CA
    exc = await failure(server.url("/ok"), verify=untrusting)
    assert isinstance(exc, httpx2.ConnectError)
    assert is_tls_failure(exc)
    error = error_from_transport(exc, "raw")
    assert isinstance(error, errors.TLSError)
    assert not error.retryable
    assert "SSL_CERT_FILE" in error.message


async def test_a_read_timeout(server: RawH2Server) -> None:
    assert server.tls is not None
    exc = await failure(
        server.url("/trickle?interval=0.5&count=4"),
        verify=server.tls.client_context(),
        timeout=httpx2.Timeout(5.0, read=0.1),
    )
    error = error_from_transport(exc, "raw")
    assert isinstance(error, errors.ProviderTimeoutError)
    assert error.retryable
    assert "read timeout" in error.message
    assert not is_tls_failure(exc)


async def test_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connecting is refused
        exc = await failure(f"https://127.0.0.1:{port}/")
    error = error_from_transport(exc, "raw")
    assert type(error) is errors.ProviderConnectionError
    assert "ConnectError" in error.message


async def test_a_dropped_session(server: RawH2Server) -> None:
    assert server.tls is not None
    exc = await failure(server.url("/destroy"), verify=server.tls.client_context())
    assert isinstance(exc, httpx2.RemoteProtocolError)
    assert type(error_from_transport(exc, "raw")) is errors.ProviderConnectionError


async def test_an_h2_protocol_error_that_escapes_unwrapped(server: RawH2Server) -> None:
    import h2.exceptions

    assert server.tls is not None
    exc = await failure(server.url("/goaway?then=rest"), verify=server.tls.client_context())
    assert isinstance(exc, h2.exceptions.ProtocolError)  # not an httpx2 error: httpcore2 lets it out
    error = error_from_transport(exc, "raw")
    assert type(error) is errors.ProviderConnectionError
    assert error.message.startswith("HTTP/2 protocol error: ProtocolError")


async def test_an_unsupported_scheme_is_a_bad_request() -> None:
    exc = await failure("ftp://127.0.0.1/")
    error = error_from_transport(exc, "raw")
    assert isinstance(error, errors.BadRequestError)
    assert "http:// or https://" in error.message


def test_a_bare_reset_socket() -> None:
    assert (
        type(error_from_transport(ConnectionResetError(104, "reset"), "raw"))
        is errors.ProviderConnectionError
    )


def test_other_exceptions_are_not_transport_errors() -> None:
    assert error_from_transport(ValueError("no"), "raw") is None
    assert error_from_transport(FileNotFoundError("ca.pem"), "raw") is None


def test_an_llmp_error_passes_through() -> None:
    error = errors.ServerError("down", provider="raw")
    assert error_from_transport(error, "raw") is error


def test_tls_failure_deep_in_a_chain_and_a_cycle() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    outer = RuntimeError("outer")
    middle = OSError("middle")
    middle.__cause__ = cause
    outer.__context__ = middle
    assert is_tls_failure(outer)
    loop_a, loop_b = RuntimeError("a"), RuntimeError("b")
    loop_a.__context__, loop_b.__context__ = loop_b, loop_a
    assert not is_tls_failure(loop_a)
