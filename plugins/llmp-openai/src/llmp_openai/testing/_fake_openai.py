"""``FakeOpenAIServer``: the fake OpenAI API served over TLS, HTTP/2 and HTTP/1.1 on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from llmp.testing._fake_state import TokenCount
from llmp.testing._served import BackgroundServed
from llmp.testing._server import BackgroundServer, ServerOptions, SpawnedServer
from llmp.testing._wire import ReplyFn
from llmp_openai.testing._fake_openai_app import FakeOpenAIApp

__all__ = ["FakeOpenAIServer"]


class FakeOpenAIServer(BackgroundServed, FakeOpenAIApp):
    """A local OpenAI-compatible server for tests, demos and benchmarks.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Clients reach it at
    :attr:`base_url` (``https://127.0.0.1:<port>/v1``) and trust it through ``SSL_CERT_FILE`` set
    to :attr:`ca_path`.

    Answers follow `llmp.testing.plan_answer` (tool calls, structured output, refusals, images),
    rendered as OpenAI renders them; requests are validated as OpenAI validates them (unknown
    fields, strict schemas, images, tool messages). ``POST /v1/embeddings`` answers with
    deterministic vectors.

    Knobs (all keyword-only; the first eight can be changed on a running server and are restored by
    :meth:`reset`):

    - ``reply_fn(body, choice_index) -> str``: the reply text. Default: ``"Echo: <last user
      message>"`` plus ``" [i]"`` for choice ``i > 0``.
    - ``ttft``: seconds before the first byte of a response. ``token_delay``: seconds between
      stream steps; a non-streamed reply waits ``ttft + token_delay * (deltas - 1)``.
    - ``chunk_count``: stream deltas per choice (default: one per word).
    - ``cached_tokens`` / ``reasoning_tokens``: reported in usage details (int, or a function of
      the request body). Reasoning tokens are added to ``completion_tokens``, as OpenAI counts them.
    - ``reasoning_field``: play an OpenAI-compatible host whose models think aloud: every answer
      carries reasoning text (``"Thinking about <prompt>."``) in this message/delta field,
      ``"reasoning_content"`` (DeepSeek, vLLM, Qwen, GLM) or ``"reasoning"`` (OpenRouter,
      Ollama). None (default): OpenAI itself, which never sends reasoning text.
    - ``max_choices``: answer at most this many samples whatever ``n`` asks for (a host that
      comes back short).
    - ``api_keys``: accepted bearer keys; ``None`` accepts any request. :attr:`api_key` is a key
      clients can use either way.
    - ``rpm`` / ``tpm``: enforce these per-minute budgets (429 with ``retry-after`` when short);
      without them the rate-limit headers report a high tier and never refuse.
    - ``models`` (listed by ``GET /v1/models``), ``strict_models`` (404 for other models).
    - ``record``: keep :class:`RequestRecord` s in :attr:`requests` (counters are always kept).
    - ``options``: transport settings (:class:`ServerOptions`: host, port, HTTP/2 stream limit...).
    - ``clock``: monotonic clock for the rate-limit buckets (tests can pass a fake one).
    """

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
        options: ServerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(
            reply_fn=reply_fn,
            ttft=ttft,
            token_delay=token_delay,
            chunk_count=chunk_count,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            reasoning_field=reasoning_field,
            max_choices=max_choices,
            api_keys=api_keys,
            rpm=rpm,
            tpm=tpm,
            models=models,
            strict_models=strict_models,
            record=record,
            clock=clock,
        )
        self._server = BackgroundServer(self, options=options)

    base_path = "/v1"  # clients reach it at https://127.0.0.1:<port>/v1

    @staticmethod
    def spawn(
        *,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        api_keys: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        record: bool = False,
        h2_max_concurrent_streams: int | None = None,
        startup_timeout: float = 60.0,
    ) -> SpawnedServer:
        """Run the fake in a child process (for benchmarks) and return its handle.

        The handle has ``base_url``, ``ca_path``, ``api_key``, ``pid``, ``stats()`` (the child's
        ``request_count`` / ``in_flight`` / ``max_in_flight``), ``reset()`` and ``stop()``, and is a
        context manager. Records are off by default there: nobody can read them, and a long
        benchmark would only grow the child's memory.
        """
        from llmp.testing.serve import spawn

        return spawn(
            "openai",
            ttft=ttft,
            token_delay=token_delay,
            chunk_count=chunk_count,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            api_keys=api_keys,
            rpm=rpm,
            tpm=tpm,
            record=record,
            h2_max_concurrent_streams=h2_max_concurrent_streams,
            startup_timeout=startup_timeout,
        )
