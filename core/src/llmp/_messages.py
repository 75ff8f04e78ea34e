"""Prompts and conversations as checked chat messages (OpenAI's shape), before anything is sent.

A prompt is a string (one user message) or a list of messages. Every message is checked where it
is given, with an error that names the argument and the item: a role llmp does not know, content
of the wrong type, a user message without content, a malformed image or tool call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmp.errors import ConfigurationError
from llmp.types import ChatMessage

__all__ = ["ROLES", "check_messages", "to_messages"]

ROLES = ("system", "developer", "user", "assistant", "tool")
_IMAGE_URL_PREFIXES = ("https://", "http://", "data:image/")


def _fail(where: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{where} {problem}")


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, Mapping):
        raise _fail(
            where,
            f"is {type(part).__name__}: a content part is a dict such as {{'type': 'text', 'text': ...}}",
        )
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise _fail(where, "is a text part without a 'text' string")
    elif kind == "image_url":
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, Mapping) else spec
        if not isinstance(url, str) or not url.startswith(_IMAGE_URL_PREFIXES):
            raise _fail(
                where,
                "is an image part whose url is not https://..., http://... or a data:image/...;base64 URL "
                "(use llmp.image(path_or_bytes) to attach a local file)",
            )
        if url.startswith("data:") and ";base64," not in url:
            raise _fail(where, "is a data: image URL without ';base64,'")
    else:
        raise _fail(where, f"has type {kind!r}: content parts are 'text' or 'image_url'")


def _check_content(content: Any, where: str, *, optional: bool) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if optional:
            return
        raise _fail(where, "has no content: give it a 'content' string or list of parts")
    if isinstance(content, list):
        for j, part in enumerate(content):
            _check_part(part, f"{where}.content[{j}]")
        return
    raise _fail(
        where, f"has content of type {type(content).__name__}: content is a string or a list of parts"
    )


def _check_tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list):
        raise _fail(where, "has 'tool_calls' that is not a list")
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        if (
            not isinstance(call, Mapping)
            or not isinstance(call.get("id"), str)
            or not isinstance(function, Mapping)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise _fail(
                f"{where}.tool_calls[{j}]",
                "must be {'id': str, 'type': 'function', 'function': {'name': str, 'arguments': str}} "
                "(Choice.message() builds it)",
            )


def check_message(message: Any, where: str) -> ChatMessage:
    if not isinstance(message, dict):
        raise _fail(
            where, f"is {type(message).__name__}: a message is a dict like {{'role': 'user', 'content': ...}}"
        )
    role = message.get("role")
    if role not in ROLES:
        raise _fail(where, f"has role {role!r}: roles are {', '.join(ROLES)}")
    if "content" not in message and not (role == "assistant" and message.get("tool_calls")):
        raise _fail(where, "has no 'content'")
    if role == "assistant":
        calls = message.get("tool_calls")
        if calls is not None:
            _check_tool_calls(calls, where)
        _check_content(message.get("content"), where, optional=bool(calls))
    elif role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise _fail(
                where, "is a tool message without a 'tool_call_id' string (the id of the call it answers)"
            )
        _check_content(message.get("content"), where, optional=False)
    else:
        _check_content(message.get("content"), where, optional=False)
    return message


def check_messages(messages: Any, where: str) -> list[ChatMessage]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise _fail(where, f"is {type(messages).__name__}: pass a string or a list of message dicts")
    out = [check_message(message, f"{where}[{i}]") for i, message in enumerate(messages)]
    if not out:
        raise _fail(where, "is empty: pass a string or at least one {'role', 'content'} message")
    return out


def check_system_prompt(system_prompt: Any) -> None:
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigurationError(
            f"system_prompt must be a string or None, got {type(system_prompt).__name__}"
        )


def to_messages(prompt: Any, system_prompt: str | None, where: str) -> list[ChatMessage]:
    """One prompt (a string, or a list of messages) as the request's messages."""
    if isinstance(prompt, str):
        if system_prompt is None:
            return [{"role": "user", "content": prompt}]
        return [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
    if isinstance(prompt, bytes):
        raise _fail(where, "is bytes: decode it to a str first (prompt.decode())")
    if not isinstance(prompt, (list, tuple)):
        raise _fail(where, f"is {type(prompt).__name__}: a prompt is a string or a list of message dicts")
    messages = check_messages(prompt, where)
    if system_prompt is not None:
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages
