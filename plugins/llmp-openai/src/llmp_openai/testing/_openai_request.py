"""A chat-completions request as the fake reads it: validated the way OpenAI validates, then
reduced to the facts `llmp.testing.plan_answer` decides on.

OpenAI answers 400 for fields it does not know, at the top level and inside messages (llmp's
own ``reasoning``/``extra`` keys must never reach it), for tool and ``json_schema`` definitions
that strict mode cannot take (every object needs ``additionalProperties: false`` and all its
properties required), for a ``tool`` message that answers no call, for images that are not an
``https`` URL or a base64 ``data:`` URL of a PNG, JPEG, GIF or WebP, and for bad
``reasoning_effort`` or ``top_logprobs``. Fields OpenAI-compatible hosts add (``top_k``,
``min_p``, ``repetition_penalty``, OpenRouter's ``provider`` and ``reasoning``, Mistral's
``random_seed``, ...) are accepted, as those hosts do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmp.testing._wire import message_text
from llmp_openai.testing._openai_checks import check_strict, count_images
from llmp_openai.testing._openai_wire import invalid

__all__ = ["ChatRequest", "parse_chat_request"]

_OPENAI_FIELDS = frozenset(
    {
        "model",
        "messages",
        "n",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "service_tier",
        "metadata",
        "store",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
        "prompt_cache_retention",
        "functions",
        "function_call",
    }
)
_COMPATIBLE_FIELDS = frozenset(
    {
        "top_k",
        "min_p",
        "top_a",
        "repetition_penalty",
        "chat_template_kwargs",
        "provider",
        "reasoning",
        "transforms",
        "models",
        "random_seed",
        "safe_prompt",
        "thinking",
        "do_sample",
        "enable_thinking",
        "thinking_budget",
        "enable_search",
        "reasoning_format",
        "include_reasoning",
        "safety_model",
        "prompt_truncate_length",
        "context_length_exceeded_behavior",
    }
)
_KNOWN = _OPENAI_FIELDS | _COMPATIBLE_FIELDS
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ASSISTANT_KEYS = frozenset({"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"})
_CALL_KEYS = frozenset({"id", "type", "function"})
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[Any]
    n: int
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]
    #: The facts answers are planned on (see `llmp.testing.plan_answer`).
    prompt: str = ""
    last_role: str = "user"
    tool_results: list[str] = field(default_factory=list)
    tools: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    tool_choice: str | None = None
    parallel: bool = True
    schema: Mapping[str, Any] | None = None
    reasoning: bool = False
    images: int = 0
    #: Alternatives per token when logprobs were asked for (0: just the token's), else None.
    logprobs: int | None = None

    @property
    def plain(self) -> bool:
        """A text answer with nothing to plan: the fast path."""
        return not self.tools and self.schema is None and not self.images and "REFUSE" not in self.prompt


def parse_chat_request(body: Any, reasoning_field: str | None = None) -> ChatRequest:
    """Validate a chat-completions body the way OpenAI does for the fields the fake uses.

    `reasoning_field`: a compatible host's reasoning field, which it accepts back on assistant
    turns (DeepSeek requires ``reasoning_content`` on turns that called tools)."""
    if not isinstance(body, dict):
        raise invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)"
        )
    for name in body:
        if name not in _KNOWN:
            raise invalid(f"Unrecognized request argument supplied: {name}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise invalid(f"{json.dumps(messages)} is too short - 'messages'", param="messages")
    n = body.get("n")
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise invalid(f"Invalid 'n': expected an integer from 1 to 128, got {n!r}.", param="n")
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    param = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = body.get(param)
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise invalid(
            f"Invalid '{param}': integer below minimum value. "
            f"Expected a value >= 1, but got {max_tokens!r} instead.",
            param=param,
            code="integer_below_min_value",
        )
    stop = body.get("stop")
    stops = (
        [stop]
        if isinstance(stop, str)
        else [s for s in stop if isinstance(s, str)]
        if isinstance(stop, list)
        else []
    )
    request = ChatRequest(body, model, messages, n, stream, include_usage, max_tokens, stops)
    _read_messages(request, reasoning_field)
    if "tools" in body or "tool_choice" in body or "parallel_tool_calls" in body:
        _read_tools(request)
    if "response_format" in body:
        _read_response_format(request)
    _read_reasoning_and_logprobs(request)
    return request


def _read_messages(request: ChatRequest, reasoning_field: str | None) -> None:
    allowed = _ASSISTANT_KEYS | {reasoning_field} if reasoning_field else _ASSISTANT_KEYS
    call_ids: set[str] = set()
    for i, message in enumerate(request.messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            role = message.get("role") if isinstance(message, dict) else message
            raise invalid(
                f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        role = message["role"]
        if role == "assistant":
            _check_keys(message, allowed, f"messages.{i}")
            for k, call in enumerate(message.get("tool_calls") or ()):
                _check_keys(call, _CALL_KEYS, f"messages.{i}.tool_calls.{k}")
                call_ids.add(call.get("id"))
        elif role == "tool" and message.get("tool_call_id") not in call_ids:
            raise invalid(
                "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                "with 'tool_calls'.",
                param=f"messages.[{i}].role",
            )
        content = message.get("content")
        if type(content) is list:
            request.images += count_images(content, i)
    last = request.messages[-1]
    request.last_role = last.get("role", "user")
    for message in reversed(request.messages):
        if message.get("role") == "user":
            request.prompt = message_text(message.get("content"))
            break
    if request.last_role == "tool":
        trailing = []
        for message in reversed(request.messages):
            if message.get("role") != "tool":
                break
            trailing.append(message_text(message.get("content")))
        request.tool_results = trailing[::-1]


def _check_keys(item: Any, allowed: frozenset[str], where: str) -> None:
    extra = [key for key in item if key not in allowed] if isinstance(item, dict) else []
    if extra:
        raise invalid(f"Additional properties are not allowed ('{extra[0]}' was unexpected) - '{where}'")


def _read_tools(request: ChatRequest) -> None:
    body = request.body
    tools = body.get("tools")
    if tools is None:
        for field_name in ("tool_choice", "parallel_tool_calls"):
            if field_name in body:
                raise invalid(
                    f"Invalid value for '{field_name}': '{field_name}' is only allowed when 'tools' are "
                    "specified.",
                    param=field_name,
                )
        return
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.", param="tools")
    for k, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not _NAME.match(name):
            raise invalid(
                f"Invalid 'tools[{k}].function.name': string does not match pattern. Expected a string "
                "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"tools[{k}].function.name",
                code="invalid_value",
            )
        parameters = function.get("parameters") or {"type": "object", "properties": {}}  # type: ignore[union-attr]
        if function.get("strict"):  # type: ignore[union-attr]
            check_strict(parameters, f"function '{name}'", f"tools[{k}].function.parameters")
        request.tools.append((name, parameters))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
        if choice not in {name for name, _ in request.tools}:
            raise invalid(
                f"Invalid value for 'tool_choice': no function named '{choice}' was specified in "
                "the 'tools' parameter.",
                param="tool_choice",
            )
    elif choice is not None and choice not in ("auto", "none", "required"):
        raise invalid(
            f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
            param="tool_choice",
            code="invalid_value",
        )
    request.tool_choice = choice
    request.parallel = body.get("parallel_tool_calls") is not False


def _read_response_format(request: ChatRequest) -> None:
    spec = request.body["response_format"]
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind in ("text", "json_object"):
        return
    if kind != "json_schema":
        raise invalid(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object', and 'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    inner = spec.get("json_schema")
    name = inner.get("name") if isinstance(inner, dict) else None
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid(
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string "
            "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    schema = inner.get("schema") or {}
    if inner.get("strict"):
        check_strict(schema, f"response_format '{name}'", "response_format")
    request.schema = schema


def _read_reasoning_and_logprobs(request: ChatRequest) -> None:
    body = request.body
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORTS:
            supported = ", ".join(f"'{e}'" for e in _EFFORTS)
            raise invalid(
                f"Invalid value: {effort!r}. Supported values are: {supported}.",
                param="reasoning_effort",
                code="invalid_value",
            )
        request.reasoning = effort != "none"
    elif isinstance(body.get("reasoning"), dict):  # OpenRouter's reasoning object
        request.reasoning = body["reasoning"].get("enabled") is not False
    top = body.get("top_logprobs")
    if body.get("logprobs"):
        if top is not None and (not isinstance(top, int) or not 0 <= top <= 20):
            raise invalid("Invalid 'top_logprobs': expected an integer from 0 to 20.", param="top_logprobs")
        request.logprobs = top or 0
    elif top is not None:
        raise invalid(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
            param="top_logprobs",
        )
