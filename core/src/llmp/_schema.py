"""``response_format=``: an output schema to send and a parser to validate every reply with.

Accepted: a pydantic model class (the reply becomes an instance), a TypedDict, a dataclass or any
type pydantic can validate (through a ``TypeAdapter``), or a JSON Schema as a dict (the reply is
the parsed JSON, checked against it by `llmp._jsonschema.validate`; OpenAI's own
``{"type": "json_schema", "json_schema": {...}}`` wrapper is accepted too). pydantic is imported
only here, only when a schema is used. The schema must describe a JSON object: that is what
providers' structured output produces.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmp._jsonschema import validate
from llmp.errors import ConfigurationError
from llmp.types import OutputSchema

__all__ = ["OutputSpec", "output_spec"]

_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    schema: OutputSchema
    #: Text of one reply -> its value; raises ValueError (pydantic's ValidationError is one).
    parse: Callable[[str], Any]


def _name(raw: str) -> str:
    return _NAME.sub("_", raw)[:64] or "output"


def _is_object_schema(schema: Mapping[str, Any]) -> bool:
    if schema.get("type") == "object" or "properties" in schema:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = (schema.get("$defs") or {}).get(ref.rsplit("/", 1)[-1])
        return isinstance(target, Mapping) and _is_object_schema(target)
    return False


def _json_parser(schema: Mapping[str, Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = json.loads(text)  # a JSONDecodeError is a ValueError
        validate(value, schema)
        return value

    return parse


def _from_dict(spec: Mapping[str, Any], strict: bool | None) -> OutputSpec:
    if spec.get("type") == "json_schema" and isinstance(spec.get("json_schema"), Mapping):
        inner = spec["json_schema"]
        schema = inner.get("schema")
        if not isinstance(schema, Mapping):
            raise ConfigurationError("response_format['json_schema'] has no 'schema' dict")
        name = _name(str(inner.get("name") or "output"))
        strict = bool(inner.get("strict", True)) if strict is None else strict
    else:
        schema, name = spec, _name(str(spec.get("title") or "output"))
    if not _is_object_schema(schema):
        raise ConfigurationError(
            "response_format must describe a JSON object (a schema with 'type': 'object' and its "
            "'properties'): providers' structured output produces objects. Wrap a list or a scalar "
            "in an object with one property."
        )
    schema = dict(schema)
    return OutputSpec(OutputSchema(name, schema, True if strict is None else strict), _json_parser(schema))


def _portable_typeddict(kind: Any) -> Any:
    """On Python < 3.12 pydantic refuses ``typing.TypedDict``: rebuild it as the equivalent
    ``typing_extensions.TypedDict`` (same keys, types and required keys)."""
    if sys.version_info >= (3, 12) or not typing.is_typeddict(kind):
        return kind
    import typing_extensions

    if type(kind).__module__ == "typing_extensions":
        return kind
    hints = typing.get_type_hints(kind, include_extras=True)
    required = getattr(kind, "__required_keys__", frozenset(hints))
    optional = typing_extensions.NotRequired
    fields = {name: hint if name in required else optional[hint] for name, hint in hints.items()}
    return typing_extensions.TypedDict(kind.__name__, fields)  # type: ignore[operator]


def _from_type(kind: Any, strict: bool | None) -> OutputSpec:
    try:
        import pydantic
    except ImportError as exc:  # pragma: no cover - pydantic is a dependency of llmp-core
        raise ConfigurationError("response_format needs pydantic: pip install pydantic") from exc
    name = _name(getattr(kind, "__name__", None) or "output")
    kind = _portable_typeddict(kind)
    if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        model: Any = kind
        try:
            schema = model.model_json_schema()
        except Exception as exc:
            raise ConfigurationError(
                f"response_format={name}: pydantic cannot build its JSON schema: {exc}"
            ) from exc
        parse: Callable[[str], Any] = model.model_validate_json
    else:
        try:
            adapter = pydantic.TypeAdapter(kind)
            schema = adapter.json_schema()
        except Exception as exc:
            raise ConfigurationError(
                f"response_format={kind!r} is not a pydantic model, TypedDict, dataclass or JSON-schema "
                f"dict that llmp can build a schema from: {exc}"
            ) from exc
        parse = adapter.validate_json
    if not _is_object_schema(schema):
        raise ConfigurationError(
            f"response_format={name} does not describe a JSON object (its schema is "
            f"{json.dumps(schema)[:80]}...): use a model, TypedDict or dataclass with fields"
        )
    return OutputSpec(OutputSchema(name, schema, True if strict is None else strict), parse)


def output_spec(response_format: Any, *, strict: bool | None = None) -> OutputSpec | None:
    """The schema and parser for `response_format`, or None when it is None."""
    if response_format is None:
        return None
    if isinstance(response_format, OutputSpec):
        return response_format
    if isinstance(response_format, Mapping):
        return _from_dict(response_format, strict)
    if (
        isinstance(response_format, type)
        or dataclasses.is_dataclass(response_format)
        or hasattr(response_format, "__origin__")
    ):
        return _from_type(response_format, strict)
    raise ConfigurationError(
        f"response_format must be a pydantic model class, a TypedDict or dataclass, or a JSON Schema "
        f"dict; got {type(response_format).__name__} {response_format!r:.80}"
    )
