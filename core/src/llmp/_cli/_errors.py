"""How the CLI fails: one line on stderr, a non-zero exit code, and never a secret.

The core already keeps keys out of its messages; the CLI redacts them once more before printing
anything about an error, because a message can also come from an SDK, a proxy's error page or a
plugin that does not follow the rules.
"""

from __future__ import annotations

import os
from typing import TextIO

__all__ = ["USAGE_ERROR", "CLIError", "UsageError", "describe", "redact", "report"]

# Environment variables whose values are credentials, by the suffixes llmp and the SDKs use.
_SECRET_SUFFIXES = ("_API_KEY", "_KEYS", "_KEY", "_TOKEN", "_SECRET")
# Shorter values are not replaced: a 3-character "key" would mangle ordinary words.
_MIN_SECRET_LENGTH = 8


#: The exit code of a usage error (docs/cli.md), the same as argparse's own.
USAGE_ERROR = 2


class CLIError(Exception):
    """A failure the CLI explains in one line; `code` is the process exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """The command line itself is wrong (a malformed option value, a missing argument): exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE_ERROR)


def _secrets() -> list[str]:
    found: set[str] = set()
    for name, value in os.environ.items():
        if not name.upper().endswith(_SECRET_SUFFIXES):
            continue
        for part in value.split(","):
            part = part.strip()
            if len(part) >= _MIN_SECRET_LENGTH:
                found.add(part)
    # Longest first, so a key that contains another key is replaced whole.
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every credential found in the environment replaced by ``***``."""
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def describe(exc: BaseException) -> str:
    """`exc` as a person reads it (not yet redacted, maybe several lines)."""
    if isinstance(exc, CLIError):
        return str(exc)
    text = str(exc).strip()
    # llmp's own errors already name themselves ("openai 429 RateLimitError: ..."); others
    # ("FileNotFoundError: ...") need the type to make sense on their own.
    from llmp.errors import LLMPError

    if isinstance(exc, LLMPError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _expected(exc: BaseException) -> bool:
    # Errors that explain themselves; anything else is probably a bug worth a traceback.
    from llmp.errors import LLMPError

    return isinstance(exc, (CLIError, LLMPError, OSError))


def report(exc: BaseException, *, verbose: bool, stderr: TextIO) -> int:
    """Print `exc` for a person and return the exit code."""
    if verbose:
        import traceback  # only now: it costs milliseconds at every start otherwise

        stderr.write(redact("".join(traceback.format_exception(exc))))
    line = " ".join(describe(exc).split())  # one line, whatever the message looked like
    if not verbose and not _expected(exc):
        line += " (--verbose shows the traceback)"
    stderr.write(f"llmp: error: {redact(line)}\n")
    stderr.flush()
    return exc.code if isinstance(exc, CLIError) else 1
