"""What each model can do, from litellm's own model information.

For Anthropic, without importing litellm. ``litellm.supports_function_calling(model)`` and its
siblings read one table: the model map litellm ships (``model_prices_and_context_window_backup
.json``, which ``litellm.model_cost`` holds once litellm is imported with
``LITELLM_LOCAL_MODEL_COST_MAP``). The core asks a client's capabilities once per model, on the
caller's thread, usually before the first request: importing litellm there would block the
caller's event loop for seconds (7 s of CPU here) while requests to other providers wait. So for
``anthropic/*`` we read the same table straight from litellm's package directory (about 15 ms,
once per process) and look the model up as litellm does (a test checks that the answers equal
litellm's for every Anthropic model in the map). If litellm is already imported we read its
``model_cost`` (which also holds models a user registered). What the table does not say comes
from the Messages API itself: it has no ``n`` (the core sends n single-sample requests), it takes
parallel tool calls (``disable_parallel_tool_use`` is its switch; the map has no
``supports_parallel_function_calling`` for Claude) and it returns thinking text.

For the catch-all, the answers need litellm's code, not only its data: which provider a name
belongs to (``get_llm_provider``), provider-wide defaults, and the OpenAI parameters that provider
takes (``get_supported_openai_params``, for ``n``). So the first capabilities question about a
catch-all model imports litellm (once per process; its first request would import it anyway),
and asks litellm's own functions. When litellm cannot say which parameters a model takes, that is
logged and ``n`` is False: the core sends single-sample requests, which every provider takes.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from llmp.types import Capabilities
from llmp_litellm._prices import undated

__all__ = [
    "ANTHROPIC_PARAMS",
    "ANTHROPIC_UNSUPPORTED",
    "CATCH_ALL_PARAMS",
    "capabilities_for",
    "model_info",
]

_log = logging.getLogger("llmp.litellm")
_MAP_FILE: Final = "model_prices_and_context_window_backup.json"
#: Parameters beyond `llmp.COMMON_PARAMS` that litellm passes to Anthropic.
ANTHROPIC_PARAMS: Final = frozenset(
    {"thinking", "extra_headers", "cache_control", "context_management", "speed", "web_search_options"}
)
#: Common parameters Anthropic's Messages API has no field for (litellm would refuse them).
ANTHROPIC_UNSUPPORTED: Final = frozenset(
    {
        "seed",
        "logit_bias",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "service_tier",
        "store",
    }
)
#: Beyond the common parameters, what the catch-all passes to litellm (each provider's own
#: extras go in ``extra_body``).
CATCH_ALL_PARAMS: Final = frozenset({"thinking", "extra_headers", "web_search_options"})

_lock = threading.Lock()
_table: Mapping[str, Mapping[str, Any]] | None = None


def _load() -> Mapping[str, Mapping[str, Any]]:
    global _table
    litellm = sys.modules.get("litellm")
    cost = getattr(litellm, "model_cost", None) if litellm is not None else None
    if isinstance(cost, Mapping) and cost:
        return cost
    if _table is None:
        with _lock:
            if _table is None:
                spec = importlib.util.find_spec("litellm")  # finds the package, imports nothing
                origin = spec.origin if spec is not None else None
                path = Path(origin).parent / _MAP_FILE if origin else None
                try:
                    _table = json.loads(path.read_bytes()) if path is not None else {}
                except (OSError, ValueError):
                    _table = {}
    return _table


def model_info(provider: str, model: str) -> Mapping[str, Any]:
    """litellm's map entry for `model` of `provider` (``"litellm"``: the name as litellm takes it,
    ``"mistral/mistral-large-latest"``); empty when litellm does not know the model."""
    table = _load()
    if provider == "litellm":
        entry = table.get(model)
        if entry is not None:
            return entry
        provider, _, model = model.partition("/")
        if not model:
            return {}
    entry = table.get(f"{provider}/{model}")
    if entry is None:
        entry = table.get(model)
        # A bare name must be that provider's own entry, not the same model on another host.
        if entry is not None and entry.get("litellm_provider") != provider:
            entry = None
    return entry or {}


def _flag(info: Mapping[str, Any], key: str) -> bool:
    return info.get(key) is True


def _int(info: Mapping[str, Any], key: str) -> int | None:
    value = info.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def capabilities_for(provider: str, model: str) -> Capabilities:
    """The `Capabilities` of `model`: ``provider`` is ``"anthropic"`` (its model name) or the
    catch-all's (the name as litellm takes it, ``"mistral/mistral-large-latest"``). A dated
    Claude snapshot the map does not list yet has its alias's capabilities, as it has its price."""
    if provider != "anthropic":
        return _catch_all(model)
    info = model_info(provider, model) or model_info(provider, undated(model))
    tools = _flag(info, "supports_function_calling")
    reasoning = _flag(info, "supports_reasoning")
    return Capabilities(
        streaming=True,
        n=False,
        tools=tools,
        parallel_tool_calls=tools,
        json_schema=_flag(info, "supports_response_schema"),
        vision=_flag(info, "supports_vision"),
        reasoning=reasoning,
        reasoning_text=reasoning,
        batch=True,
        params=ANTHROPIC_PARAMS,
        max_context_tokens=_int(info, "max_input_tokens"),
        max_output_tokens=_int(info, "max_output_tokens"),
    )


def _catch_all(model: str) -> Capabilities:
    from llmp_litellm._client import import_litellm

    litellm = import_litellm()

    def supports(name: str) -> bool:
        # litellm's supports_* answer False for what they cannot look up (they log at debug).
        return bool(getattr(litellm, name)(model=model))

    try:
        params = litellm.get_supported_openai_params(model=model)
    except Exception as exc:  # litellm raises for names it cannot place with a provider
        _log.info(
            "litellm cannot say which parameters %r takes (%s); n > 1 goes as n single requests", model, exc
        )
        params = None
    else:
        if params is None:
            _log.info("litellm has no parameter list for %r; n > 1 goes as n single requests", model)
    try:
        info: Mapping[str, Any] = litellm.get_model_info(model=model)
    except Exception:  # not in litellm's map: the limits are unknown, which None says
        info = {}
    tools = supports("supports_function_calling")
    return Capabilities(
        streaming=True,
        n=params is not None and "n" in params,
        tools=tools,
        parallel_tool_calls=tools and supports("supports_parallel_function_calling"),
        json_schema=supports("supports_response_schema"),
        vision=supports("supports_vision"),
        reasoning=supports("supports_reasoning"),
        reasoning_text=False,  # whether reasoning text comes back differs by provider: not promised
        params=CATCH_ALL_PARAMS,
        max_context_tokens=_int(info, "max_input_tokens"),
        max_output_tokens=_int(info, "max_output_tokens"),
    )
