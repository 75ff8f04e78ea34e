"""What the fake OpenAI server answers: `llmp.testing.plan_answer` per sample, made into the
fake's `Completion` (text pieces, tool calls with argument fragments, refusals, reasoning), and
the empty answers of the `EmptyAnswer` fault.

Text goes through ``stop`` and the ``max_tokens`` word budget. Reasoning text is sent only in
compatible-host mode (``reasoning_field``: ``"reasoning_content"`` like DeepSeek/vLLM/Qwen, or
``"reasoning"`` like OpenRouter/Ollama): OpenAI's Chat Completions never returns it, only counts
it in ``completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

from llmp.testing._faults import EmptyAnswer
from llmp.testing._script import plan_answer
from llmp.testing._wire import WORD, ReplyFn, count_tokens, split_pieces
from llmp_openai.testing._openai_render import Choice, ToolCallOut
from llmp_openai.testing._openai_request import ChatRequest

__all__ = ["empty_choices", "plan_choices", "reasoning_words", "split_fragments", "text_choice"]

#: llmp's finish reasons in OpenAI's words (they are the same words).
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter", "tool_calls": "tool_calls"}
_FRAGMENT = 5  # characters per streamed argument fragment, about what OpenAI sends


def text_choice(text: str, *, max_tokens: int | None, stop: list[str], chunk_count: int | None) -> Choice:
    """Apply ``stop`` sequences and the ``max_tokens`` word budget to a reply."""
    for sequence in stop:
        cut = text.find(sequence) if sequence else -1
        if cut >= 0:
            text = text[:cut]
    finish = "stop"
    words = WORD.findall(text)
    if max_tokens is not None and len(words) > max_tokens:
        text = "".join(words[:max_tokens])
        finish = "length"
    return Choice(split_pieces(text, chunk_count), finish, count_tokens(text))


def split_fragments(arguments: str, chunk_count: int | None = None) -> list[str]:
    """Argument fragments joining to exactly `arguments`: `chunk_count` of them (as even as the
    length allows), or about `_FRAGMENT` characters each."""
    if not arguments:
        return []
    count = chunk_count if chunk_count else -(-len(arguments) // _FRAGMENT)
    count = max(1, min(count, len(arguments)))
    size, extra = divmod(len(arguments), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(arguments[start:end])
        start = end
    return out


def plan_choices(
    request: ChatRequest,
    reply_fn: ReplyFn,
    chunk_count: int | None,
    reasoning_field: str | None,
    call_id: str,
) -> list[Choice]:
    """One `Choice` per sample of `request`."""
    body, n = request.body, request.n
    if request.plain and reasoning_field is None:
        return [
            text_choice(
                reply_fn(body, i), max_tokens=request.max_tokens, stop=request.stop, chunk_count=chunk_count
            )
            for i in range(n)
        ]
    return [
        _planned(request, reply_fn(body, i), chunk_count, reasoning_field, f"{call_id}{i}") for i in range(n)
    ]


def _planned(
    request: ChatRequest,
    default_text: str,
    chunk_count: int | None,
    reasoning_field: str | None,
    call_id: str,
) -> Choice:
    plan = plan_answer(
        prompt=request.prompt,
        default_text=default_text,
        last_role=request.last_role,
        tool_results=request.tool_results,
        tools=request.tools,
        tool_choice=request.tool_choice,
        parallel=request.parallel,
        schema=request.schema,
        reasoning=reasoning_field is not None,
        images=request.images,
    )
    reasoning = split_pieces(plan.reasoning, chunk_count) if plan.reasoning else None
    if plan.refusal is not None:
        refusal = split_pieces(plan.refusal, chunk_count)
        return Choice([], "stop", count_tokens(plan.refusal), refusal=refusal, reasoning=reasoning)
    if plan.tool_calls:
        calls = [
            ToolCallOut(f"call_{call_id}{k}", name, arguments, split_fragments(arguments, chunk_count))
            for k, ((name, _), arguments) in enumerate(zip(plan.tool_calls, plan.arguments, strict=True))
        ]
        used = sum(max(1, count_tokens(c.arguments)) for c in calls)
        return Choice([], "tool_calls", used, tool_calls=calls, reasoning=reasoning)
    choice = text_choice(plan.text, max_tokens=request.max_tokens, stop=request.stop, chunk_count=chunk_count)
    choice.reasoning = reasoning
    return choice


def empty_choices(fault: EmptyAnswer, n: int) -> list[Choice]:
    """The samples of an empty answer: ``""`` (``empty``), null content (``null``), or none."""
    if fault.shape in ("no_choices", "done_only"):
        return []
    finish = _FINISH.get(fault.finish, fault.finish)
    return [Choice([], finish, 0, null_content=fault.shape == "null") for _ in range(n)]


def reasoning_words(choices: list[Choice]) -> int:
    """Reasoning tokens of the text the samples think aloud (counted as completion tokens)."""
    return sum(count_tokens("".join(c.reasoning)) for c in choices if c.reasoning)
