"""llmp: a thin, fast, plugin-architecture LLM client.

```python
import llmp
llm = llmp.LLM("gpt-4.1-mini")
llm.generate(["What is 2+2?", "Name a color."])   # [["4"], ["Blue"]]
llm.total_input_tokens, llm.total_output_tokens, llm.total_cost
```

Importing llmp is cheap: names are re-exported lazily, and no plugin or provider SDK is imported
until a model is routed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from llmp._llm import LLM
    from llmp._multi import amulti_chat, amulti_generate, multi_chat, multi_generate
    from llmp._plugins import Registry, default_registry
    from llmp._routes import add_route, routes
    from llmp._usage import UsageStats
    from llmp.hookspecs import hookimpl
    from llmp.types import Chunk, ClientSettings, Cost, RateLimitInfo, Request, Response, Route, Usage

__all__ = [
    "LLM",
    "Chunk",
    "ClientSettings",
    "Cost",
    "RateLimitInfo",
    "Registry",
    "Request",
    "Response",
    "Route",
    "Usage",
    "UsageStats",
    "add_route",
    "amulti_chat",
    "amulti_generate",
    "default_registry",
    "errors",
    "hookimpl",
    "multi_chat",
    "multi_generate",
    "routes",
]

_LAZY = {
    "LLM": "llmp._llm",
    # pluggy is most of llmp's import time; only plugin modules and routing need it.
    "hookimpl": "llmp.hookspecs",
    "multi_generate": "llmp._multi",
    "multi_chat": "llmp._multi",
    "amulti_generate": "llmp._multi",
    "amulti_chat": "llmp._multi",
    "Registry": "llmp._plugins",
    "default_registry": "llmp._plugins",
    "add_route": "llmp._routes",
    "routes": "llmp._routes",
    "UsageStats": "llmp._usage",
    "Chunk": "llmp.types",
    "ClientSettings": "llmp.types",
    "Cost": "llmp.types",
    "RateLimitInfo": "llmp.types",
    "Request": "llmp.types",
    "Response": "llmp.types",
    "Route": "llmp.types",
    "Usage": "llmp.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(import_module(module), name)
        globals()[name] = value  # resolve once; later lookups are plain attribute reads
        return value
    if name == "errors":
        return import_module("llmp.errors")
    raise AttributeError(f"module 'llmp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
