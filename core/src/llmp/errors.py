"""Every error llmp raises, in one tree. Catch `LLMPError` to catch them all.

```
LLMPError
├── ConfigurationError              bad input to llmp itself: fix your call or environment
│   ├── MissingAPIKeyError          no key found; names the env vars to set
│   ├── UnsupportedParameterError   a parameter the provider cannot honour
│   └── PluginError                 a plugin is broken (async request hook, bad hook, route clash)
├── UnknownModelError               no route for a model; names the plugin to install
├── ProviderError                   the provider (or the way to it) failed a request
│   ├── BadRequestError             400/404/422: the request is wrong; not retried
│   │   └── ContextWindowExceededError
│   ├── AuthenticationError         401/403: the key is wrong or lacks access; not retried
│   │   └── QuotaExceededError      429 "insufficient_quota": the account is out of credit
│   ├── ConflictError               409: retried
│   ├── RateLimitError              429: retried after `retry_after` seconds
│   ├── ServerError                 5xx: retried
│   ├── ProviderTimeoutError        408 or no answer in time: retried
│   ├── ProviderConnectionError     could not connect / connection dropped: retried
│   │   └── TLSError                certificate not trusted: not retried
│   └── MalformedResponseError      a body or stream the plugin could not parse: retried
│       └── EmptyResponseError      an answer with no text (output spent on thinking, a block)
│   └── BatchItemError              one request of a provider batch failed, expired or was canceled
└── GenerationError                 a job finished with failed items; carries every result
```

`ProviderError.retryable` says whether the core retries it. Plugins raise these from their
SDK's exceptions (``raise RateLimitError(...) from exc``), carrying the status code, the
provider's own message and any `retry_after`. No message ever contains an API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmp.types import RateLimitInfo, Usage

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BatchItemError",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "EmptyResponseError",
    "GenerationError",
    "LLMPError",
    "MalformedResponseError",
    "MissingAPIKeyError",
    "PluginError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "TLSError",
    "UnknownModelError",
    "UnsupportedParameterError",
]


class LLMPError(Exception):
    """Base of every llmp error."""


class ConfigurationError(LLMPError, ValueError):
    """The call or the environment is wrong; the message says what to change."""


class MissingAPIKeyError(ConfigurationError):
    """No API key was found for a provider."""

    def __init__(self, provider: str, env_vars: Sequence[str]) -> None:
        self.provider = provider
        self.env_vars = tuple(env_vars)
        names = " or ".join(self.env_vars)
        super().__init__(f"No API key for {provider!r}: set {names}, or pass api_key= to llmp.LLM(...).")


class UnsupportedParameterError(ConfigurationError):
    """A generation parameter the provider cannot honour (never silently dropped)."""


class PluginError(LLMPError):
    """A plugin broke the contract: an async request hook, an unknown hook, a routing clash."""


class UnknownModelError(LLMPError, LookupError):
    """No route matches the model name; the message names the plugin to install."""

    def __init__(self, model: str, hint: str) -> None:
        self.model = model
        super().__init__(f"No provider for model {model!r}. {hint}")


class ProviderError(LLMPError):
    """A provider request failed.

    `status_code` is the HTTP status where there was one, `provider` the provider's name,
    `message` the provider's own explanation, `retry_after` seconds the provider asked to wait.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
        rate_limit: RateLimitInfo | None = None,
        body: Any = None,
        usage: Usage | None = None,
    ) -> None:
        self.message = message
        #: Tokens the provider billed for this failed request (an empty answer still costs).
        self.usage = usage
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after
        self.rate_limit = rate_limit
        self.body = body
        where = f"{provider} " if provider else ""
        code = f"{status_code} " if status_code is not None else ""
        super().__init__(f"{where}{code}{type(self).__name__}: {message}".strip())


class BadRequestError(ProviderError):
    """The provider rejected the request as malformed (400/404/422). Not retried."""


class ContextWindowExceededError(BadRequestError):
    """The prompt plus the requested output does not fit the model's context window."""


class AuthenticationError(ProviderError):
    """The key was rejected (401) or lacks access (403). Not retried with the same key."""


class QuotaExceededError(AuthenticationError):
    """The key's account is out of credit (OpenAI's 429 ``insufficient_quota``). Retrying cannot
    help: like a rejected key, it steps aside for another key, or the job stops."""


class ConflictError(ProviderError):
    """409: a conflicting concurrent operation. Retried."""

    retryable = True


class RateLimitError(ProviderError):
    """429: too many requests or tokens. Retried after `retry_after` when given."""

    retryable = True


class ServerError(ProviderError):
    """5xx: the provider failed. Retried."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """408, or no complete answer within the timeout. Retried."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The connection could not be made or dropped mid-response. Retried."""

    retryable = True


class TLSError(ProviderConnectionError):
    """The server's certificate was not trusted. Not retried: fix the trust store
    (``SSL_CERT_FILE``) or the base URL."""

    retryable = False


class MalformedResponseError(ProviderError):
    """The provider sent a body or stream that could not be parsed (truncated, bad JSON). Retried."""

    retryable = True


class EmptyResponseError(MalformedResponseError):
    """The provider answered without text: the output budget was spent on thinking
    (``finish_reason="length"``), the answer was blocked, or the stream was empty. Content is
    never silently ``""``. Retried only when the same request could end differently
    (`retryable`); `usage` holds the billed tokens."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        finish_reason: str | None = None,
        retryable: bool = False,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, provider=provider, usage=usage)
        self.finish_reason = finish_reason
        self.retryable = retryable


class BatchItemError(ProviderError):
    """One request of a provider batch did not succeed. `kind` is ``"errored"``, ``"expired"``
    (the batch window ran out first), ``"canceled"`` or ``"missing"``."""

    def __init__(self, message: str, *, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}" if message else kind, **kwargs)


class GenerationError(LLMPError):
    """A job ended with some failed items. Nothing finished is lost: `results` holds every
    prompt's outputs in prompt order (None where the item failed) and `errors` maps each failed
    prompt index to its exception."""

    def __init__(self, results: list[list[str] | None], errors: dict[int, BaseException]) -> None:
        self.results = results
        self.errors = errors
        first = min(errors)
        super().__init__(
            f"{len(errors)} of {len(results)} prompts failed (first, prompt {first}: {errors[first]}). "
            "The other results are in .results; pass on_error='return' to get errors in place."
        )
