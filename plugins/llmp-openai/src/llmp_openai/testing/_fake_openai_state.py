"""State of the fake OpenAI server that tests read and change: the shared state plus its knobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from llmp.testing._fake_state import FakeServerState, TokenCount
from llmp.testing._wire import ReplyFn
from llmp_openai.testing import _openai_wire as wire

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini")


class FakeOpenAIState(FakeServerState):
    """`FakeServerState` with OpenAI's models, ``sk-test-`` keys and its own knobs
    (``reasoning_tokens``, ``reasoning_field``, ``max_choices``; see ``FakeOpenAIServer``)."""

    def __init__(
        self,
        *,
        reply_fn: ReplyFn | None = None,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cached_tokens: TokenCount = 0,
        reasoning_tokens: TokenCount = 0,
        reasoning_field: str | None = None,
        max_choices: int | None = None,
        api_keys: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        models: Iterable[str] | None = None,
        strict_models: bool = False,
        record: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.reasoning_tokens: TokenCount = 0
        self.reasoning_field: str | None = None
        self.max_choices: int | None = None
        super().__init__(
            reply_fn=reply_fn or wire.default_reply,
            models=models if models is not None else DEFAULT_MODELS,
            key_prefix="sk-test-",
            ttft=ttft,
            token_delay=token_delay,
            chunk_count=chunk_count,
            cached_tokens=cached_tokens,
            knobs={
                "reasoning_tokens": reasoning_tokens,
                "reasoning_field": reasoning_field,
                "max_choices": max_choices,
            },
            api_keys=api_keys,
            rpm=rpm,
            tpm=tpm,
            strict_models=strict_models,
            record=record,
            clock=clock,
        )
