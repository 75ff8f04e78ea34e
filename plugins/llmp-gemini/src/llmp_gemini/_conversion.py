"""llmp's requests as Gemini ``generateContent`` JSON bodies, as google-genai would send them.

`rest_body` writes the JSON the SDK's converter (``_GenerateContentParameters_to_mldev``) would put
on the wire for the same request, checked field by field against it in the tests: messages as
``contents`` (`llmp_gemini._messages`), parameters as ``generationConfig``, tools as
``functionDeclarations`` (JSON Schema in ``parameters_json_schema``, as the SDK sends a Python
function's), ``tool_choice`` as ``toolConfig.functionCallingConfig``, an output schema as
``responseJsonSchema`` with ``responseMimeType``, reasoning as ``thinkingConfig``
(`llmp_gemini._thinking`). Live requests skip the SDK's pydantic validation and conversion, which
cost more CPU than the HTTP/2 exchange itself; the cheap checks here keep its early, typed errors.

Everything but the messages is the same for every prompt of a job (one params object, one tools
tuple, one schema), so it is built once per distinct request shape (`request_fields`).

Parameters use OpenAI's vocabulary, plus Gemini's own names (`llmp_gemini._models.GEMINI_PARAMS`);
one Gemini cannot honour is an `UnsupportedParameterError` naming it, never silently dropped.
``extra_body`` is merged into the body as it is (objects merged one level deep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmp.errors import UnsupportedParameterError
from llmp.types import Request
from llmp_gemini._messages import to_contents
from llmp_gemini._thinking import thinking_config

__all__ = ["check_params", "request_fields", "rest_body"]

# Parameter -> (generationConfig field, kind). Several names may set one field, but only one may.
_CONFIG: dict[str, tuple[str, str]] = {
    "temperature": ("temperature", "number"),
    "top_p": ("topP", "number"),
    "top_k": ("topK", "number"),
    "seed": ("seed", "integer"),
    "presence_penalty": ("presencePenalty", "number"),
    "frequency_penalty": ("frequencyPenalty", "number"),
    "max_tokens": ("maxOutputTokens", "integer"),
    "max_completion_tokens": ("maxOutputTokens", "integer"),
    "max_output_tokens": ("maxOutputTokens", "integer"),
    "stop": ("stopSequences", "stop"),
    "stop_sequences": ("stopSequences", "stop"),
    "response_mime_type": ("responseMimeType", "string"),
}
# Parameter -> top-level body field.
_TOP: dict[str, tuple[str, str]] = {
    "safety_settings": ("safetySettings", "safety"),
    "service_tier": ("serviceTier", "tier"),
    "store": ("store", "bool"),
    "cached_content": ("cachedContent", "cached"),
}
_THINKING = frozenset({"thinking_budget", "thinking_level", "include_thoughts"})
_NOT_ASKED = {"logprobs": False, "top_logprobs": 0}  # values that ask for nothing
_TIERS = ("standard", "flex", "priority")
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_KNOWN = sorted({*_CONFIG, *_TOP, *_THINKING, "extra_body"})


def check_params(params: Mapping[str, Any]) -> None:
    """Raise `UnsupportedParameterError` for a parameter Gemini cannot take (before sending)."""
    _params_fields(params)


def _params_fields(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(generationConfig fields, top-level fields)`` for `params` (thinking aside)."""
    config: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or name in _THINKING or name == "extra_body" or _NOT_ASKED.get(name, ...) == value:
            continue
        spec = _CONFIG.get(name)
        into = config
        if spec is None:
            spec = _TOP.get(name)
            into = top
        if spec is None:
            raise UnsupportedParameterError(
                f"llmp-gemini cannot send the parameter {name!r} to Gemini. Supported: {', '.join(_KNOWN)}."
            )
        field, kind = spec
        if field in into:
            raise UnsupportedParameterError(f"{name!r} repeats another parameter that sets Gemini's {field}")
        into[field] = _checked(name, kind, value)
    if "topK" in config:
        config["topK"] = float(config["topK"])  # a float in Gemini's schema, as the SDK sends it
    return config, top


def _checked(name: str, kind: str, value: Any) -> Any:
    """`value` if it has the type Gemini takes (a lone stop string becomes a list)."""
    if kind == "number":
        ok, must = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif kind == "integer":
        ok, must = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif kind == "stop":
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        must = "a string or a list of strings"
    elif kind == "string":
        ok, must = isinstance(value, str), "a string"
    elif kind == "bool":
        ok, must = isinstance(value, bool), "True or False"
    elif kind == "tier":
        ok, must = value in _TIERS, f"one of {', '.join(_TIERS)}"
    elif kind == "cached":
        ok, must = isinstance(value, str) and bool(value), "a cached content name ('cachedContents/...')"
        if ok and not value.startswith("cachedContents/"):
            value = f"cachedContents/{value}"  # as google-genai completes a bare name
    else:  # safety
        ok = isinstance(value, list) and all(
            isinstance(v, Mapping) and set(v) <= {"category", "threshold"} for v in value
        )
        must = "a list of {'category': ..., 'threshold': ...} objects"
        value = [dict(v) for v in value] if ok else value
    if not ok:
        raise UnsupportedParameterError(f"Gemini cannot take {name}={value!r}: it must be {must}")
    return value


def _tools(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.parallel_tool_calls is False:
        raise UnsupportedParameterError(
            "parallel_tool_calls=False: Gemini has no switch to stop parallel function calls; leave "
            "it unset (and run one call at a time yourself if you must)"
        )
    if not request.tools:
        if request.tool_choice not in (None, "auto", "none"):
            raise UnsupportedParameterError(f"tool_choice={request.tool_choice!r} needs tools")
        return fields
    declarations = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        parameters = tool.parameters
        declaration["parameters_json_schema"] = parameters if type(parameters) is dict else dict(parameters)
        declarations.append(declaration)
    fields["tools"] = [{"functionDeclarations": declarations}]
    choice = request.tool_choice
    if choice is not None:
        mode = _MODES.get(choice)
        config: dict[str, Any] = {"mode": mode or "ANY"}
        if mode is None:
            config["allowedFunctionNames"] = [choice]
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


def _fields(request: Request) -> dict[str, Any]:
    params = request.params
    config, fields = _params_fields(params)
    if request.n != 1:
        config["candidateCount"] = request.n
    schema = request.output_schema
    if schema is not None:
        if "responseMimeType" in config:
            raise UnsupportedParameterError(
                "response_mime_type and response_format were both given: an output schema is sent "
                "as JSON (application/json); leave response_mime_type out"
            )
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = schema.schema if type(schema.schema) is dict else dict(schema.schema)
    thinking = thinking_config(request.model, params, request.reasoning)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    fields.update(_tools(request))
    if config:
        fields["generationConfig"] = config
    return fields


# One remembered shape: a job sends every prompt with the same params/tools/schema objects.
_memo: tuple[Any, ...] | None = None


def request_fields(request: Request) -> dict[str, Any]:
    """Every body field but the messages, for `request` (remembered for the last shape asked).

    The returned dict is shared: copy before changing it.
    """
    global _memo
    memo = _memo
    if (
        memo is not None
        and memo[0] is request.params
        and memo[1] is request.tools
        and memo[2] is request.output_schema
        and memo[3] is request.reasoning
        and memo[4] == request.model
        and memo[5] == request.n
        and memo[6] == request.tool_choice
        and memo[7] == request.parallel_tool_calls
    ):
        fields: dict[str, Any] = memo[8]
        return fields
    fields = _fields(request)
    _memo = (
        request.params,
        request.tools,
        request.output_schema,
        request.reasoning,
        request.model,
        request.n,
        request.tool_choice,
        request.parallel_tool_calls,
        fields,
    )
    return fields


def rest_body(request: Request) -> dict[str, Any]:
    """The ``generateContent`` JSON body for `request`, as google-genai would send it."""
    contents, system = to_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = {"parts": [{"text": system}], "role": "user"}
    body.update(request_fields(request))
    extra = request.params.get("extra_body")
    if extra:
        for name, value in extra.items():
            old = body.get(name)
            body[name] = {**old, **value} if isinstance(old, dict) and isinstance(value, Mapping) else value
    return body
