"""The URL and headers of a request as the openai SDK builds them, without importing the SDK.

Importing openai costs most of a cold start (~0.6 s of a first call's ~1 s, bench/startup.py),
and a live call needed nothing from it but what its ``chat.completions.create`` puts on the
wire. So that is written here, from the SDK's own rules (``openai/_base_client.py``,
``openai/_client.py``, ``openai/lib/_client_auth.py``, 3.x), and tests compare both on every
header (plugins/llmp-openai/tests/test_sdk_headers.py, tests/test_openai_e2e.py):

- the URL: the base URL (``OPENAI_BASE_URL`` when none is given, else OpenAI's) with a trailing
  slash, then the endpoint's path;
- ``Authorization: Bearer <key>``, ``Accept`` and ``Content-Type: application/json``,
  ``User-Agent: AsyncOpenAI/Python <openai's version>``;
- the ``X-Stainless-*`` telemetry (language, package version, OS, architecture, runtime and its
  version, ``async:asyncio``, retry count 0, the read timeout in seconds);
- ``OpenAI-Organization`` / ``OpenAI-Project`` from ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``;
- the ``Name: value`` lines of ``OPENAI_CUSTOM_HEADERS``, over all of the above but the last two.

The batch API still goes through the SDK itself (`llmp_openai._batch`), which reads the same
environment.
"""

from __future__ import annotations

import functools
import os
import platform
import sys

__all__ = ["base_url", "sdk_headers", "url_for"]

OPENAI_BASE_URL = "https://api.openai.com/v1"


def base_url(configured: str | None) -> str:
    """The base URL the SDK would use: the configured one, else ``OPENAI_BASE_URL``, else OpenAI's."""
    return configured or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL


def url_for(base: str, path: str) -> str:
    """``base`` with a trailing slash, then ``path`` (the SDK's ``_prepare_url``)."""
    return (base if base.endswith("/") else base + "/") + path.lstrip("/")


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openai")
    except PackageNotFoundError:  # pragma: no cover - openai is a dependency of llmp-openai
        return "unknown"


@functools.cache
def _os_name() -> str:
    """The SDK's ``get_platform()``."""
    try:
        system = platform.system().lower()
        name = platform.platform().lower()
    except Exception:
        return "Unknown"
    if "iphone" in name or "ipad" in name:
        return "iOS"
    named = {"darwin": "MacOS", "windows": "Windows"}.get(system)
    if named:
        return named
    if "android" in name:
        return "Android"
    if system in ("freebsd", "openbsd"):
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}[system]
    if system == "linux":
        try:
            distro = platform.freedesktop_os_release().get("ID", "").lower()
        except OSError:
            distro = ""
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}.get(distro, "Linux")
    return f"Other:{name}" if name else "Unknown"


@functools.cache
def _architecture() -> str:
    """The SDK's ``get_architecture()``."""
    try:
        machine = platform.machine().lower()
    except Exception:
        return "unknown"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine in ("arm", "x86_64"):
        return {"arm": "arm", "x86_64": "x64"}[machine]
    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


def _runtime() -> tuple[str, str]:
    try:
        implementation = platform.python_implementation()
    except Exception:
        implementation = "unknown"
    try:
        python = platform.python_version()
    except Exception:
        python = "unknown"
    return implementation, python


def _custom_headers() -> dict[str, str]:
    """``OPENAI_CUSTOM_HEADERS``: one ``Name: value`` per line, as the SDK reads it."""
    parsed: dict[str, str] = {}
    for line in os.environ.get("OPENAI_CUSTOM_HEADERS", "").split("\n"):
        colon = line.find(":")
        if colon >= 0:
            parsed[line[:colon].strip()] = line[colon + 1 :].strip()
    return parsed


def sdk_headers(api_key: str, read_timeout: float | None) -> list[tuple[str, str]]:
    """The headers ``AsyncOpenAI(api_key=api_key).chat.completions.create`` sends, in its order
    (names compared case-insensitively, a later one replacing an earlier one in its place)."""
    implementation, python = _runtime()
    custom = _custom_headers()
    ordered: dict[str, tuple[str, str]] = {}
    defaults = [
        ("Authorization", f"Bearer {api_key}"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("User-Agent", f"AsyncOpenAI/Python {_version()}"),
        ("X-Stainless-Lang", "python"),
        ("X-Stainless-Package-Version", _version()),
        ("X-Stainless-OS", _os_name()),
        ("X-Stainless-Arch", _architecture()),
        ("X-Stainless-Runtime", implementation),
        ("X-Stainless-Runtime-Version", python),
        *custom.items(),
        # llmp's clients run on asyncio event loops, which the SDK would report as this.
        ("X-Stainless-Async", "async:asyncio"),
    ]
    organization = os.environ.get("OPENAI_ORG_ID")
    if organization is not None:
        defaults.append(("OpenAI-Organization", organization))
    project = os.environ.get("OPENAI_PROJECT_ID")
    if project is not None:
        defaults.append(("OpenAI-Project", project))
    defaults += custom.items()
    for name, value in defaults:
        ordered[name.lower()] = (name, value)
    headers = list(ordered.values())
    headers.append(("x-stainless-retry-count", "0"))
    if read_timeout is not None:
        headers.append(("x-stainless-read-timeout", str(read_timeout)))
    return headers
