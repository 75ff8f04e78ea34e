"""llmp plugin for OpenAI and OpenAI-compatible hosts.

`OpenAIClient` and `Host` are public for plugins of other OpenAI-compatible providers
(llmp-together builds its clients with them). Names load on first use, so discovery (which
imports this package for its entry point) stays cheap; httpx2 loads when a client is built,
and the openai SDK only for the batch API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmp_openai._client import OpenAIClient
    from llmp_openai._hosts import HOSTS, Host

__all__ = ["HOSTS", "Host", "OpenAIClient"]
_HOMES = {"OpenAIClient": "_client", "Host": "_hosts", "HOSTS": "_hosts"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
