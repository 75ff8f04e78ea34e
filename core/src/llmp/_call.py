"""One call's options, checked once and turned into requests: `CallSpec`.

Every public method (generate, complete, stream_events, batch, ...) builds one `CallSpec` from
its arguments and the LLM's defaults before anything is sent, so bad input fails at the call
with an error naming the argument; a job then builds every prompt's request from the same spec
(one params object, so plugins are asked for their effective parameters once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmp._answers import Parser, parsed_values, texts
from llmp._engine import Engine
from llmp._params import check_params, reasoning_of
from llmp._schema import OutputSpec, output_spec
from llmp._tools import FunctionTool, normalize_tools
from llmp.errors import ConfigurationError, MaxTurnsError
from llmp.types import ChatMessage, Reasoning, Request, Response, Tool

__all__ = ["CallSpec", "Mode", "build_spec", "check_n"]

#: What a call returns per prompt: texts, validated structured values, or the whole `Response`.
Mode = Literal["text", "parsed", "rich"]
_CHOICES = ("auto", "none", "required")


@dataclass(slots=True)
class CallSpec:
    n: int
    params: dict[str, Any]
    mode: Mode = "text"
    system_prompt: str | None = None
    tools: tuple[Tool, ...] = ()
    functions: dict[str, FunctionTool] = field(default_factory=dict)
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    output: OutputSpec | None = None
    reasoning: Reasoning | None = None
    max_turns: int | None = None

    @property
    def parser(self) -> Parser | None:
        return self.output.parse if self.output is not None else None

    def request(self, engine: Engine, messages: list[ChatMessage]) -> Request:
        return engine.request(
            messages,
            self.n,
            self.params,
            tools=self.tools,
            tool_choice=self.tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            output_schema=self.output.schema if self.output is not None else None,
            reasoning=self.reasoning,
        )

    def outputs(self, response: Response, provider: str) -> Any:
        """What the caller gets for one prompt in this call's mode."""
        if self.mode == "rich":
            return response
        if self.max_turns is not None and response.tool_calls:
            raise MaxTurnsError(
                f"the model still asked for tools after max_turns={self.max_turns} calls; raise "
                "max_turns, or pass rich=True to get the last Response with its pending tool calls",
                response=response,
            )
        if self.mode == "parsed":
            return parsed_values(response, provider)
        return texts(response, provider)


def check_n(n: object, method: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError(f"{method}: n must be a positive integer (samples per prompt), got {n!r}")
    return n


def build_spec(
    defaults: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    method: str,
    n: int = 1,
    rich: bool = False,
    system_prompt: str | None = None,
    tools: Any = None,
    tool_choice: str | None = None,
    parallel_tool_calls: bool | None = None,
    response_format: Any = None,
    reasoning: Any = None,
    max_turns: int | None = None,
) -> CallSpec:
    """Check a call's arguments (see the module docstring) and bundle them."""
    check_n(n, method)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigurationError(
            f"{method}: system_prompt must be a string or None, got {type(system_prompt).__name__}"
        )
    if params:
        check_params(params, f" of {method}()")
        merged = {**defaults, **params}
    else:
        merged = dict(defaults)
    effort = merged.pop("reasoning_effort", None)
    if reasoning is None and effort is not None:
        reasoning = effort
    merged = {k: v for k, v in merged.items() if v is not None}
    definitions, functions = normalize_tools(tools)
    if tool_choice is not None:
        if not definitions:
            raise ConfigurationError(f"{method}: tool_choice={tool_choice!r} needs tools=")
        if tool_choice not in _CHOICES and tool_choice not in {t.name for t in definitions}:
            raise ConfigurationError(
                f"{method}: tool_choice must be 'auto', 'none', 'required' or the name of one of the "
                f"tools ({', '.join(t.name for t in definitions)}), got {tool_choice!r}"
            )
    if parallel_tool_calls is not None and not isinstance(parallel_tool_calls, bool):
        raise ConfigurationError(f"{method}: parallel_tool_calls must be True, False or None")
    if max_turns is not None:
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigurationError(f"{method}: max_turns must be a positive integer, got {max_turns!r}")
        plain = [t.name for t in definitions if t.name not in functions]
        if not functions or plain:
            raise ConfigurationError(
                f"{method}: max_turns runs Python functions, but "
                + (
                    f"tools {', '.join(plain)} are definitions without one"
                    if plain
                    else "no tools were given"
                )
                + ": pass functions (or llmp.tool(...)) as tools"
            )
        if n != 1:
            raise ConfigurationError(f"{method}: a tool loop (max_turns) follows one sample: use n=1")
    output = output_spec(response_format)
    mode: Mode = "rich" if rich else ("parsed" if output is not None else "text")
    if definitions and max_turns is None and mode != "rich":
        raise ConfigurationError(
            f"{method}: with tools= the model may answer with tool calls, which text results cannot "
            "carry: pass rich=True to get Response objects (with .tool_calls), or max_turns=N to run "
            "the functions and return the model's final answer"
        )
    return CallSpec(
        n=n,
        params=merged,
        mode=mode,
        system_prompt=system_prompt,
        tools=definitions,
        functions=functions,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
        output=output,
        reasoning=reasoning_of(reasoning),
        max_turns=max_turns,
    )
