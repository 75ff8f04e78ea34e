"""Transport failures (httpx2, httpcore2, h2, ssl) as `llmp.errors`.

Nothing here imports httpx2 or h2: an exception of theirs can only exist once they are imported,
so their classes are looked up in ``sys.modules``. A plugin on another transport gets None for
exceptions this module does not know, and keeps its own translation for those.
"""

from __future__ import annotations

import socket
import ssl
import sys

from llmp import errors

__all__ = ["error_from_transport", "is_tls_failure", "is_transport_failure"]

# How far down ``__cause__``/``__context__`` to look: httpx2 wraps httpcore2, which wraps ssl.
_CHAIN_DEPTH = 10
_TLS_MESSAGE = (
    "the server's TLS certificate is not trusted. Check the base URL, or point SSL_CERT_FILE at "
    "the CA bundle that signed it."
)
_TIMEOUT_KINDS = {
    "ConnectTimeout": "no connection within the connect timeout",
    "ReadTimeout": "no data within the read timeout",
    "WriteTimeout": "the request could not be sent within the write timeout",
    "PoolTimeout": "no free connection within the pool timeout",
}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < _CHAIN_DEPTH and not any(current is s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a certificate the client did not
    trust: an unknown CA, an expired certificate, a name mismatch. Retrying cannot fix that."""
    for seen in _chain(exc):
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if isinstance(seen, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
    return False


def _classes(module: str, *names: str) -> tuple[type[BaseException], ...]:
    loaded = sys.modules.get(module)
    if loaded is None:
        return ()
    return tuple(c for c in (getattr(loaded, name, None) for name in names) if isinstance(c, type))


def _describe(exc: BaseException) -> str:
    # httpx2's own messages are often empty ("ReadError: "); the cause usually says more.
    cause = exc.__cause__
    text = str(exc) or (str(cause) if cause is not None else "")
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _transport_classes() -> tuple[type[BaseException], ...]:
    return (
        _classes("httpx2", "TransportError")
        + _classes("httpcore2", "ConnectionNotAvailable", "ProtocolError", "NetworkError", "ProxyError")
        + _classes("h2.exceptions", "H2Error")
        + _classes("hpack", "HPACKError")
    )


def is_transport_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection under a request failed (httpx2's transport errors and
    timeouts, httpcore2's, h2's and hpack's, a reset socket), as opposed to a bad answer."""
    transport = _transport_classes() + _classes("httpcore2", "TimeoutException")
    return (bool(transport) and isinstance(exc, transport)) or isinstance(exc, ConnectionError | ssl.SSLError)


def error_from_transport(exc: BaseException, provider: str) -> errors.ProviderError | None:
    """The llmp error for a transport exception, or None for one this does not know.

    - httpx2 (and httpcore2) timeouts: `ProviderTimeoutError` (retried).
    - An untrusted certificate anywhere in the chain: `TLSError` (not retried).
    - httpx2 connect, read, write and protocol errors, httpcore2 errors that escape unwrapped,
      h2/hpack protocol errors (httpcore2 lets some through, e.g. frames after a GOAWAY), and
      a reset or refused socket, a TLS or DNS failure no layer wrapped: `ProviderConnectionError`
      (retried).
    - httpx2's ``UnsupportedProtocol`` (a base URL that is not http/https): `BadRequestError`.

    A `ProviderError` is returned as it is, so a plugin's catch-all can pass anything here.
    """
    if isinstance(exc, errors.ProviderError):
        return exc
    timeouts = _classes("httpx2", "TimeoutException") + _classes("httpcore2", "TimeoutException")
    if timeouts and isinstance(exc, timeouts):
        why = _TIMEOUT_KINDS.get(type(exc).__name__, "no complete response within the timeout")
        return errors.ProviderTimeoutError(why, provider=provider)
    if is_tls_failure(exc):
        return errors.TLSError(_TLS_MESSAGE, provider=provider)
    unsupported = _classes("httpx2", "UnsupportedProtocol") + _classes("httpcore2", "UnsupportedProtocol")
    if unsupported and isinstance(exc, unsupported):
        return errors.BadRequestError(
            f"{_describe(exc)} (the base URL must be http:// or https://)", provider=provider
        )
    transport = _transport_classes()
    if transport and isinstance(exc, transport):
        label = "HTTP/2 protocol error: " if type(exc).__module__.startswith(("h2", "hpack")) else ""
        return errors.ProviderConnectionError(label + _describe(exc), provider=provider)
    if isinstance(exc, ConnectionError | ssl.SSLError | socket.gaierror):  # a socket no layer wrapped
        return errors.ProviderConnectionError(_describe(exc), provider=provider)
    return None
