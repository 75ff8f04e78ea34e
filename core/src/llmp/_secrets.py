"""Every API key llmp has seen, and scrubbing them out of whatever llmp shows, stores or logs.

A key must never reach a repr, log line, exception, file or CLI output, even when a provider
echoes it back ("Invalid header value: Bearer sk-..."). So every key llmp reads or is given is
`register`-ed (`llmp._keys` does it), and:

- `scrub` / `scrub_value` replace each key, and its URL- and JSON-escaped forms, with a marker
  naming the key's fingerprint (``[redacted key 1a2b3c4d5e6f]``); `llmp.errors.ProviderError`
  scrubs its message and body, and the exception it is raised from, as it is built;
- the first registration installs a log record factory (chaining any factory already set) that
  scrubs each record's message, arguments and traceback text before any handler sees it. It runs
  only for records that are actually created: a logger below its level never calls it, so
  logging that is off costs exactly what it did (bench/scrubbing.py). hpack's DEBUG records carry
  HPACK-encoded header blocks, where a key is Huffman-coded and no text search finds it: those
  (binary) arguments are replaced by their length;
- credential headers become HPACK never-indexed (`llmp.wire._hpack`), so h2 keeps them out of
  its compression table and hpack logs them as ``SENSITIVE_REDACTED``: at registration if h2 is
  loaded already, else when `llmp.wire.Lanes` is built (importing h2 here would slow every cold
  start that never speaks HTTP/2).
"""

from __future__ import annotations

import re
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

# Importing llmp.errors imports this module: it loads nothing else until a key is registered.

__all__ = ["fingerprint", "register", "scrub", "scrub_exception", "scrub_value"]

# Shorter strings are not keys (test placeholders like "k1"); scrubbing them would mangle text.
MIN_KEY_LENGTH = 8
_CHAIN_DEPTH = 10

_lock = threading.Lock()
_keys: set[str] = set()
_markers: dict[str, str] = {}  # each form of each key -> its marker
_byte_markers: dict[bytes, bytes] = {}
_pattern: re.Pattern[str] | None = None
_byte_pattern: re.Pattern[bytes] | None = None
_logging_installed = False
_MISSING = object()


def fingerprint(key: str | None) -> str:
    """A short, irreversible tag for a key: safe in logs, ids and cache metadata."""
    import hashlib

    if not key:
        return "nokey"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _forms(key: str) -> set[str]:
    """The key as it may appear in text: itself, URL-quoted (a ``?key=`` query), JSON-escaped."""
    import json
    import urllib.parse

    return {key, urllib.parse.quote(key, safe=""), urllib.parse.quote(key), json.dumps(key)[1:-1]}


def register(key: str | None) -> None:
    """Remember ``key`` as a secret to scrub from now on (process-wide; idempotent, thread-safe)."""
    global _pattern, _byte_pattern
    if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH or key in _keys:
        return
    with _lock:
        if key in _keys:
            return
        marker = f"[redacted key {fingerprint(key)}]"
        for form in _forms(key):
            _markers[form] = marker
            _byte_markers[form.encode()] = marker.encode()
        _keys.add(key)
        # Longest first, so a key that contains another is replaced whole.
        forms = sorted(_markers, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, forms)))
        _byte_pattern = re.compile(b"|".join(re.escape(f.encode()) for f in forms))
        _install_logging()
    if "h2.utilities" in sys.modules:  # else `llmp.wire.Lanes` does it, when h2 is needed anyway
        from llmp.wire._hpack import never_index_credentials

        never_index_credentials()


def scrub(text: str) -> str:
    """``text`` with every registered key (and its obvious forms) replaced by a marker."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    return _markers[match.group(0)]


def _replace_bytes(match: re.Match[bytes]) -> bytes:
    return _byte_markers[match.group(0)]


def scrub_value(value: Any, _depth: int = 0) -> Any:
    """``value`` with keys scrubbed from every string and bytes in it, through dicts (keys and
    values), lists and tuples; other objects are returned as they are. A new value is built
    only where something changed."""
    if _pattern is None or _depth > 64:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bytes | bytearray):
        assert _byte_pattern is not None
        scrubbed = _byte_pattern.sub(_replace_bytes, bytes(value))
        return value if scrubbed == value else type(value)(scrubbed)
    if isinstance(value, dict):
        items = {scrub_value(k, _depth + 1): scrub_value(v, _depth + 1) for k, v in value.items()}
        same = len(items) == len(value) and all(items.get(k, _MISSING) is v for k, v in value.items())
        return value if same else items
    if isinstance(value, list | tuple):
        new = [scrub_value(v, _depth + 1) for v in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        return new if isinstance(value, list) else tuple(new)
    return value


def scrub_exception(exc: BaseException | None) -> None:
    """Scrub keys, in place, from ``exc`` and the exceptions it was raised from or during: their
    ``args`` (what ``str`` shows) and their string, bytes, dict and list attributes (an SDK
    error's ``message`` and ``body``), so a printed traceback does not show them either."""
    if _pattern is None:
        return
    seen: list[BaseException] = []
    while exc is not None and len(seen) < _CHAIN_DEPTH and not any(exc is s for s in seen):
        seen.append(exc)
        try:
            args = scrub_value(exc.args)
            if args is not exc.args:
                exc.args = tuple(args)
            for name, value in list(getattr(exc, "__dict__", {}).items()):
                if isinstance(value, str | bytes | bytearray | dict | list | tuple):
                    scrubbed = scrub_value(value)
                    if scrubbed is not value:
                        setattr(exc, name, scrubbed)
        except Exception:  # an exception type that refuses changes keeps its text; llmp's own do not
            pass
        exc = exc.__cause__ or exc.__context__


# ----- logging -----


def _scrub_record(record: logging.LogRecord) -> None:
    if record.args and record.name.startswith("hpack") and isinstance(record.args, tuple):
        record.args = tuple(_unless_binary(a) for a in record.args)
    try:
        message = record.getMessage()
    except Exception:
        return  # a bad format string: the handler reports it, with nothing formatted to leak
    scrubbed = scrub(message)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    if record.exc_info and record.exc_info[1] is not None:
        scrub_exception(record.exc_info[1])
        if not record.exc_text:
            text = _format_exception(record.exc_info)
            if scrub(text) != text:  # an exception whose own __str__ shows a key
                record.exc_text = scrub(text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def _unless_binary(arg: Any) -> Any:
    """An HPACK-encoded block as its length; header names and values (printable) as they are."""
    if isinstance(arg, bytes | bytearray | memoryview):
        text = bytes(arg).decode("latin-1")
        if not text.isprintable():
            return f"<{len(arg)} bytes of HPACK>"
    return arg


def _format_exception(exc_info: Any) -> str:
    import logging

    return logging.Formatter().formatException(exc_info)


def _install_logging() -> None:
    """Chain a scrubbing step onto the log record factory (once per process)."""
    import logging

    global _logging_installed
    if _logging_installed:
        return
    previous = logging.getLogRecordFactory()

    def scrubbing_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(scrubbing_factory)
    _logging_installed = True
