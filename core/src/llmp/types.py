"""The data that crosses the plugin boundary.

Everything here is a plain, slotted dataclass: cheap to build on the hot path (one `Response`
per request, one `Chunk` per streamed delta), typed for plugin authors, and free of any SDK type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "ChatMessage",
    "Chunk",
    "ClientSettings",
    "Cost",
    "PriceMode",
    "RateLimitInfo",
    "Request",
    "Response",
    "Route",
    "Usage",
]

#: One chat message in the OpenAI shape, which every plugin converts from:
#: ``{"role": "system" | "user" | "assistant" | "tool", "content": str | list[...], ...}``.
ChatMessage: TypeAlias = dict[str, Any]

#: ``"standard"`` for interactive calls, ``"batch"`` for provider batch APIs (usually half price).
PriceMode: TypeAlias = Literal["standard", "batch"]


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the routing table: model names matching `pattern` go to `provider`.

    `pattern` is an exact model name (``"gpt-4.1-mini"``) or an fnmatch-style glob
    (``"gpt-*"``, ``"sambanova/*"``). For a ``"prefix/*"`` pattern the prefix is stripped before
    the name is sent to the provider (``"sambanova/Llama-3"`` is sent as ``"Llama-3"``).

    `api` names the wire protocol (which plugin's client speaks to the host); it defaults to
    `provider`. An OpenAI-compatible host such as a local vLLM is ``provider="myvllm"``,
    ``api="openai"``. `key_env` is the environment prefix for credentials: ``"SAMBANOVA"`` reads
    ``SAMBANOVA_API_KEY`` or the rotated list ``SAMBANOVA_KEYS``; ``None`` means no key is needed.
    `base_url_env` names an environment variable that overrides `base_url`.
    `options` are provider settings handed to the client (for example OpenRouter's routing).
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
    """Everything a plugin needs to build a client for one (provider, base URL, key).

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


@dataclass(slots=True)
class Request:
    """One generation request, provider-neutral.

    `model` is the name as the provider knows it (route prefix already stripped). `params` are
    generation parameters in OpenAI's vocabulary (``temperature``, ``max_tokens``, ``top_p``,
    ``stop``, ``seed``, ``response_format``, ``tools``, ...); a plugin maps them to its API and
    raises `llmp.errors.UnsupportedParameterError` for one it cannot honour.
    """

    provider: str
    model: str
    messages: list[ChatMessage]
    n: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None


@dataclass(slots=True)
class Usage:
    """Token counts. `output_tokens` includes `reasoning_tokens` (both are billed as output);
    `input_tokens` includes `cached_input_tokens` (read from the provider's prompt cache, billed
    at a discount) and `cache_write_tokens` (written to it, billed at a premium, e.g. Anthropic's
    cache creation)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        out = {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }
        if self.cache_write_tokens:
            out["cache_write_tokens"] = self.cache_write_tokens
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Usage:
        return cls(
            int(data.get("input_tokens", 0)),
            int(data.get("cached_input_tokens", 0)),
            int(data.get("output_tokens", 0)),
            int(data.get("reasoning_tokens", 0)),
            int(data.get("cache_write_tokens", 0)),
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


@dataclass(slots=True)
class Response:
    """A finished generation: one text per sample (``n`` of them), with usage."""

    texts: list[str]
    usage: Usage
    finish_reasons: list[str | None] = field(default_factory=list)
    rate_limit: RateLimitInfo | None = None
    #: ``"HTTP/2"`` or ``"HTTP/1.1"`` where the plugin knows it.
    http_version: str | None = None


@dataclass(slots=True)
class Chunk:
    """One streamed piece: a text delta for sample `index`, or (usually last) the usage."""

    text: str = ""
    index: int = 0
    usage: Usage | None = None
    finish_reason: str | None = None
    rate_limit: RateLimitInfo | None = None
