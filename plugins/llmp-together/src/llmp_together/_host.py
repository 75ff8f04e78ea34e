"""What Together's OpenAI-compatible API can do, per model family.

From Together's docs (function calling, JSON mode / structured outputs, vision and reasoning
pages) and its model list:

- tools: the models Together lists for function calling (Llama 3.1+, Llama 4, Qwen 2.5/3,
  DeepSeek V3/R1, Kimi K2, GLM 4.5+, gpt-oss, Mistral Small 3); others answer without calling;
- ``json_schema`` output (``response_format: {"type": "json_schema"}``): the same families;
- vision: Llama 4, Llama 3.2 Vision, Qwen VL, Gemma 3;
- several samples (``n``): yes; logprobs: not declared (Together's logprobs are not OpenAI's
  shape); reasoning text: Together folds thinking into ``content`` (``<think>``) for most
  reasoning models, so no reasoning control or text is declared;
- extra parameters Together takes: ``repetition_penalty``, ``min_p``, ``safety_model``.
"""

from __future__ import annotations

import re

from llmp.types import Capabilities
from llmp_openai import Host

__all__ = ["TOGETHER", "together_capabilities"]

_TOOLS = re.compile(
    r"llama-3\.[1-3]|llama-4|qwen2\.5|qwen3|deepseek-v3|deepseek-r1|kimi-k2|glm-4\.[5-9]|gpt-oss|"
    r"mistral-small",
    re.IGNORECASE,
)
_VISION = re.compile(r"llama-4|vision|-vl-|gemma-3", re.IGNORECASE)
_PARAMS = frozenset({"repetition_penalty", "min_p", "safety_model"})


def together_capabilities(model: str) -> Capabilities:
    if "embed" in model.lower() or model.startswith("BAAI/"):
        return Capabilities(streaming=False, n=False, embeddings=True)
    tools = _TOOLS.search(model) is not None
    return Capabilities(
        tools=tools,
        parallel_tool_calls=tools,
        json_schema=tools,
        vision=_VISION.search(model) is not None,
        params=_PARAMS,
    )


TOGETHER = Host(capabilities=together_capabilities)
