"""The fake Gemini server, for tests and benchmarks of code that speaks the Gemini API.

``FakeGeminiServer`` speaks the Gemini API's ``generateContent`` (streamed too) and batch wire the
way google-genai calls it, over TLS with HTTP/2 and HTTP/1.1, records what it receives and injects
the faults of `llmp.testing` (rendered in Google's error shape). The pytest fixtures
``fake_gemini`` and ``fake_gemini_server`` are registered by this plugin (``pytest11:
llmp_gemini``); ``python -m llmp.testing.serve gemini`` runs it in its own process.

Names load on first use, so the pytest plugin costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp_gemini.testing._fake_gemini import FakeGeminiServer, GeminiRequestRecord

__all__ = ["FakeGeminiServer", "GeminiRequestRecord"]

_HOMES = {"FakeGeminiServer": "_fake_gemini", "GeminiRequestRecord": "_fake_gemini"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
