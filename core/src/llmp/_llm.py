"""`llmp.LLM`: the one call shape for every provider."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from llmp._cache import Cache, open_cache
from llmp._call import CallSpec, build_spec
from llmp._deployments import Deployment, Strategy
from llmp._global_slots import global_slots
from llmp._llm_batch import BatchMethods
from llmp._llm_jobs import JobMethods
from llmp._messages import to_messages
from llmp._metrics import Metrics
from llmp._params import check_params
from llmp._plugins import Registry, default_registry
from llmp._retry import RetryPolicy
from llmp._runner import iterate_sync, run_sync
from llmp._setup import Common, build
from llmp._streaming import AsyncResponseStream, ResponseStream, _Result
from llmp._target import Target
from llmp._toolloop import run_tool_loop
from llmp._usage import UsageStats
from llmp.errors import ConfigurationError
from llmp.types import Capabilities, ChatMessage, Chunk, EmbedRequest, Response, SupportsEmbed

__all__ = ["LLM"]

#: Seconds a whole request may take (a trickling server is cut off there too).
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 6
Messages = str | Sequence[ChatMessage]


def _positive(name: str, value: object, *, integer: bool = False, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or not math.isfinite(value):
        what = "a positive integer" if integer else "a positive number of seconds"
        raise ConfigurationError(f"{name} must be {what}{' or None' if allow_none else ''}, got {value!r}")


class LLM(JobMethods, BatchMethods):
    """A model (or a set of deployments), ready to generate.

    >>> llm = LLM("gpt-4.1-mini")
    >>> llm.generate(["What is 2+2?", "Name a color."])   # [["4"], ["Blue"]]

    >>> pool = LLM(["gpt-4.1-mini", "gemini/gemini-3-flash-preview"], strategy="fallback")

    Args:
        model: A model name as the routing table knows it (``"gpt-4.1-mini"``,
            ``"gemini/gemini-3-flash-preview"``, ``"anthropic/claude-sonnet-4-6"``), or a list of
            deployments (names, `llmp.Deployment` objects or dicts) behind one call shape.
        strategy: How a set of deployments picks one per request: ``"fallback"``,
            ``"round_robin"``, ``"weighted"``, ``"least_busy"``, ``"lowest_latency"``, ``"cheapest"``.
        max_cost: A budget in US dollars that is never overshot (requests reserve their worst case
            before sending; when it no longer fits, `BudgetExceededError`).
        max_concurrent: Requests this instance has in flight at most, over all its keys (an
            adaptive window per key shrinks below it on 429s).
        cache: True (the shared cache: ``LLMP_CACHE_URL`` or the SQLite file under
            ``LLMP_CACHE_DIR``), False, a directory, a ``redis://`` URL, or a cache object.
        cache_ttl: Seconds a new cache entry lives (None: forever).
        max_retries: Retries of a failed request (429s that say when to come back do not use
            them up).
        timeout: Seconds a whole request may take, streaming included; None for no limit.
        max_retry_wait: The longest ``Retry-After`` waited out; a longer one fails at once.
        output_retries: How many times a reply that does not match ``response_format`` is
            asked for again before `OutputValidationError` is raised.
        fallback_on_content_filter: In a set, move a refused or filtered answer to the next deployment.
        cache_across_models: In a set, serve an answer another deployment's (different) model gave.
        rpm: Requests per minute (a token bucket with a minute's burst), per deployment that sets
            none of its own; shared by every process with ``LLMP_REDIS_URL``.
        tpm: Tokens per minute, likewise (reserved from an estimate, settled with the real count).
        redis_url: Makes ``LLMP_GLOBAL_CONCURRENCY`` and the rpm/tpm buckets cluster-wide
            (default: ``LLMP_REDIS_URL``).
        base_url: Overrides the route's host (``OPENAI_BASE_URL`` and friends too).
        api_key: Overrides the key from the environment.
        registry: The plugin registry (default: the process-wide one).
        **defaults: Default generation parameters for every call (``temperature=0``, ...).

    Use it as a context manager (``with`` / ``async with``), or call `close` / `aclose`, to
    release its connections when done; they are closed at exit otherwise.
    """

    def __init__(
        self,
        model: str | Sequence[str | Deployment | Mapping[str, Any]],
        *,
        strategy: Strategy = "fallback",
        max_cost: float | None = None,
        max_concurrent: int = 32,
        cache: bool | str | os.PathLike[str] | Cache | None = True,
        cache_ttl: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retry_wait: float = 60.0,
        output_retries: int = 1,
        fallback_on_content_filter: bool = False,
        cache_across_models: bool = False,
        rpm: float | None = None,
        tpm: float | None = None,
        redis_url: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        registry: Registry | None = None,
        **defaults: Any,
    ) -> None:
        if isinstance(model, str):
            if not model:
                raise ConfigurationError("model must be a non-empty string like 'gpt-4.1-mini', got ''")
        elif not isinstance(model, (list, tuple)):
            raise ConfigurationError(
                f"model must be a model name like 'gpt-4.1-mini' or a list of deployments, got {model!r}"
            )
        _positive("max_concurrent", max_concurrent, integer=True)
        _positive("timeout", timeout, allow_none=True)
        _positive("max_retry_wait", max_retry_wait)
        for name, value in (("max_retries", max_retries), ("output_retries", output_retries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative integer, got {value!r}")
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ConfigurationError("api_key must be a non-empty string or None")
        if "n" in defaults:
            raise ConfigurationError("n is not a default of LLM(...): pass n= to generate() or complete()")
        check_params(defaults, " of LLM(...)")
        common = Common(
            registry=registry or default_registry(),
            cache=open_cache(cache, ttl=cache_ttl),
            retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait),
            timeout=timeout,
            max_concurrent=max_concurrent,
            global_slots=global_slots(redis_url=redis_url),
            output_retries=output_retries,
            base_url=base_url,
            api_key=api_key,
            redis_url=redis_url,
        )
        built = build(
            model,
            common,
            strategy=strategy,
            max_cost=max_cost,
            fallback_on_content_filter=fallback_on_content_filter,
            cache_across_models=cache_across_models,
            rpm=rpm,
            tpm=tpm,
        )
        self.max_concurrent = max_concurrent
        self.defaults = defaults
        self._target: Target = built.target
        self._engine = built.engines[0]  # the first deployment: batch APIs and embeddings go there
        self._router = built.router
        self._budget = built.budget
        #: The model (for a set of deployments: their models, ``"a | b"``).
        self.model = built.target.model if built.router is not None else str(model)
        #: The provider that serves it (for a set: the first deployment's).
        self.provider = self._engine.provider

    def __repr__(self) -> str:
        return f"LLM({self.model!r}, provider={self.provider!r}, max_concurrent={self.max_concurrent})"

    # -- usage -------------------------------------------------------------------------------

    @property
    def usage(self) -> UsageStats:
        """What this instance has spent, over all its calls (and all its deployments)."""
        return self._target.stats

    def metrics(self) -> Metrics:
        """Per deployment and in total: requests, successes, failures by kind, retries, fallbacks,
        cache hits, tokens, cost, latency and TTFT percentiles, health; and the budget."""
        if self._router is not None:
            parts, total = self._router.metrics()
        else:
            engine = self._engine
            single = engine.recorder.snapshot(
                name=self.model,
                model=engine.model,
                provider=engine.provider,
                health="healthy",
                in_flight=engine.sender.in_flight,
                stats=engine.stats,
            )
            parts, total = [single], single
        budget = self._budget
        return Metrics(
            parts,
            total,
            max_cost=budget.max_cost if budget else None,
            spent=budget.spent if budget else None,
            reserved=budget.reserved if budget else None,
        )

    def capabilities(self) -> Capabilities:
        """What the client can honour for this model (for a set of deployments: the first's):
        tools, structured output, reasoning, images, embeddings, batch, and the extra parameters
        it takes. Asks the plugin once and sends no request. A request needing a capability the
        model lacks is refused with `llmp.errors.UnsupportedFeatureError` before it is sent."""
        return self._engine.capabilities()

    @property
    def total_input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def total_cached_tokens(self) -> int:
        return self.usage.cached_input_tokens

    @property
    def total_output_tokens(self) -> int:
        return self.usage.output_tokens

    @property
    def total_cost(self) -> float | None:
        """US dollars spent by this instance; None if any model's price is unknown."""
        return self.usage.cost

    # -- lifetime ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release this instance's clients (each is closed once no other open LLM uses it)."""
        await self._target.aclose()

    def close(self) -> None:
        """Synchronous `aclose`."""
        run_sync(self._target.aclose())

    def __enter__(self) -> LLM:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> LLM:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- one conversation --------------------------------------------------------------------

    def _spec(self, method: str, params: Mapping[str, Any], **options: Any) -> CallSpec:
        if "n" in params:
            raise ConfigurationError(
                f"{method}() gives one reply: for several samples use complete(..., n=...) "
                "or generate(..., n=...)"
            )
        return build_spec(self.defaults, params, method=method, **options)

    async def acomplete(
        self,
        messages: Messages,
        system_prompt: str | None = None,
        *,
        n: int = 1,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        **params: Any,
    ) -> Response:
        """The whole answer to one conversation: every sample's text, tool calls, reasoning,
        refusal, finish reason and (with `response_format`) validated `parsed` value, with
        usage, cost and latency.

        Args:
            messages: A string (one user message) or a list of chat messages.
            system_prompt: A system message put first.
            n: Samples to draw.
            response_format: A pydantic model, TypedDict, dataclass or JSON-schema dict; each
                sample's `parsed` holds the validated value.
            tools: Functions (their schema comes from the signature), `llmp.Tool` objects or
                tool dicts.
            tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a tool's name.
            parallel_tool_calls: Allow (True) or forbid (False) several calls in one turn.
            reasoning: ``"low"``/``"medium"``/``"high"`` (or ``"minimal"``), a token budget,
                False/``"none"`` for off, None for the model's default.
            max_turns: Run the tool functions and send their results back, up to this many
                model calls; the answer is the model's last turn, its `messages` the whole
                conversation and its usage the sum over turns.
            **params: Generation parameters (``temperature``, ``max_tokens``, ...).
        """
        spec = build_spec(
            self.defaults,
            params,
            method="complete",
            n=n,
            rich=True,
            system_prompt=system_prompt,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            reasoning=reasoning,
            max_turns=max_turns,
        )
        chat = to_messages(messages, system_prompt, "messages")
        if spec.max_turns is not None:
            return await run_tool_loop(self._target, chat, spec)
        return await self._target.answer(self._target.prepare(chat, spec), spec.parser)

    def complete(
        self,
        messages: Messages,
        system_prompt: str | None = None,
        *,
        n: int = 1,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        max_turns: int | None = None,
        **params: Any,
    ) -> Response:
        """Synchronous `acomplete` (works in scripts, threads and running event loops alike)."""
        return run_sync(
            self.acomplete(
                messages,
                system_prompt,
                n=n,
                response_format=response_format,
                tools=tools,
                tool_choice=tool_choice,
                parallel_tool_calls=parallel_tool_calls,
                reasoning=reasoning,
                max_turns=max_turns,
                **params,
            )
        )

    async def achat(
        self, messages: Messages, system_prompt: str | None = None, *, reasoning: Any = None, **params: Any
    ) -> str:
        """One reply's text (a string is one user message). A refusal is a `RefusalError`."""
        spec = self._spec("chat", params, system_prompt=system_prompt, reasoning=reasoning)
        prepared = self._target.prepare(to_messages(messages, system_prompt, "messages"), spec)
        response = await self._target.answer(prepared)
        texts: list[str] = spec.outputs(response, self.provider)
        return texts[0]

    def chat(
        self, messages: Messages, system_prompt: str | None = None, *, reasoning: Any = None, **params: Any
    ) -> str:
        """Synchronous `achat`."""
        return run_sync(self.achat(messages, system_prompt, reasoning=reasoning, **params))

    def astream(
        self, messages: Messages, system_prompt: str | None = None, *, reasoning: Any = None, **params: Any
    ) -> AsyncIterator[str]:
        """Yield the reply's text as it arrives (from the cache: all at once).

        Bad arguments raise here, at the call; the request is sent when iteration starts. For
        tool calls, reasoning and several samples as they arrive, use `astream_events`.
        """
        spec = self._spec("stream", params, system_prompt=system_prompt, reasoning=reasoning)
        prepared = self._target.prepare(to_messages(messages, system_prompt, "messages"), spec)
        return self._target.stream_prepared(prepared, text_only=True)

    def stream(
        self, messages: Messages, system_prompt: str | None = None, *, reasoning: Any = None, **params: Any
    ) -> Iterator[str]:
        """Synchronous `astream`."""
        return iterate_sync(self.astream(messages, system_prompt, reasoning=reasoning, **params))

    def astream_events(
        self,
        messages: Messages,
        system_prompt: str | None = None,
        *,
        n: int = 1,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        **params: Any,
    ) -> AsyncResponseStream:
        """Stream every delta (`llmp.types.Chunk`: text, reasoning, refusal and tool-call
        fragments per sample), then read the whole answer from `.response`. Arguments as in
        `acomplete` (without `max_turns`)."""
        spec = build_spec(
            self.defaults,
            params,
            method="stream_events",
            n=n,
            rich=True,
            system_prompt=system_prompt,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            reasoning=reasoning,
        )
        prepared = self._target.prepare(to_messages(messages, system_prompt, "messages"), spec)
        result = _Result()
        chunks = self._target.stream_prepared(prepared, text_only=False, parser=spec.parser, out=result)
        return AsyncResponseStream(chunks, result)

    def stream_events(
        self,
        messages: Messages,
        system_prompt: str | None = None,
        *,
        n: int = 1,
        response_format: Any = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning: Any = None,
        **params: Any,
    ) -> ResponseStream:
        """Synchronous `astream_events`: ``for chunk in stream: ...``, then ``stream.response``."""
        events = self.astream_events(
            messages,
            system_prompt,
            n=n,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            reasoning=reasoning,
            **params,
        )
        chunks: Iterator[Chunk] = iterate_sync(events.__aiter__())
        return ResponseStream(chunks, events._result)

    # -- embeddings --------------------------------------------------------------------------

    async def aembed(
        self, texts: str | Sequence[str], *, dimensions: int | None = None, **params: Any
    ) -> list[list[float]]:
        """One embedding vector per text, in order (for models whose plugin embeds)."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items or not all(isinstance(t, str) for t in items):
            raise ConfigurationError("embed() takes a string or a non-empty list of strings")
        _positive("dimensions", dimensions, integer=True, allow_none=True)
        engine = self._engine
        if not engine.capabilities().embeddings:
            from llmp.errors import UnsupportedFeatureError

            raise UnsupportedFeatureError(
                f"{self.provider} cannot embed text with {engine.model!r}",
                feature="embeddings",
                provider=self.provider,
            )
        client = engine.client(engine.keys.pick() if engine.keys is not None else None)
        if not isinstance(client, SupportsEmbed):
            raise ConfigurationError(f"the {self.provider} client says it embeds but has no embed() method")
        result = await client.embed(
            EmbedRequest(engine.model, items, dimensions, dict(params), engine.timeout)
        )
        engine.record_usage(result.usage)
        return result.vectors

    def embed(
        self, texts: str | Sequence[str], *, dimensions: int | None = None, **params: Any
    ) -> list[list[float]]:
        """Synchronous `aembed`."""
        return run_sync(self.aembed(texts, dimensions=dimensions, **params))
