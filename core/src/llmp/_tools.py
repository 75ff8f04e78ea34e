"""Tools: JSON-schema function definitions, from plain typed Python functions too.

`tool(func)` reads the signature (every parameter needs a type annotation; defaults make a
parameter optional) and the docstring (its first paragraph describes the tool; a Google-style
``Args:`` section describes the parameters), and builds the JSON schema with pydantic, which is
imported only then. The same pydantic model validates the arguments the model sends before the
function runs, so a tool loop calls functions with proper Python values.

Wherever tools are accepted, each item may be a function, a `FunctionTool` (from `tool`), a
`llmp.types.Tool`, or a dict in either common shape: ``{"name", "description", "parameters"}``
or OpenAI's ``{"type": "function", "function": {...}}``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from llmp.errors import ToolCallError, ToolDefinitionError
from llmp.types import Tool, ToolCall

__all__ = ["FunctionTool", "invoke", "normalize_tools", "tool"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$", re.MULTILINE)
_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


@dataclass(frozen=True, slots=True)
class FunctionTool(Tool):
    """A `Tool` backed by a Python function, which a tool loop can call."""

    function: Callable[..., Any] = field(default=lambda: None, compare=False, repr=False)
    model: Any = field(default=None, compare=False, repr=False)


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    match = _ARGS_SECTION.search(text)
    head = text[: match.start()] if match else text
    description = head.strip().split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    if match:
        current = None
        for line in text[match.end() :].splitlines():
            if line.strip() and not line.startswith(" "):
                break  # the next section
            found = _ARG_LINE.match("  " + line.strip()) if line.startswith(" ") else None
            if found and (len(line) - len(line.lstrip())) <= 8 and ":" in line:
                current = found.group(1).lstrip("*")
                params[current] = found.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return description, params


def _build(func: Callable[..., Any], name: str | None, description: str | None, strict: bool) -> FunctionTool:
    import pydantic

    tool_name = str(name or getattr(func, "__name__", ""))
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(
            f"tool name {tool_name!r} is invalid: use 1-64 letters, digits, '_' or '-' (pass name=...)"
        )
    doc_description, doc_params = _docstring_parts(inspect.getdoc(func))
    try:
        signature = inspect.signature(func)
        hints = inspect.get_annotations(func, eval_str=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolDefinitionError(f"cannot read the signature of tool {tool_name!r}: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: *{param.name} / **{param.name} cannot be described as JSON "
                "arguments; give the function named, annotated parameters"
            )
        if param.name not in hints:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {param.name!r} has no type annotation (the schema "
                "is built from annotations, e.g. `city: str`)"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            hints[param.name],
            pydantic.Field(default, description=doc_params.get(param.name)),
        )
    try:
        model = pydantic.create_model(f"{tool_name}_arguments", **fields)
        schema = model.model_json_schema()
    except Exception as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: pydantic cannot build a JSON schema: {exc}") from exc
    schema.pop("title", None)
    return FunctionTool(tool_name, description or doc_description, schema, strict, function=func, model=model)


@overload
def tool(func: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, strict: bool = False
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """A tool from a typed Python function; usable as ``@llmp.tool`` or ``@llmp.tool(name=...)``.

    ```python
    @llmp.tool
    def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"The current weather in a city.

        Args:
            city: The city's name, e.g. "Paris".
        \"\"\"
    ```
    """
    if func is None:
        return lambda f: _build(f, name, description, strict)
    if not callable(func):
        raise ToolDefinitionError(f"tool() takes a function, got {type(func).__name__}")
    return _build(func, name, description, strict)


def _from_mapping(spec: Mapping[str, Any], where: str) -> Tool:
    if spec.get("type") == "function" and isinstance(spec.get("function"), Mapping):
        spec = spec["function"]
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ToolDefinitionError(f"{where} needs a 'name' of 1-64 letters, digits, '_' or '-', got {name!r}")
    parameters = spec.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise ToolDefinitionError(f"{where} ({name}): 'parameters' must be a JSON Schema object")
    description = spec.get("description") or ""
    if not isinstance(description, str):
        raise ToolDefinitionError(f"{where} ({name}): 'description' must be a string")
    return Tool(name, description, dict(parameters), bool(spec.get("strict", False)))


def normalize_tools(tools: Iterable[Any] | None) -> tuple[tuple[Tool, ...], dict[str, FunctionTool]]:
    """``tools=`` as definitions, plus the callable ones by name (for a tool loop)."""
    if tools is None:
        return (), {}
    if isinstance(tools, (str, bytes, Mapping)) or callable(tools) or not isinstance(tools, Iterable):
        raise ToolDefinitionError("tools must be a list of functions, llmp.Tool objects or tool dicts")
    out: list[Tool] = []
    callables: dict[str, FunctionTool] = {}
    for i, item in enumerate(tools):
        where = f"tools[{i}]"
        if isinstance(item, FunctionTool):
            definition: Tool = item
        elif isinstance(item, Tool):
            definition = item
        elif isinstance(item, Mapping):
            definition = _from_mapping(item, where)
        elif callable(item):
            definition = _build(item, None, None, False)
        else:
            raise ToolDefinitionError(
                f"{where} is {type(item).__name__}: pass a function, llmp.Tool or a dict"
            )
        if any(t.name == definition.name for t in out):
            raise ToolDefinitionError(f"{where}: two tools are named {definition.name!r}")
        out.append(definition)
        if isinstance(definition, FunctionTool):
            callables[definition.name] = definition
    return tuple(out), callables


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    dump = getattr(result, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return json.dumps(result, ensure_ascii=False, default=str)


async def invoke(functions: Mapping[str, FunctionTool], call: ToolCall) -> str:
    """Run the function a tool call asks for; what goes back to the model as the tool's result.

    Problems go back to the model as the result (it can correct itself): an unknown tool,
    arguments that are not a JSON object or do not validate, an exception in the function.
    A synchronous function runs in a worker thread so that it cannot stall other requests.
    """
    tool_ = functions.get(call.name)
    if tool_ is None:
        return f"Error: there is no tool named {call.name!r}; available: {', '.join(sorted(functions))}"
    try:
        arguments = call.args()
        values = tool_.model.model_validate(arguments) if tool_.model is not None else None
    except ToolCallError as exc:
        return f"Error: {exc}"
    except ValueError as exc:  # pydantic's ValidationError
        return f"Error: invalid arguments for {call.name}: {' '.join(str(exc).split())}"
    kwargs = {name: getattr(values, name) for name in type(values).model_fields} if values is not None else {}
    function = tool_.function
    try:
        if inspect.iscoroutinefunction(function):
            result = await function(**kwargs)
        else:
            result = await asyncio.to_thread(function, **kwargs)
    except Exception as exc:
        return f"Error: {call.name} raised {type(exc).__name__}: {exc}"
    return _as_text(result)
