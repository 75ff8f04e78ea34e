"""Refuse, before anything is sent, a request that needs what the client cannot do.

The client says what it can do per model (`Client.capabilities`, asked once per model); a
request that needs a missing capability raises `UnsupportedFeatureError` naming the feature,
the provider and the model. ``n > 1`` is never refused: the core sends single-sample requests to
a client that cannot sample several at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmp.errors import UnsupportedFeatureError
from llmp.types import Capabilities, ChatMessage, Request

if TYPE_CHECKING:
    from llmp._engine import Engine

__all__ = ["check_params", "check_request", "has_images"]

_WHAT = {
    "streaming": "stream responses",
    "tools": "call tools",
    "parallel_tool_calls": "make parallel tool calls (parallel_tool_calls=True)",
    "json_schema": "follow an output schema (response_format)",
    "reasoning": "take a reasoning setting (reasoning=)",
    "vision": "read images",
    "logprobs": "return logprobs",
}


def has_images(messages: list[ChatMessage]) -> bool:
    for message in messages:
        content = message.get("content")
        if type(content) is list:
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    return True
    return False


def _needs(request: Request, stream: bool) -> list[str]:
    needs = []
    if stream:
        needs.append("streaming")
    if request.tools:
        needs.append("tools")
    if request.parallel_tool_calls:
        needs.append("parallel_tool_calls")
    if request.output_schema is not None:
        needs.append("json_schema")
    if request.reasoning is not None:
        needs.append("reasoning")
    if has_images(request.messages):
        needs.append("vision")
    return needs


def _refuse(engine: Engine, caps: Capabilities, model: str, needs: list[str]) -> None:
    for feature in needs:
        if not getattr(caps, feature):
            raise UnsupportedFeatureError(
                f"{engine.provider} cannot {_WHAT[feature]} for model {model!r} (its plugin "
                f"says {feature}=False). Use a model or provider that can, or leave the option out.",
                feature=feature,
                provider=engine.provider,
                model=model,
            )


def check_params(engine: Engine, params: Mapping[str, Any]) -> None:
    """Parameters that need a capability (logprobs), checked once per params object."""
    if params.get("logprobs") or params.get("top_logprobs"):
        _refuse(engine, engine.capabilities(), engine.model, ["logprobs"])


def check_request(engine: Engine, request: Request, *, stream: bool = False) -> None:
    needs = _needs(request, stream)
    if needs:
        _refuse(engine, engine.capabilities(request.model), request.model, needs)
