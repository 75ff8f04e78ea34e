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
    from llmp._deployments import Deployment
    from llmp._images import image
    from llmp._llm import LLM
    from llmp._metrics import DeploymentMetrics, Metrics
    from llmp._multi import amulti_chat, amulti_generate, multi_chat, multi_generate
    from llmp._params import COMMON_PARAMS
    from llmp._plugins import Registry, default_registry
    from llmp._routes import add_route, routes
    from llmp._streaming import AsyncResponseStream, ResponseStream
    from llmp._tools import FunctionTool, tool
    from llmp._usage import UsageStats
    from llmp.hookspecs import hookimpl
    from llmp.types import (
        Capabilities,
        Choice,
        Chunk,
        ClientSettings,
        Cost,
        OutputSchema,
        RateLimitInfo,
        Reasoning,
        Request,
        Response,
        Route,
        Tool,
        ToolCall,
        Usage,
    )

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
    "COMMON_PARAMS": "llmp._params",
    "Deployment": "llmp._deployments",
    "Metrics": "llmp._metrics",
    "DeploymentMetrics": "llmp._metrics",
    "image": "llmp._images",
    "tool": "llmp._tools",
    "FunctionTool": "llmp._tools",
    "ResponseStream": "llmp._streaming",
    "AsyncResponseStream": "llmp._streaming",
    "Capabilities": "llmp.types",
    "Choice": "llmp.types",
    "Chunk": "llmp.types",
    "ClientSettings": "llmp.types",
    "Cost": "llmp.types",
    "OutputSchema": "llmp.types",
    "RateLimitInfo": "llmp.types",
    "Reasoning": "llmp.types",
    "Request": "llmp.types",
    "Response": "llmp.types",
    "Route": "llmp.types",
    "Tool": "llmp.types",
    "ToolCall": "llmp.types",
    "Usage": "llmp.types",
}

__all__ = [
    "COMMON_PARAMS",
    "LLM",
    "AsyncResponseStream",
    "Capabilities",
    "Choice",
    "Chunk",
    "ClientSettings",
    "Cost",
    "Deployment",
    "DeploymentMetrics",
    "FunctionTool",
    "Metrics",
    "OutputSchema",
    "RateLimitInfo",
    "Reasoning",
    "Registry",
    "Request",
    "Response",
    "ResponseStream",
    "Route",
    "Tool",
    "ToolCall",
    "Usage",
    "UsageStats",
    "add_route",
    "amulti_chat",
    "amulti_generate",
    "default_registry",
    "errors",
    "hookimpl",
    "image",
    "multi_chat",
    "multi_generate",
    "routes",
    "tool",
]


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
