"""The bounded tool loop: the model asks, the Python functions run, the model answers.

Each turn is an ordinary request through the engine (cache, limits, retries, usage): a rerun of
the same conversation with deterministic functions is served from the cache turn by turn. The
calls of one turn run concurrently; their results go back in the order the model asked.
Problems with a call (unknown tool, malformed or invalid arguments, an exception in the
function) go back to the model as that call's result instead of crashing the loop.

The answer is the last turn's `Response` with `usage` and `cost` summed over every turn and
`messages` holding the whole conversation. When `max_turns` model calls are used up and the
model still asks for tools, those calls are not run: the last `Response` is returned as it came
(its tool calls pending).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from llmp._call import CallSpec
from llmp._target import Target
from llmp._tools import invoke
from llmp.types import ChatMessage, Response, Usage

__all__ = ["run_tool_loop"]


async def run_tool_loop(
    target: Target, messages: list[ChatMessage], spec: CallSpec, first_key: str | None = None
) -> Response:
    assert spec.max_turns is not None
    conversation = list(messages)
    usage = Usage()
    cost: float | None = 0.0
    cached = True
    for turn in range(spec.max_turns):
        # A copy per turn: the request handed to the client must not change after it is sent.
        prepared = target.prepare(list(conversation), spec)
        response = await target.answer(prepared, spec.parser, None, first_key if turn == 0 else None)
        usage.add(response.usage)
        cost = None if cost is None or response.cost is None else cost + response.cost
        cached = cached and response.cached
        choice = response.choices[0]
        calls = choice.tool_calls
        conversation.append(choice.message())
        if not calls or turn == spec.max_turns - 1:
            break
        results = await asyncio.gather(*(invoke(spec.functions, call) for call in calls))
        conversation.extend(
            {"role": "tool", "tool_call_id": call.id, "content": result}
            for call, result in zip(calls, results, strict=True)
        )
    return replace(response, usage=usage, cost=cost, cached=cached, messages=conversation)
