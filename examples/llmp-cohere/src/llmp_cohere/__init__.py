"""llmp plugin for Cohere's v2 Chat API: ``llmp.LLM("cohere/command-a-03-2025")``.

An example of a third-party plugin: it lives outside llmp's repository layout, depends only on
the published `llmp-core` and `httpx2`, and passes `llmp.testing.ProviderConformance`.
"""
