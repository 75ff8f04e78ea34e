"""Issue 14 item 4: an empty Anthropic answer (``content: []``, one empty text block, a stream
with no text) is never returned or cached as ``""``: the plugin hands on the empty choice with
its billed usage, and the core raises `EmptyResponseError`."""

from typing import Any

import pytest

from llmp import errors
from llmp.testing import EmptyAnswer
from llmp_litellm.testing import FakeAnthropicServer


@pytest.mark.parametrize("shape", ["empty", "null", "no_choices", "done_only"])
@pytest.mark.parametrize("streamed", [False, True])
def test_an_empty_answer_is_an_error_with_usage_and_never_cached(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, shape: str, streamed: bool
) -> None:
    fake_anthropic.inject(EmptyAnswer(shape), times=1)
    llm = make_llm(cache=True, temperature=0)
    ask = (lambda: "".join(llm.stream("two words"))) if streamed else (lambda: llm.chat("two words"))
    with pytest.raises(errors.EmptyResponseError) as info:
        ask()
    assert info.value.finish_reason == "stop"
    assert info.value.usage is not None
    assert info.value.usage.input_tokens == 2  # billed, and counted
    assert llm.total_input_tokens == 2
    assert fake_anthropic.request_count == 1, "a deterministic empty answer is not retried"
    assert llm.chat("two words") == "Echo: two words", "the empty answer was cached"
    assert fake_anthropic.request_count == 2


def test_an_answer_cut_by_max_tokens_before_any_text_says_so(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    fake_anthropic.inject(EmptyAnswer("no_choices", finish="length"), times=1)
    with pytest.raises(errors.EmptyResponseError, match="raise max_tokens") as info:
        make_llm().chat("x")
    assert info.value.finish_reason == "length"
