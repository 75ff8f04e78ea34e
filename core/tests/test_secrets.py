"""`llmp._secrets`: registered keys are scrubbed from text, values, errors, chains and log records."""

from __future__ import annotations

import json
import logging
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from llmp import _secrets, errors


def canary() -> str:
    return "sk-canary-" + secrets.token_urlsafe(24)


@pytest.fixture
def key() -> str:
    value = canary()
    _secrets.register(value)
    return value


def test_scrub_replaces_the_key_and_its_forms(key: str) -> None:
    marker = f"[redacted key {_secrets.fingerprint(key)}]"
    text = f"Bearer {key}; url=https://h/v1?key={urllib.parse.quote(key, safe='')}; json={json.dumps(key)}"
    scrubbed = _secrets.scrub(text)
    assert key not in scrubbed
    assert scrubbed.count(marker) == 3


def test_keys_with_characters_that_escape() -> None:
    key = 'k3y/with+odd"chars\\' + secrets.token_hex(8)
    _secrets.register(key)
    for form in (key, urllib.parse.quote(key, safe=""), urllib.parse.quote(key), json.dumps(key)[1:-1]):
        assert form not in _secrets.scrub(f"<{form}>")


def test_short_strings_are_not_keys() -> None:
    _secrets.register("k1")
    _secrets.register("")
    _secrets.register(None)
    assert _secrets.scrub("k1 and k2") == "k1 and k2"


def test_scrub_value_walks_containers_and_keeps_what_is_clean(key: str) -> None:
    body = {"error": {"message": f"bad key {key}", "param": None, key: [key.encode(), (1, key)]}}
    scrubbed = _secrets.scrub_value(body)
    assert key not in json.dumps(scrubbed, default=repr)
    assert scrubbed["error"]["param"] is None
    clean = {"a": ["b", 1, {"c": b"d"}]}
    assert _secrets.scrub_value(clean) is clean


def test_provider_error_scrubs_message_body_str_and_repr(key: str) -> None:
    error = errors.AuthenticationError(
        f"Invalid header value: Bearer {key}", provider="openai", status_code=401, body={"message": key}
    )
    for shown in (error.message, str(error), repr(error), json.dumps(error.body)):
        assert key not in shown
    assert _secrets.fingerprint(key) in error.message


class SDKError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.body = {"error": {"message": message}}


def test_the_exception_an_error_is_raised_from_is_scrubbed_too(key: str) -> None:
    import traceback

    def translate() -> None:
        try:
            raise SDKError(f"Error code: 401 - Invalid header value: Bearer {key}")
        except SDKError as exc:
            raise errors.AuthenticationError("rejected", provider="openai") from exc

    with pytest.raises(errors.AuthenticationError) as caught:
        translate()
    cause = caught.value.__cause__
    assert isinstance(cause, SDKError)
    printed = "".join(traceback.format_exception(caught.value))
    assert "Invalid header value" in printed
    assert key not in printed
    assert key not in cause.message
    assert key not in json.dumps(cause.body)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    caught: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = caught.append  # type: ignore[method-assign]
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield caught
    root.removeHandler(handler)
    root.setLevel(old_level)


def formatted(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


def test_log_records_are_scrubbed_before_any_handler(key: str, records: list[logging.LogRecord]) -> None:
    log = logging.getLogger("some.library")
    log.debug("sending %s", {"authorization": f"Bearer {key}"})
    log.info(f"key={key}")
    try:
        raise SDKError(f"echoed {key}")
    except SDKError:
        log.exception("failed")
    text = formatted(records)
    assert "sending" in text
    assert "echoed" in text  # the traceback is there, without the key
    assert key not in text


class Holder:
    def __init__(self, secret: str) -> None:
        self.secret = secret


class LoudError(Exception):
    """An exception whose text comes from its own __str__, out of an object nothing scrubs."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.holder = Holder(secret)

    def __str__(self) -> str:
        return f"loud {self.holder.secret}"


def test_a_traceback_from_a_custom_str_is_scrubbed(key: str, records: list[logging.LogRecord]) -> None:
    try:
        raise LoudError(key)
    except LoudError:
        logging.getLogger("x").exception("boom")
    text = formatted(records)
    assert "loud" in text
    assert key not in text


def test_hpack_header_blocks_are_not_logged(key: str, records: list[logging.LogRecord]) -> None:
    log = logging.getLogger("hpack.hpack")
    log.debug("Encoded header block to %s", b"\x82\x86\x84\xa9\x8f")  # Huffman code: no text to search
    log.debug("Adding %s=%s to the header table", b"content-type", b"application/json")
    text = formatted(records)
    assert "Encoded header block to <5 bytes of HPACK>" in text
    assert "Adding b'content-type'=b'application/json'" in text


def test_an_existing_record_factory_keeps_running(records: list[logging.LogRecord]) -> None:
    previous = logging.getLogRecordFactory()

    def tagging(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        record.tag = "mine"
        return record

    logging.setLogRecordFactory(tagging)
    try:
        key = canary()
        _secrets.register(key)  # a factory installed earlier in the process is still in the chain
        logging.getLogger("x").warning("key %s", key)
    finally:
        logging.setLogRecordFactory(previous)
    assert records[-1].tag == "mine"  # type: ignore[attr-defined]
    assert key not in records[-1].getMessage()


@pytest.mark.parametrize("how", ["a key registered with h2 loaded", "Lanes built"])
def test_credential_headers_are_never_indexed_by_h2(how: str, records: list[logging.LogRecord]) -> None:
    import h2.config
    import h2.connection
    import h2.utilities
    import hpack

    from llmp.wire import Lanes

    original = h2.utilities._SECURE_HEADERS
    h2s_own = frozenset({b"authorization", b"proxy-authorization"})
    key = canary()
    try:
        if how == "Lanes built":
            _secrets.register(key)
            h2.utilities._SECURE_HEADERS = h2s_own
            Lanes("https://example.invalid")
        else:
            h2.utilities._SECURE_HEADERS = h2s_own
            _secrets.register(key)
        encoded = _encoded_headers(h2, hpack, key)
    finally:
        h2.utilities._SECURE_HEADERS = original
    sensitive = {bytes(h[0]) for h in encoded if isinstance(h, hpack.NeverIndexedHeaderTuple)}
    assert sensitive >= {b"authorization", b"x-api-key", b"x-goog-api-key", b"api-key"}
    assert key not in formatted(records)
    assert "SENSITIVE_REDACTED" in formatted(records)


def _encoded_headers(h2: Any, hpack: Any, key: str) -> list[Any]:
    """The headers of one request with every credential header, as the server decodes them."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    connection.data_to_send()
    headers = [(":method", "POST"), (":path", "/"), (":scheme", "https"), (":authority", "h")]
    for name in ("authorization", "x-api-key", "x-goog-api-key", "api-key"):
        headers.append((name, key))
    connection.send_headers(1, headers, end_stream=True)
    frames = connection.data_to_send()
    block = frames[9:]  # one HEADERS frame: its 9-byte header, then the HPACK block
    return list(hpack.Decoder().decode(block, raw=True))
