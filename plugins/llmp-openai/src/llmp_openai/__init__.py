"""llmp plugin for OpenAI and OpenAI-compatible hosts.

`OpenAIClient` is public for plugins of other OpenAI-compatible providers (llmp-together builds
its clients with it); importing it does not import the openai SDK until a client is built.
"""

from llmp_openai._client import OpenAIClient

__all__ = ["OpenAIClient"]
