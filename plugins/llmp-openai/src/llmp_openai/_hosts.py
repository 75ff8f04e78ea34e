"""What each host speaking OpenAI's Chat Completions wire can do, per model.

OpenAI's own models are told apart by family (`openai_capabilities`). For OpenAI-compatible
hosts a `Host` says what the host's API takes (tools, ``json_schema`` output, several samples,
logprobs, how reasoning is controlled, whether it sends reasoning text) and the few wire quirks
llmp handles for it (Mistral's ``tool_choice: "any"`` and ``random_seed``, no ``stream_options``).
The rows follow each host's API reference, cross-checked against litellm's per-provider lists of
supported OpenAI parameters (``litellm/llms/<provider>/chat/transformation.py``); where a host
leaves a feature to the model (a local vLLM), the feature is declared and the host answers for it.
A route can override any field: ``options={"capabilities": {"tools": False}}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from llmp.errors import ConfigurationError
from llmp.types import Capabilities

__all__ = ["HOSTS", "Host", "ReasoningStyle", "host_for", "is_reasoning_model", "openai_capabilities"]

#: How a host takes `Request.reasoning`: OpenAI's ``reasoning_effort`` with OpenAI's model rules,
#: a plain ``reasoning_effort`` (effort names only), OpenRouter's ``reasoning`` object, or
#: DeepSeek's ``reasoning_effort`` plus ``thinking: {"type": "disabled"}`` for off.
ReasoningStyle = Literal["openai", "effort", "openrouter", "deepseek"]

# o1/o3/o4 and the gpt-5 reasoning family; "gpt-5-chat-*" is a chat model.
_REASONING = re.compile(r"^(o\d|gpt-5(?!-chat))")
# Reasoning models that can turn reasoning off (reasoning_effort "none"): gpt-5.1 and later.
_CAN_TURN_OFF = re.compile(r"^gpt-5\.\d")
_EMBEDDING = re.compile(r"^text-embedding-")
# Before structured outputs and tool calling of today: JSON mode at most, no images.
_LEGACY = re.compile(r"^(gpt-3\.5|gpt-4(-0613|-0314|-32k)?$|gpt-4-\d{4}|gpt-4-turbo-preview)")
_NO_TOOLS = re.compile(r"^(chatgpt-|o1-mini|o1-preview)|-search-|-audio-|-realtime-")
_NO_SCHEMA = re.compile(r"^(chatgpt-|o1-mini|o1-preview|gpt-4-turbo|gpt-4o-2024-05-13)")
_NO_VISION = re.compile(r"^(o1-mini|o1-preview|o3-mini)|-audio-|-realtime-")
# Model names of other hosts that read images (the host rejects images for other models).
_VISION_NAMES = re.compile(
    r"vision|[-_.]vl\b|-vl-|\bvl-|pixtral|llava|llama-4|gemma-3|qvq|omni|glm-4(\.\d)?v|grok-4|"
    r"mistral-small-3|mistral-medium|magistral-medium",
    re.IGNORECASE,
)
_EXTRA_OPENAI_PARAMS = frozenset(
    {
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
        "prompt_cache_retention",
    }
)


def is_reasoning_model(model: str) -> bool:
    """An OpenAI reasoning model: max_completion_tokens, default sampling, reasoning_effort."""
    return _REASONING.match(model) is not None


def can_turn_reasoning_off(model: str) -> bool:
    return _CAN_TURN_OFF.match(model) is not None


def openai_capabilities(model: str) -> Capabilities:
    """OpenAI's own models, by family (a future model name gets today's flagship features)."""
    if _EMBEDDING.match(model):
        return Capabilities(streaming=False, n=False, embeddings=True)
    reasoning = is_reasoning_model(model)
    legacy = _LEGACY.match(model) is not None
    # Function calling goes back to gpt-3.5-turbo; not for search, audio or instruct models.
    tools = _NO_TOOLS.search(model) is None and "instruct" not in model
    return Capabilities(
        tools=tools,
        # o1 calls one tool at a time; the others (and every chat model) can call several.
        parallel_tool_calls=tools and not model.startswith("o1"),
        json_schema=not legacy and _NO_SCHEMA.match(model) is None,
        vision=not legacy and _NO_VISION.search(model) is None,
        reasoning=reasoning,
        # Chat Completions never returns OpenAI's reasoning text (only its token count).
        reasoning_text=False,
        logprobs=not reasoning,
        batch=True,
        params=_EXTRA_OPENAI_PARAMS,
    )


@dataclass(frozen=True, slots=True)
class Host:
    """One OpenAI-compatible host: its API's features and wire quirks.

    `vision` is True (the host passes images to any model), False, or ``"by name"`` (models
    whose names say they read images). `reasoning` is how a reasoning setting is sent (None:
    the host has no control, and the core refuses ``reasoning=``), for the models matching
    `reasoning_models`; `reasoning_text` says the host sends its thinking models' reasoning
    (``reasoning_content`` or ``reasoning``), which llmp reads either way. `refused` maps a
    common parameter the host rejects to the advice llmp gives; `renames` maps a parameter to
    the host's own name. `capabilities`, when given, replaces the table for every model.
    """

    tools: bool = True
    parallel_tool_calls: bool = True
    json_schema: bool = True
    vision: bool | Literal["by name"] = "by name"
    n: bool = True
    logprobs: bool = False
    reasoning: ReasoningStyle | None = None
    #: The models `reasoning` applies to (None: every model of the host).
    reasoning_models: re.Pattern[str] | None = None
    reasoning_text: bool = False
    #: An assistant turn that called tools is sent with its reasoning as ``reasoning_content``
    #: (DeepSeek's thinking mode answers 400 without it in every later request).
    reasoning_back: bool = False
    batch: bool = False
    params: frozenset[str] = frozenset()
    refused: Mapping[str, str] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)
    #: Sends ``stream_options: {"include_usage": true}`` (Mistral refuses the field, and sends
    #: the usage in its last chunk anyway).
    stream_usage: bool = True
    #: ``tool_choice="required"`` on this wire (Mistral: ``"any"``).
    required_choice: str = "required"
    #: Takes ``tool_choice: {"type": "function", ...}``; if not, a named choice is sent as the
    #: required choice with only that tool offered, which means the same.
    named_choice: bool = True
    capabilities: Callable[[str], Capabilities] | None = None

    def takes_reasoning(self, model: str) -> bool:
        if self.reasoning is None:
            return False
        return self.reasoning_models is None or self.reasoning_models.search(model) is not None

    def capabilities_for(self, model: str) -> Capabilities:
        if self.capabilities is not None:
            return self.capabilities(model)
        if "embed" in model.lower():
            return Capabilities(streaming=False, n=False, embeddings=True)
        vision = self.vision if self.vision != "by name" else _VISION_NAMES.search(model) is not None
        return Capabilities(
            n=self.n,
            tools=self.tools,
            parallel_tool_calls=self.tools and self.parallel_tool_calls,
            json_schema=self.json_schema,
            vision=vision,
            reasoning=self.takes_reasoning(model),
            reasoning_text=self.reasoning_text,
            logprobs=self.logprobs,
            batch=self.batch,
            params=self.params,
        )


_VLLM_PARAMS = frozenset({"min_p", "repetition_penalty", "chat_template_kwargs"})

#: The hosts llmp-openai routes to. Together's row lives in llmp-together.
HOSTS: dict[str, Host] = {
    "openai": Host(
        reasoning="openai",
        batch=True,
        refused={"top_k": "OpenAI has no top_k; use top_p"},
        capabilities=openai_capabilities,
    ),
    # vLLM, SGLang, llama.cpp, LM Studio: the server decides per model; reasoning parsers send
    # reasoning_content (or reasoning).
    "local": Host(vision=True, logprobs=True, reasoning_text=True, params=_VLLM_PARAMS),
    "ollama": Host(vision=True, n=False, parallel_tool_calls=False, reasoning_text=True),
    "openrouter": Host(
        vision=True,
        n=False,
        reasoning="openrouter",
        reasoning_text=True,
        params=frozenset({"provider", "transforms", "models", "min_p", "top_a", "repetition_penalty"}),
    ),
    "sambanova": Host(json_schema=False, parallel_tool_calls=False, n=False),
    # Thinking mode: reasoning_effort, thinking {"type": "disabled"} for off, reasoning_content in
    # replies and needed back on tool-calling turns; JSON mode only (no json_schema); one sample.
    "deepseek": Host(
        json_schema=False,
        parallel_tool_calls=False,
        n=False,
        vision=False,
        logprobs=True,
        reasoning="deepseek",
        reasoning_text=True,
        reasoning_back=True,
        params=frozenset({"thinking"}),
    ),
    # GLM: tools, thinking text, a `thinking` switch; no n, seed, response_format or logprobs.
    "zhipu": Host(
        json_schema=False,
        parallel_tool_calls=False,
        n=False,
        reasoning_text=True,
        params=frozenset({"thinking", "do_sample"}),
    ),
    # Qwen: thinking models send reasoning_content; enable_thinking / thinking_budget switch it.
    "dashscope": Host(
        json_schema=False,
        n=False,
        reasoning_text=True,
        params=frozenset({"enable_thinking", "thinking_budget", "enable_search"}),
    ),
    "mistral": Host(
        n=False,
        stream_usage=False,
        required_choice="any",
        named_choice=False,
        renames={"seed": "random_seed"},
        params=frozenset({"safe_prompt"}),
    ),
    "groq": Host(
        n=False,
        reasoning="effort",
        reasoning_models=re.compile(r"gpt-oss|qwen3|qwq|-r1"),
        reasoning_text=True,
        params=frozenset({"reasoning_format", "include_reasoning"}),
    ),
    # grok-3-mini takes reasoning_effort (low, high) and sends its thinking; grok-4 thinks
    # always and refuses the parameter.
    "xai": Host(
        logprobs=True,
        reasoning="effort",
        reasoning_models=re.compile(r"^grok-3-mini"),
        reasoning_text=True,
        params=frozenset({"web_search_options"}),
    ),
    "fireworks_ai": Host(
        logprobs=True, params=frozenset({"prompt_truncate_length", "context_length_exceeded_behavior"})
    ),
    "deepinfra": Host(json_schema=False, parallel_tool_calls=False),
}
#: A host llmp has no row for (a user's own route): an OpenAI-compatible server of unknown
#: features, taken at its word like a local one.
DEFAULT_HOST = HOSTS["local"]
_FIELDS = frozenset(f.name for f in fields(Capabilities))


def host_for(provider: str) -> Host:
    return HOSTS.get(provider, DEFAULT_HOST)


def overridden(caps: Capabilities, overrides: Mapping[str, Any] | None, provider: str) -> Capabilities:
    """`caps` with a route's ``options["capabilities"]`` applied (checked by name and type)."""
    if not overrides:
        return caps
    if not isinstance(overrides, Mapping):
        raise ConfigurationError(f"route options['capabilities'] of {provider!r} must be a dict of flags")
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise ConfigurationError(
            f"route options['capabilities'] of {provider!r} names unknown capabilities {unknown}: "
            f"use {', '.join(sorted(_FIELDS))}"
        )
    values = dict(overrides)
    if "params" in values:
        values["params"] = frozenset(values["params"])
    return replace(caps, **values)
