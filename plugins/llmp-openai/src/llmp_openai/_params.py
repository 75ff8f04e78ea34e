"""Generation parameters as they will be sent: `effective_params` of the OpenAI client.

Asked once per distinct params object (not per prompt), so the rules cost nothing per request
and the cache key names what is really sent. The core has already checked the common
parameters' types and refused unknown names; here the host's own rules apply:

- OpenAI's reasoning models (o-series, gpt-5) take ``max_completion_tokens`` instead of
  ``max_tokens`` (renamed here), and only the default ``temperature`` / ``top_p`` (1): any other
  value is an `UnsupportedParameterError` naming it, before anything is sent.
- A parameter the host rejects (OpenAI has no ``top_k``) is refused with advice.
- A host's own name for a parameter (Mistral's ``random_seed``) replaces OpenAI's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError
from llmp_openai._hosts import Host, is_reasoning_model

__all__ = ["effective_params"]

_FIXED_SAMPLING = ("temperature", "top_p")


def effective_params(provider: str, host: Host, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for name, advice in host.refused.items():
        if out.get(name) is not None:
            raise UnsupportedParameterError(f"{provider} does not take {name}={out[name]!r}: {advice}")
    if host.reasoning == "openai" and is_reasoning_model(model):
        _reasoning_model_rules(model, out)
    for name, wire_name in host.renames.items():
        if name in out:
            out[wire_name] = out.pop(name)
    return out


def _reasoning_model_rules(model: str, params: dict[str, Any]) -> None:
    if params.get("max_tokens") is not None:
        if params.get("max_completion_tokens") is not None:
            raise UnsupportedParameterError(
                f"{model} takes max_completion_tokens; pass it or max_tokens, not both"
            )
        params["max_completion_tokens"] = params.pop("max_tokens")
    else:
        params.pop("max_tokens", None)
    for name in _FIXED_SAMPLING:
        value = params.get(name)
        if value is not None and value != 1:
            raise UnsupportedParameterError(
                f"{model} is a reasoning model and takes only the default {name} (1); "
                f"{name}={value!r} cannot be sent. Leave {name} out (or use reasoning= to steer it)."
            )
