"""The URL and headers of a ``generateContent`` request as google-genai builds them, without it.

Importing google-genai costs most of a cold start (bench/startup.py), and a live call needed
nothing from it but the request its ``models.generate_content[_stream]`` puts on the wire. So
that is written here, from the SDK's own rules (``google/genai/_api_client.py``: the client's
HTTP options and ``_build_request``; ``_transformers.t_model``; 3.x), and tests compare both
(plugins/llmp-gemini/tests/test_gemini_sdk_request.py, and over the wire in test_gemini_over_the_wire.py):

- the URL: ``<origin>/<API version>/<model path>:generateContent`` (``:streamGenerateContent?alt=sse``
  for a stream). The API version is the one the base URL names (``https://host/v1beta``), else
  ``GOOGLE_GENAI_API_VERSION`` (``beta`` meaning ``v1beta``), else ``v1``. A model name becomes
  ``models/<name>`` unless it already starts with ``models/`` or ``tunedModels/``.
- ``Content-Type: application/json``, ``x-goog-api-key`` (the key, stripped), ``user-agent`` and
  ``x-goog-api-client``: ``google-genai-sdk/<version> gl-python/<Python version>``.
- a request with a timeout: the timeout rounded up to whole milliseconds, and
  ``X-Server-Timeout`` in whole seconds (rounded up); without one, no timeout at all.

The key always comes from llmp (``GEMINI_API_KEY`` / ``GEMINI_KEYS``, or the one passed): the
plugin always handed google-genai a key, so the SDK's own ``GOOGLE_API_KEY`` lookup never ran.
The base URL too (``GEMINI_BASE_URL``, or Google's), so ``GOOGLE_GEMINI_BASE_URL`` never applied.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys

from llmp.errors import ConfigurationError
from llmp_gemini._routes import GEMINI_BASE_URL

__all__ = ["api_version", "model_path", "sdk_headers", "split_base_url", "timeout_seconds", "url_for"]

DEFAULT_API_VERSION = "v1"  # google-genai 3.x's GOOGLE_AI_API_DEFAULT_VERSION
# "https://host/v1beta" names the API version too; the SDK takes it apart from the origin.
_VERSIONED = re.compile(r"^(?P<base>.*?)/(?P<version>v\d+(?:(?:alpha|beta)\d*)?)/?$")


def split_base_url(base_url: str | None) -> tuple[str, str | None]:
    """``"https://h/v1beta"`` -> ``("https://h", "v1beta")``; no version -> ``(url, None)``."""
    url = (base_url or GEMINI_BASE_URL).rstrip("/")
    match = _VERSIONED.match(url)
    if match is None:
        return url, None
    return match["base"], match["version"]


def api_version(named: str | None) -> str:
    """The API version the SDK would use: the one the base URL names, else its default."""
    if named:
        return named
    env = os.environ.get("GOOGLE_GENAI_API_VERSION")
    return "v1beta" if env == "beta" else (env or DEFAULT_API_VERSION)


def model_path(model: str) -> str:
    """``"gemini-2.5-flash"`` -> ``"models/gemini-2.5-flash"`` (the SDK's ``t_model``)."""
    if not model:
        raise ConfigurationError("model is required: name a Gemini model, e.g. 'gemini/gemini-2.5-flash'")
    if ".." in model or "?" in model or "&" in model:
        raise ConfigurationError(
            f"model {model!r} is not a Gemini model name: it may not contain '..', '?' or '&'"
        )
    if model.startswith(("models/", "tunedModels/")):
        return model
    return f"models/{model}"


def url_for(origin: str, version: str, model: str, *, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{origin}/{version}/{model_path(model)}:{method}"


@functools.cache
def _library_label() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk = version("google-genai")
    except PackageNotFoundError:  # pragma: no cover - google-genai is a dependency of llmp-gemini
        sdk = "unknown"
    return f"google-genai-sdk/{sdk} gl-python/{sys.version.split()[0]}"


def timeout_seconds(timeout: float | None) -> float | None:
    """The timeout the SDK would send with: whole milliseconds, rounded up; None for none."""
    if timeout is None:
        return None
    milliseconds = math.ceil(timeout * 1000)
    return milliseconds / 1000.0 if milliseconds else None


def sdk_headers(api_key: str, seconds: float | None) -> list[tuple[str, str]]:
    """The headers google-genai sends with a request whose timeout is ``seconds``
    (`timeout_seconds`), in its order."""
    label = _library_label()
    headers = [
        ("Content-Type", "application/json"),
        ("x-goog-api-key", api_key.strip()),
        ("user-agent", label),
        ("x-goog-api-client", label),
    ]
    if seconds:
        headers.append(("X-Server-Timeout", str(math.ceil(seconds))))
    return headers
