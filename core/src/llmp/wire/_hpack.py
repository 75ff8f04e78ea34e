"""Credential headers as HPACK never-indexed fields, so a key never sits in a compression table.

h2 already sends ``authorization`` and ``proxy-authorization`` never-indexed (RFC 7541 §7.1.3):
they stay out of both ends' dynamic tables and intermediaries must not index them either, and
hpack logs their value as ``SENSITIVE_REDACTED`` rather than the key. Providers also use
``x-api-key`` (Anthropic), ``x-goog-api-key`` (Gemini) and ``api-key`` (Azure OpenAI); h2
decides by one module-level set, read on every header block, so adding those names to it is
the whole change. The cost is the key's bytes on every request instead of one index byte.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["CREDENTIAL_HEADERS", "never_index_credentials"]

CREDENTIAL_HEADERS = frozenset(
    {b"authorization", b"proxy-authorization", b"x-api-key", b"x-goog-api-key", b"api-key"}
)


def never_index_credentials() -> bool:
    """Make h2 send every `CREDENTIAL_HEADERS` name never-indexed (idempotent, process-wide).

    Returns False when h2 is not installed or no longer has the set this relies on.
    """
    if "h2.utilities" not in sys.modules and importlib.util.find_spec("h2") is None:
        return False
    import h2.utilities

    current = getattr(h2.utilities, "_SECURE_HEADERS", None)
    if not isinstance(current, frozenset):
        return False
    if not current >= CREDENTIAL_HEADERS:
        h2.utilities._SECURE_HEADERS = current | CREDENTIAL_HEADERS
    return True
