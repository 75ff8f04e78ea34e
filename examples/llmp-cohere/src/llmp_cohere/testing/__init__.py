"""The fake Cohere server, for testing code that speaks Cohere's v2 Chat API (no network).

``FakeCohereServer`` ships here, in the plugin, with its pytest fixtures ``fake_cohere`` and
``fake_cohere_server`` (``pytest11: llmp_cohere``) and its factory for ``python -m
llmp.testing.serve cohere``; install ``"llmp-cohere[testing]"``. Names load on first use, so the
pytest plugin costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp_cohere.testing._fake_cohere import TEMPLATE_TOKENS, FakeCohereServer

__all__ = ["TEMPLATE_TOKENS", "FakeCohereServer"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}._fake_cohere"), name)
    globals()[name] = value
    return value
