"""The data that crosses the plugin boundary, and the `Client` protocol plugins implement.

Everything here is a plain, slotted dataclass: cheap to build on the hot path (one `Response`
per request, one `Chunk` per streamed delta), typed for plugin authors, and free of any SDK type.
Responses round-trip through JSON (`Response.to_dict` / `Response.from_dict`) for the cache and
for checkpoints; nothing is ever pickled.

A plugin registers a `ClientFactory` per wire-API name (``llmp_apis``); the core builds one
`Client` per (provider, base URL, key, event loop), keeps it, and calls its methods:
`capabilities` and `effective_params` once per model, `complete` / `stream` per request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "BatchApi",
    "BatchFailure",
    "BatchResults",
    "BatchState",
    "BatchStatus",
    "Capabilities",
    "ChatMessage",
    "Choice",
    "Chunk",
    "Client",
    "ClientFactory",
    "ClientSettings",
    "Cost",
    "EmbedRequest",
    "Embeddings",
    "FinishReason",
    "OutputSchema",
    "PriceMode",
    "RateLimitInfo",
    "Reasoning",
    "ReasoningEffort",
    "Request",
    "Response",
    "Route",
    "SupportsBatch",
    "SupportsEmbed",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

#: One chat message in the OpenAI shape, which every plugin converts from:
#: ``{"role": "system" | "developer" | "user" | "assistant" | "tool", "content": str | list[part]}``.
#: Content parts are ``{"type": "text", "text": ...}`` and ``{"type": "image_url", "image_url":
#: {"url": "https://..." | "data:image/png;base64,..."}}``. An assistant turn may carry
#: ``"tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]`` and, from
#: `Choice.message`, ``"reasoning"`` (text) and ``"extra"`` (opaque data of the plugin that
#: produced it); a ``"tool"`` message answers one call: ``{"role": "tool", "tool_call_id", "content"}``.
ChatMessage: TypeAlias = dict[str, Any]

#: ``"standard"`` for interactive calls, ``"batch"`` for provider batch APIs (usually half price).
PriceMode: TypeAlias = Literal["standard", "batch"]

#: Why a sample ended, in one vocabulary for every provider.
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "error"]

ReasoningEffort: TypeAlias = Literal["minimal", "low", "medium", "high"]

_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})


# -- routing and settings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the routing table: model names matching `pattern` go to `provider`.

    `pattern` is an exact model name (``"gpt-4.1-mini"``) or an fnmatch-style glob
    (``"gpt-*"``, ``"sambanova/*"``). For a ``"prefix/*"`` pattern the prefix is stripped before
    the name is sent to the provider (``"sambanova/Llama-3"`` is sent as ``"Llama-3"``).

    `api` names the wire protocol, i.e. which registered `ClientFactory` builds the client
    (``llmp_apis``); it defaults to `provider`. An OpenAI-compatible host such as a local vLLM is
    ``provider="myvllm"``, ``api="openai"``. `key_env` is the environment prefix for credentials:
    ``"SAMBANOVA"`` reads ``SAMBANOVA_API_KEY`` or the rotated list ``SAMBANOVA_KEYS``; ``None``
    means no key is needed. `base_url_env` names an environment variable that overrides
    `base_url`. `options` are provider settings handed to the client (e.g. OpenRouter's routing).
    """

    pattern: str
    provider: str
    priority: int = 0
    api: str = ""
    base_url: str | None = None
    #: An environment variable that overrides `base_url` (``"OPENAI_BASE_URL"``).
    base_url_env: str | None = None
    key_env: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The distribution that contributed the row; filled in by the registry.
    plugin: str = ""

    @property
    def wire_api(self) -> str:
        return self.api or self.provider


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything a factory needs to build a client for one (provider, base URL, key).

    The core builds one client per distinct settings value and event loop, and reuses it.
    `api_key` is a secret: it is excluded from `repr` so it never reaches a log line.
    """

    provider: str
    api: str
    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __hash__(self) -> int:
        return hash((self.provider, self.api, self.base_url, self.api_key))


# -- what a request asks for ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: a name, what it does, and its arguments as JSON Schema.

    `llmp.tool(func)` builds one from a typed Python function (schema from the signature and
    docstring); a plain ``{"name", "description", "parameters"}`` dict (or OpenAI's
    ``{"type": "function", "function": {...}}``) is accepted wherever tools are.
    `strict` asks providers that support it to follow the schema exactly.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """Structured output: the reply must be JSON matching `schema` (a JSON Schema object).

    Built by the core from a pydantic model, a TypedDict, a dataclass or a JSON-schema dict
    (``response_format=``). `name` is what providers call the schema; `strict` asks for exact
    adherence where the provider offers it (OpenAI ``json_schema`` strict mode).
    """

    name: str
    schema: Mapping[str, Any]
    strict: bool = True


@dataclass(frozen=True, slots=True)
class Reasoning:
    """How much the model should think before answering, in one vocabulary for every provider.

    Exactly one of: ``enabled=False`` (off, where the model allows), an `effort`, or a
    `budget_tokens`. Plugins map it to their wire (OpenAI ``reasoning_effort``, Gemini thinking
    level or budget, Anthropic ``thinking.budget_tokens``) and raise
    `llmp.errors.UnsupportedParameterError` for a setting their model cannot take.
    """

    effort: ReasoningEffort | None = None
    budget_tokens: int | None = None
    enabled: bool = True


@dataclass(slots=True)
class Request:
    """One generation request, provider-neutral.

    `model` is the name as the provider knows it (route prefix already stripped). `params` are
    generation parameters in OpenAI's vocabulary (``temperature``, ``max_tokens``, ``top_p``,
    ``stop``, ``seed``, ``logprobs``, ...), as `Client.effective_params` returned them; a plugin
    maps them to its API and raises `llmp.errors.UnsupportedParameterError` for one it cannot
    honour. `tool_choice` is ``"auto"``, ``"none"``, ``"required"`` or the name of one of
    `tools`. `timeout` is the whole request's deadline in seconds (the core enforces it too).
    """

    model: str
    messages: list[ChatMessage]
    n: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    tools: Sequence[Tool] = ()
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    output_schema: OutputSchema | None = None
    reasoning: Reasoning | None = None
    timeout: float | None = None


@dataclass(slots=True)
class EmbedRequest:
    """Texts to embed with `model`; `dimensions` where the model can shorten its vectors."""

    model: str
    inputs: list[str]
    dimensions: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None


# -- what comes back --------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """Token counts. `output_tokens` includes `reasoning_tokens` (both are billed as output);
    `input_tokens` includes `cached_input_tokens` (read from the provider's prompt cache, billed
    at a discount) and `cache_write_tokens` (written to it, billed at a premium, e.g. Anthropic's
    cache creation). `details` holds provider-specific counts (``{"cache_creation_1h_input_tokens":
    ...}``) that a price hook may need."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    details: dict[str, int] = field(default_factory=dict)

    def add(self, other: Usage) -> None:
        """Add `other`'s counts into this one (details summed by name)."""
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cache_write_tokens += other.cache_write_tokens
        for name, value in other.details.items():
            self.details[name] = self.details.get(name, 0) + value

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }
        if self.cache_write_tokens:
            out["cache_write_tokens"] = self.cache_write_tokens
        if self.details:
            out["details"] = dict(self.details)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        details = data.get("details")
        return cls(
            int(data.get("input_tokens", 0)),
            int(data.get("cached_input_tokens", 0)),
            int(data.get("output_tokens", 0)),
            int(data.get("reasoning_tokens", 0)),
            int(data.get("cache_write_tokens", 0)),
            {str(k): int(v) for k, v in details.items()} if isinstance(details, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class Cost:
    """A price in US dollars, split the way providers bill it."""

    input: float
    cached_input: float
    output: float

    @property
    def total(self) -> float:
        return self.input + self.cached_input + self.output


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What the provider said about its limits, from ``x-ratelimit-*`` style headers.

    Reset values are seconds from the moment the response arrived. Any field the provider did
    not send is None.
    """

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for `name` to be called with `arguments` (JSON text, as the model sent it).

    `args()` parses the arguments; a malformed string is kept as it came and `args()` raises
    `llmp.errors.ToolCallError`. `extra` is opaque data the plugin needs back when the call is
    sent in a later turn (Gemini's thought signature); keep it with the call.
    """

    id: str
    name: str
    arguments: str = "{}"
    extra: Mapping[str, Any] | None = None

    def args(self) -> dict[str, Any]:
        """The arguments as a dict; `llmp.errors.ToolCallError` if they are not a JSON object."""
        from llmp.errors import ToolCallError

        try:
            value = json.loads(self.arguments) if self.arguments.strip() else {}
        except ValueError as exc:
            raise ToolCallError(
                f"the arguments of tool call {self.name!r} are not valid JSON ({exc}): "
                f"{self.arguments[:200]!r}",
                name=self.name,
                arguments=self.arguments,
            ) from None
        if not isinstance(value, dict):
            raise ToolCallError(
                f"the arguments of tool call {self.name!r} are a JSON {type(value).__name__}, "
                f"not an object: {self.arguments[:200]!r}",
                name=self.name,
                arguments=self.arguments,
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        extra = data.get("extra")
        return cls(str(data["id"]), str(data["name"]), str(data.get("arguments", "{}")), extra or None)


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One output token's log probability, with the most likely alternatives where asked for."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Choice:
    """One sample of a response.

    `text` is the answer (``""`` when the model only called tools or refused); `reasoning` the
    model's thinking where the provider returns it; `refusal` the model's explanation when it
    declined; `tool_calls` the calls it asks for; `finish_reason` why it stopped, in one
    vocabulary. `parsed` is filled by the core when an output schema was asked for (a validated
    pydantic model, TypedDict/dataclass value or JSON value). `extra` is opaque plugin data
    needed to continue the conversation (signed thinking blocks); `message()` carries it along.
    """

    text: str = ""
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    logprobs: list[TokenLogprob] | None = None
    parsed: Any = None
    extra: dict[str, Any] | None = None

    @property
    def is_empty(self) -> bool:
        """Neither text, nor tool calls, nor a refusal: nothing was answered."""
        return not self.text and not self.tool_calls and not self.refusal

    def message(self) -> ChatMessage:
        """This sample as the assistant turn to send back in the next request."""
        message: ChatMessage = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                    **({"extra": dict(call.extra)} if call.extra else {}),
                }
                for call in self.tool_calls
            ]
        if self.reasoning:
            message["reasoning"] = self.reasoning
        if self.extra:
            message["extra"] = self.extra
        return message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "finish_reason": self.finish_reason}
        if self.reasoning is not None:
            out["reasoning"] = self.reasoning
        if self.refusal is not None:
            out["refusal"] = self.refusal
        if self.tool_calls:
            out["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.logprobs is not None:
            out["logprobs"] = [[t.token, t.logprob, [list(alt) for alt in t.top]] for t in self.logprobs]
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        finish = data.get("finish_reason")
        logprobs = data.get("logprobs")
        return cls(
            text=str(data.get("text") or ""),
            reasoning=data.get("reasoning"),
            refusal=data.get("refusal"),
            tool_calls=[ToolCall.from_dict(c) for c in data.get("tool_calls") or ()],
            finish_reason=finish if finish in _FINISH_REASONS else None,
            logprobs=(
                [
                    TokenLogprob(str(t), float(p), tuple((str(a), float(b)) for a, b in top))
                    for t, p, top in logprobs
                ]
                if logprobs is not None
                else None
            ),
            extra=data.get("extra") or None,
        )


@dataclass(slots=True)
class Response:
    """A finished generation: one `Choice` per sample (``n`` of them), with usage.

    The plugin fills `choices`, `usage` and what its wire tells (`model`, `id`, `request_id`,
    `http_version`, `rate_limit`). The core fills `latency` (seconds, the answering attempt),
    `ttft` (to the first streamed delta), `attempts`, `cached` (served from the cache, at no
    cost), `cost` (US dollars, None when the price is unknown), `provider` and `deployment`
    (which one answered), and `messages` (the whole conversation, for a tool loop's answer).
    """

    choices: list[Choice]
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    id: str | None = None
    request_id: str | None = None
    http_version: str | None = None
    rate_limit: RateLimitInfo | None = None
    latency: float | None = None
    ttft: float | None = None
    attempts: int = 1
    cached: bool = False
    cost: float | None = None
    provider: str = ""
    deployment: str | None = None
    messages: list[ChatMessage] | None = None

    @property
    def texts(self) -> list[str]:
        """The text of every sample, in order."""
        return [choice.text for choice in self.choices]

    @property
    def text(self) -> str:
        """The first sample's text."""
        return self.choices[0].text if self.choices else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The first sample's tool calls."""
        return self.choices[0].tool_calls if self.choices else []

    @property
    def parsed(self) -> Any:
        """The first sample's validated structured output (None without an output schema)."""
        return self.choices[0].parsed if self.choices else None

    @property
    def reasoning(self) -> str | None:
        return self.choices[0].reasoning if self.choices else None

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.choices[0].finish_reason if self.choices else None

    def to_dict(self) -> dict[str, Any]:
        """JSON for the cache and checkpoints (no secrets; `parsed` is re-derived from text)."""
        out: dict[str, Any] = {
            "choices": [choice.to_dict() for choice in self.choices],
            "usage": self.usage.to_dict(),
        }
        for name in ("model", "id", "provider", "deployment", "cost", "latency", "attempts"):
            value = getattr(self, name)
            if value is not None and value != "":
                out[name] = value
        if self.messages is not None:
            out["messages"] = self.messages
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Response:
        return cls(
            [Choice.from_dict(c) for c in data.get("choices") or ()],
            Usage.from_dict(data.get("usage") or {}),
            model=data.get("model"),
            id=data.get("id"),
            provider=str(data.get("provider") or ""),
            deployment=data.get("deployment"),
            cost=data.get("cost"),
            latency=data.get("latency"),
            attempts=int(data.get("attempts") or 1),
            messages=data.get("messages"),
        )


@dataclass(slots=True)
class ToolCallDelta:
    """A streamed piece of tool call number `position` of a sample: its `id` and `name` arrive
    once (usually first), `arguments` in fragments to be joined."""

    position: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    extra: Mapping[str, Any] | None = None


@dataclass(slots=True)
class Chunk:
    """One streamed piece for sample `index`: text, reasoning or refusal deltas, a tool-call
    delta, the finish reason, or (usually last) the usage. The first chunk may carry the
    response's `model` and `id`, and `rate_limit`."""

    text: str = ""
    index: int = 0
    reasoning: str = ""
    refusal: str = ""
    tool_call: ToolCallDelta | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    rate_limit: RateLimitInfo | None = None
    model: str | None = None
    id: str | None = None
    http_version: str | None = None
    logprobs: list[TokenLogprob] | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Embeddings:
    """One vector per input, in input order."""

    vectors: list[list[float]]
    usage: Usage = field(default_factory=Usage)
    model: str | None = None


# -- capabilities and the client protocol -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a client can honour for one model. The core asks once per model and refuses a
    request that needs a missing capability with `llmp.errors.UnsupportedFeatureError` before
    anything is sent. Where `n` is False the core sends ``n`` single-sample requests itself.
    `params` names the parameters this client takes beyond the common OpenAI vocabulary
    (`llmp.COMMON_PARAMS`), e.g. Gemini's ``thinking_budget``; any other name is refused with a
    did-you-mean before sending. `max_context_tokens` / `max_output_tokens` are the model's
    limits where known (used for context-length fallbacks and budget reservations)."""

    streaming: bool = True
    n: bool = True
    tools: bool = False
    parallel_tool_calls: bool = False
    json_schema: bool = False
    vision: bool = False
    reasoning: bool = False
    reasoning_text: bool = False
    logprobs: bool = False
    embeddings: bool = False
    batch: bool = False
    params: frozenset[str] = frozenset()
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None


@runtime_checkable
class Client(Protocol):
    """What a plugin's client offers the core. One instance per (provider, base URL, key, event
    loop): it holds connection pools, opens no connection until the first request, and never
    caches, limits concurrency, sleeps for backoff or retries (the core wraps every call).
    Failures are raised as `llmp.errors.ProviderError` subclasses."""

    def capabilities(self, model: str) -> Capabilities:
        """What this client supports for `model` (asked once per model)."""
        ...

    def effective_params(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` as they will really be sent to `model`: defaults that change the answer made
        explicit (Gemini's thinking budget), so the cache key names them. Validate here and raise
        `UnsupportedParameterError` for a parameter the wire cannot take. Asked once per
        distinct params object, not per prompt."""
        ...

    async def complete(self, request: Request) -> Response:
        """Perform `request` without streaming."""
        ...

    def stream(self, request: Request) -> AsyncIterator[Chunk]:
        """Perform `request` streaming: deltas as they arrive, the usage (usually) last. Joining
        the deltas per sample must give what `complete` returns."""
        ...

    async def aclose(self) -> None:
        """Close connections; the core calls it when the client's LLM, loop or process ends."""
        ...


#: Builds a client; registered per wire-API name through the ``llmp_apis`` hook.
ClientFactory: TypeAlias = Callable[[ClientSettings], Client]


BatchState: TypeAlias = Literal[
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
]


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """Where a provider batch is: `status` in llmp's vocabulary, the provider's own
    `raw_status`, and request counts (`total` 0 when the provider does not say)."""

    status: BatchState
    raw_status: str = ""
    completed: int = 0
    failed: int = 0
    total: int = 0

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """Why one request of a batch has no result: ``"errored"``, ``"expired"``, ``"canceled"``."""

    kind: Literal["errored", "expired", "canceled", "missing"]
    message: str = ""
    status_code: int | None = None


@dataclass(slots=True)
class BatchResults:
    """A finished batch's results by custom id (`done` False while it runs: nothing else set)."""

    done: bool
    results: dict[str, Response] = field(default_factory=dict)
    errors: dict[str, BatchFailure] = field(default_factory=dict)


class BatchApi(Protocol):
    """A provider's batch API (usually half price), offered by a client as its ``batch``."""

    async def submit(self, requests: Sequence[Request], custom_ids: Sequence[str]) -> str:
        """Submit; return the provider's batch id (no key in it)."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def retrieve(self, batch_id: str) -> BatchResults: ...

    async def cancel(self, batch_id: str) -> BatchStatus: ...


@runtime_checkable
class SupportsBatch(Protocol):
    """A client with a provider batch API (``Capabilities.batch``)."""

    @property
    def batch(self) -> BatchApi: ...


@runtime_checkable
class SupportsEmbed(Protocol):
    """A client that embeds text (``Capabilities.embeddings``)."""

    async def embed(self, request: EmbedRequest) -> Embeddings: ...
