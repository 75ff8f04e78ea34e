"""What the fake Anthropic server reads from a Messages request beyond its top-level fields:
content blocks, tools, tool choice, thinking and structured output, checked as the API checks
them, and the facts `llmp.testing.plan_answer` decides an answer from.

Shapes follow the anthropic SDK's request types (``anthropic.types.MessageParam``,
``ToolParam``, ``ToolChoiceParam``, ``ThinkingConfigParam``, ``ImageBlockParam``,
``ToolResultBlockParam``) and the API's documented errors (extended thinking with tool use,
tool_use / tool_result pairing, images). Thinking blocks the fake writes are signed with a key
of this process, so a thinking block sent back altered, or made up, is refused as the API
refuses one whose signature does not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmp.testing._wire import ErrorResponse

__all__ = ["STRUCTURED_OUTPUTS_BETA", "Facts", "read_content", "sign", "thinking_budget"]

#: The beta header value under which the API takes ``output_format`` (litellm 1.83 sends it).
STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"
MIN_THINKING_BUDGET = 1024
_KEY = secrets.token_bytes(16)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_MEDIA_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_USER_BLOCKS = frozenset({"text", "image", "tool_result", "document"})
_ASSISTANT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
_THINKING_WITH_TOOLS = (
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
    "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please "
    "consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def _invalid(message: str) -> ErrorResponse:
    from llmp_litellm.testing._anthropic_wire import invalid

    return invalid(message)


def sign(thinking: str) -> str:
    """The signature the fake puts on a thinking block it wrote (and checks when it comes back)."""
    digest = hmac.new(_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"EqQB" + digest).decode()


@dataclass(slots=True)
class Facts:
    """What `plan_answer` needs, read from a valid request."""

    prompt: str = ""
    last_role: str = "user"
    tool_results: list[str] = field(default_factory=list)
    tools: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    tool_choice: str | None = None
    parallel: bool = True
    schema: Mapping[str, Any] | None = None
    reasoning: bool = False
    images: int = 0


def thinking_budget(body: Mapping[str, Any]) -> int | None:
    """``thinking.budget_tokens`` of an enabled thinking config, else None."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        return budget if isinstance(budget, int) else None
    return None


def read_content(body: Mapping[str, Any], betas: Sequence[str] = ()) -> Facts:
    """Check tools, tool choice, thinking, output format and every content block; return the
    facts of the request. Raises the API's 400 (an `ErrorResponse`) for what it refuses."""
    facts = Facts()
    facts.tools = _tools(body.get("tools"))
    facts.tool_choice, facts.parallel = _tool_choice(body.get("tool_choice"), facts.tools)
    facts.reasoning = _thinking(body)
    facts.schema = _schema(body, betas)
    messages: list[dict[str, Any]] = body["messages"]
    previous_uses: set[str] = set()
    for i, message in enumerate(messages):
        content = message.get("content")
        role = message["role"]
        if isinstance(content, str):
            if role == "user" and previous_uses:
                raise _unanswered(i - 1, previous_uses)
            previous_uses = set()
            continue
        if not isinstance(content, list):
            raise _invalid(f"messages.{i}.content: Input should be a valid list")
        allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
        uses: set[str] = set()
        answered: set[str] = set()
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in allowed:
                raise _invalid(
                    f"messages.{i}.content.{j}.type: Input tag {kind!r} is not a valid {role} block"
                )
            where = f"messages.{i}.content.{j}"
            if kind == "image":
                _image(block, where)
                facts.images += 1
            elif kind == "tool_use":
                uses.add(_tool_use(block, where))
            elif kind == "tool_result":
                answered.add(_tool_result(block, where, previous_uses))
            elif kind == "thinking":
                _signed(block, where)
            elif kind == "text" and not isinstance(block.get("text"), str):
                raise _invalid(f"{where}.text: Field required")
        if role == "user" and previous_uses - answered:
            raise _unanswered(i - 1, previous_uses - answered)
        previous_uses = uses
    _thinking_precedes_tool_use(body, messages, facts.reasoning)
    _read_turns(messages, facts)
    return facts


def _tools(tools: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, tool in enumerate(tools):
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if tool.get("type") not in (None, "custom"):
            raise _invalid(f"tools.{i}.type: only custom tools are served by this fake")
        if name in dict(out):
            raise _invalid(f"tools: Tool names must be unique, {name!r} is repeated")
        out.append((name, schema))
    return out


def _tool_choice(choice: Any, tools: list[tuple[str, Mapping[str, Any]]]) -> tuple[str | None, bool]:
    """(plan_answer's tool_choice, whether parallel calls are allowed)."""
    if choice is None:
        return None, True
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise _invalid("tool_choice.type: Input tag should be 'auto', 'any', 'tool' or 'none'")
    if kind != "none" and not tools:
        raise _invalid("tool_choice: may only be specified while providing tools")
    parallel = not choice.get("disable_parallel_tool_use", False)
    if kind == "tool":
        name = choice.get("name")
        if name not in dict(tools):
            raise _invalid(f"tool_choice.name: Tool {name!r} not found in tools")
        return str(name), parallel
    return {"auto": None, "any": "required", "none": "none"}[kind], parallel


def _thinking(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    if thinking is None:
        return False
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return False
    if kind == "adaptive":
        return True
    if kind != "enabled":
        raise _invalid("thinking.type: Input tag should be 'enabled', 'disabled' or 'adaptive'")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_THINKING_BUDGET:
        raise _invalid(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        )
    if budget >= body["max_tokens"]:
        raise _invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise _invalid("`temperature` may only be set to 1 when thinking is enabled.")
    if body.get("top_k") is not None:
        raise _invalid("`top_k` must be unset when thinking is enabled.")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise _invalid("Thinking may not be enabled when tool_choice forces tool use.")
    return True


def _schema(body: Mapping[str, Any], betas: Sequence[str]) -> Mapping[str, Any] | None:
    legacy = body.get("output_format")
    config = body.get("output_config")
    chosen = config.get("format") if isinstance(config, dict) else None
    if legacy is not None:
        if STRUCTURED_OUTPUTS_BETA not in betas:
            raise _invalid(
                f"output_format: this field needs the anthropic-beta header {STRUCTURED_OUTPUTS_BETA!r}"
            )
        chosen = legacy
    if chosen is None:
        return None
    if not isinstance(chosen, dict) or chosen.get("type") != "json_schema":
        raise _invalid("output_format.type: Input should be 'json_schema'")
    schema = chosen.get("schema")
    if not isinstance(schema, dict):
        raise _invalid("output_format.schema: Field required")
    _closed_objects(schema, "output_format.schema")
    return schema


def _closed_objects(schema: Any, where: str) -> None:
    """Structured outputs need ``additionalProperties: false`` on every object (the API says so)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            raise _invalid(
                f"{where}: For 'object' type, 'additionalProperties' must be explicitly set to false"
            )
        for key, value in schema.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                for name, sub in value.items():
                    _closed_objects(sub, f"{where}.{key}.{name}")
            elif key in ("items", "anyOf", "allOf", "oneOf"):
                _closed_objects(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            _closed_objects(sub, f"{where}.{i}")


def _image(block: Mapping[str, Any], where: str) -> None:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "url":
        if not str(source.get("url", "")).startswith("https://"):  # type: ignore[union-attr]
            raise _invalid(f"{where}.source.url: Only HTTPS URLs are supported")
        return
    if kind != "base64":
        raise _invalid(f"{where}.source.type: Input tag should be 'base64' or 'url'")
    media_type = source.get("media_type")  # type: ignore[union-attr]
    if media_type not in _MEDIA_TYPES:
        raise _invalid(
            f"{where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'"
        )
    try:
        data = base64.b64decode(str(source.get("data", "")), validate=True)  # type: ignore[union-attr]
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}.source.base64.data: The image data is not valid base64") from None
    if not data.startswith(_MEDIA_TYPES[media_type]):
        raise _invalid(
            f"{where}.source.base64.data: Image does not match the provided media type {media_type}"
        )


def _tool_use(block: Mapping[str, Any], where: str) -> str:
    tool_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(tool_id, str) or not tool_id:
        raise _invalid(f"{where}.id: Field required")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{where}.name: Field required")
    if not isinstance(arguments, dict):
        raise _invalid(f"{where}.input: Input should be a valid dictionary")
    return tool_id


def _tool_result(block: Mapping[str, Any], where: str, uses: set[str]) -> str:
    tool_id = block.get("tool_use_id")
    if tool_id not in uses:
        raise _invalid(
            f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_id}. Each `tool_result` "
            "block must have a corresponding `tool_use` block in the previous message."
        )
    content = block.get("content")
    if content is not None and not isinstance(content, str | list):
        raise _invalid(f"{where}.content: Input should be a valid string or list")
    return str(tool_id)


def _unanswered(index: int, ids: set[str]) -> ErrorResponse:
    return _invalid(
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(sorted(ids))}. Each `tool_use` block must have a corresponding `tool_result` block in "
        "the next message."
    )


def _signed(block: Mapping[str, Any], where: str) -> None:
    thinking, signature = block.get("thinking"), block.get("signature")
    if not isinstance(thinking, str) or not isinstance(signature, str):
        raise _invalid(f"{where}.signature: Field required")
    if not hmac.compare_digest(signature, sign(thinking)):
        raise _invalid(f"{where}: Invalid `signature` in `thinking` block")


def _thinking_precedes_tool_use(
    body: Mapping[str, Any], messages: list[dict[str, Any]], thinking: bool
) -> None:
    """With thinking on, a tool loop's last assistant turn must start with its thinking block."""
    if not thinking or len(messages) < 2 or messages[-1]["role"] != "user":
        return
    index = len(messages) - 2
    assistant = messages[index]
    content = assistant.get("content")
    if assistant["role"] != "assistant" or not isinstance(content, list):
        return
    if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
        return
    first = content[0].get("type") if content and isinstance(content[0], dict) else None
    if first not in ("thinking", "redacted_thinking"):
        raise _invalid(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{first}`. {_THINKING_WITH_TOOLS}"
        )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _read_turns(messages: list[dict[str, Any]], facts: Facts) -> None:
    """The prompt (the latest user text), and the tool results when the last turn holds them."""
    last = messages[-1]
    content = last.get("content")
    results = [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
    if last["role"] == "user" and results:
        facts.last_role = "tool"
        facts.tool_results = [_text_of(b.get("content")) for b in results]
    else:
        facts.last_role = last["role"]
    for message in reversed(messages):
        if message["role"] == "user":
            text = _text_of(message.get("content"))
            if text:
                facts.prompt = text
                return
