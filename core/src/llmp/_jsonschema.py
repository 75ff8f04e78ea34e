"""JSON Schema helpers without a JSON Schema library: the strict form OpenAI asks for, and a
small validator for replies to a schema given as a plain dict.

`strict_json_schema` is what OpenAI's structured outputs (``"strict": true``) require of a
schema: every object lists all its properties as required and forbids others, through ``$defs``,
``items``, ``anyOf`` and ``allOf``; a ``default`` of None is dropped (strict mode rejects it).
The same rules as the openai SDK's ``to_strict_json_schema``, written for plain dicts.

`validate` covers what a dict schema usually says (type, properties, required,
additionalProperties, items, enum, const, anyOf/oneOf, local ``$ref``), enough to refuse a reply
that is not what was asked for. Pydantic models, TypedDicts and dataclasses are validated by
pydantic instead (`llmp._schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaMismatch", "strict_json_schema", "validate"]


def strict_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `schema` in OpenAI's strict form."""
    strict: dict[str, Any] = _strict(schema, schema)
    return strict


def _strict(node: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, root) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {name: _strict(sub, root) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "not", "additionalProperties"):
            out[key] = _strict(value, root)
        elif key == "default" and value is None:
            continue
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        # A lone allOf (pydantic's way of attaching a description to a $ref) is inlined.
        single = out.pop("allOf")[0]
        out = {**single, **out}
    return out


class SchemaMismatch(ValueError):
    """A value that does not match its schema; the message says where."""


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    types = _TYPES.get(kind)
    return True if types is None else isinstance(value, types)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise SchemaMismatch(f"cannot follow the non-local $ref {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def validate(
    value: Any, schema: Mapping[str, Any], path: str = "$", root: Mapping[str, Any] | None = None
) -> None:
    """Raise `SchemaMismatch` naming the first place where `value` does not match `schema`."""
    root = schema if root is None else root
    if "$ref" in schema:
        validate(value, _resolve(str(schema["$ref"]), root), path, root)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, k) for k in kinds):
            raise SchemaMismatch(f"{path} is {type(value).__name__}, expected {' or '.join(map(str, kinds))}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{path} is {value!r}, not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        raise SchemaMismatch(f"{path} is {value!r}, expected {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            for option in options:
                try:
                    validate(value, option, path, root)
                    break
                except SchemaMismatch:
                    continue
            else:
                raise SchemaMismatch(f"{path} matches none of the {key} alternatives")
    for option in schema.get("allOf") or ():
        validate(value, option, path, root)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                raise SchemaMismatch(f"{path} is missing the required property {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], f"{path}.{name}", root)
            elif extra is False:
                raise SchemaMismatch(f"{path} has the property {name!r}, which the schema does not allow")
            elif isinstance(extra, Mapping):
                validate(item, extra, f"{path}.{name}", root)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]", root)
