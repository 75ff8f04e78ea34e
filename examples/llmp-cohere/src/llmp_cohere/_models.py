"""What each Cohere model can do, as llmp asks per model (`Client.capabilities`)."""

from __future__ import annotations

from llmp.types import Capabilities

__all__ = ["PARAMS", "capabilities"]

#: Cohere's own parameter names llmp-cohere accepts besides llmp's common (OpenAI) ones.
PARAMS = frozenset({"k", "p", "safety_mode"})


# --8<-- [start:capabilities]
def capabilities(model: str) -> Capabilities:
    """Command A and R models call tools (several per turn) and follow JSON schemas; the
    ``-vision`` models read images, the ``-reasoning`` models think (and return the thinking).
    Cohere returns one answer per request, so ``n`` is False: the core sends n requests."""
    chat = model.startswith(("command-a", "command-r"))
    vision = "vision" in model
    reasoning = "reasoning" in model
    return Capabilities(
        streaming=True,
        n=False,
        tools=chat and not vision,
        parallel_tool_calls=chat and not vision,
        json_schema=chat,
        vision=vision,
        reasoning=reasoning,
        reasoning_text=reasoning,
        params=PARAMS,
    )


# --8<-- [end:capabilities]
