"""Every error llmp raises, in one tree. Catch `LLMPError` to catch them all.

```
LLMPError
├── ConfigurationError              bad input to llmp itself: fix your call or environment
│   ├── MissingAPIKeyError          no key found; names the env vars to set
│   ├── UnsupportedParameterError   a parameter the provider cannot honour
│   ├── UnsupportedFeatureError     tools, an output schema, images, ... the client cannot honour
│   ├── ToolDefinitionError         a tool whose JSON schema cannot be built
│   ├── CheckpointMismatchError     an output_jsonl file that belongs to another job
│   ├── CheckpointLockedError       an output_jsonl file another run is writing
│   ├── CacheError                  a cache that cannot be opened or used (names the path or URL)
│   └── BurstCapacityError          a request costing more than an rpm/tpm limit ever allows at once
├── PluginError                     a plugin is broken (v1 hooks, bad hook, route or API clash)
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
│   ├── MalformedResponseError      a body or stream the plugin could not parse: retried
│   │   ├── EmptyResponseError      an answer with neither text nor tool calls
│   │   └── IncompleteResponseError fewer samples than asked for (n); not retried
│   ├── RefusalError                the model refused (OpenAI `refusal`); never cached
│   ├── OutputValidationError       a reply that does not match the output schema
│   └── BatchItemError              one request of a provider batch failed, expired or was canceled
├── ToolCallError                   a tool call whose arguments are not a JSON object (ToolCall.args())
├── MaxTurnsError                   a tool loop reached max_turns with tool calls still pending
├── BudgetExceededError             max_cost reached: no new request is sent
└── GenerationError                 a job finished with failed items; carries every result
```

`ProviderError.retryable` says whether the core retries it. Plugins raise these from their
SDK's exceptions (``raise RateLimitError(...) from exc``), carrying the status code, the
provider's own message and any `retry_after`. No message ever contains an API key.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from llmp import _secrets
from llmp.types import RateLimitInfo, Usage

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BatchItemError",
    "BudgetExceededError",
    "BurstCapacityError",
    "CacheError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "EmptyResponseError",
    "GenerationError",
    "IncompleteResponseError",
    "LLMPError",
    "MalformedResponseError",
    "MaxTurnsError",
    "MissingAPIKeyError",
    "OutputValidationError",
    "PluginError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "RefusalError",
    "ServerError",
    "TLSError",
    "ToolCallError",
    "ToolDefinitionError",
    "UnknownModelError",
    "UnsupportedFeatureError",
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


class UnsupportedFeatureError(ConfigurationError):
    """The request needs something the provider's client cannot do for this model (tools, an
    output schema, images, reasoning control, streaming, logprobs, embeddings, a batch API).
    Raised before anything is sent; `feature` names it."""

    def __init__(self, message: str, *, feature: str, provider: str = "", model: str = "") -> None:
        self.feature = feature
        self.provider = provider
        self.model = model
        super().__init__(message)


class ToolDefinitionError(ConfigurationError):
    """A tool could not be turned into a JSON-schema function definition (an unsupported
    parameter type, a missing annotation, a bad name)."""


class CheckpointMismatchError(ConfigurationError):
    """An ``output_jsonl`` file holds the results of a different job (other prompts, model or
    parameters). Use another path, or delete the file to start over."""


class CheckpointLockedError(ConfigurationError):
    """Another run (in this or another process) is writing the same ``output_jsonl`` file."""


class CacheError(ConfigurationError):
    """The cache cannot be opened or used; the message names the path or URL and the fix."""


class BurstCapacityError(ConfigurationError):
    """A request costs more than a rate limit's burst capacity (say 12,000 estimated tokens under a
    tpm limit whose bucket holds 10,000): waiting cannot help. Raised at once; `limit` names the
    limit, `cost` and `capacity` are in its units (requests or tokens)."""

    def __init__(self, *, limit: str, cost: float, capacity: float) -> None:
        self.limit = limit
        self.cost = cost
        self.capacity = capacity
        super().__init__(
            f"a request costing {cost:g} exceeds the burst capacity {capacity:g} of the rate limit "
            f"{limit!r}, so it can never be admitted: raise that limit's burst, or send a smaller request"
        )


class PluginError(LLMPError):
    """A plugin broke the contract: a v1 hook, an unknown hook, a routing or API-name clash."""


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
        # A server may echo the key back ("Invalid header value: Bearer sk-..."): no registered
        # key survives into the message, the body, str/repr, or the exception this is raised
        # from (the one being handled now), whose text a printed traceback would show.
        message = _secrets.scrub(message)
        body = _secrets.scrub_value(body)
        _secrets.scrub_exception(sys.exc_info()[1])
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


class IncompleteResponseError(MalformedResponseError):
    """The provider returned fewer samples than ``n`` asked for. Not retried (that would pay for
    the whole request again); `usage` holds the billed tokens and `response` what did come."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", usage: Usage | None = None, response: Any = None):
        super().__init__(message, provider=provider, usage=usage)
        self.response = response


class RefusalError(ProviderError):
    """The model refused to answer (OpenAI's ``refusal``). Not retried and never cached;
    `refusal` is the model's explanation, `usage` the billed tokens. Rich calls
    (`LLM.complete`, ``rich=True``) return the refusal in `Choice.refusal` instead."""

    def __init__(self, refusal: str, *, provider: str = "", usage: Usage | None = None) -> None:
        super().__init__(f"the model refused: {refusal}", provider=provider, usage=usage)
        self.refusal = refusal


class OutputValidationError(ProviderError):
    """A reply that does not match the requested output schema. `raw` is the text as the model
    sent it, `errors` the validator's explanation. The core asks again up to the LLM's
    ``output_retries`` times before raising this."""

    def __init__(
        self, message: str, *, raw: str, errors: Any = None, provider: str = "", usage: Usage | None = None
    ) -> None:
        super().__init__(message, provider=provider, usage=usage)
        self.raw = raw
        self.errors = errors


class BatchItemError(ProviderError):
    """One request of a provider batch did not succeed. `kind` is ``"errored"``, ``"expired"``
    (the batch window ran out first), ``"canceled"`` or ``"missing"``."""

    def __init__(self, message: str, *, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}" if message else kind, **kwargs)


class ToolCallError(LLMPError, ValueError):
    """A tool call's arguments are not a JSON object (`llmp.types.ToolCall.args`). The call is
    returned as the model sent it; `arguments` is that text."""

    def __init__(self, message: str, *, name: str, arguments: str) -> None:
        super().__init__(message)
        self.name = name
        self.arguments = arguments


class MaxTurnsError(LLMPError):
    """A tool loop used its ``max_turns`` model calls and the model still asks for tools, so
    there is no text answer to return. `response` is the last answer (its `messages` hold the
    conversation so far); rich calls return it instead of raising."""

    def __init__(self, message: str, *, response: Any) -> None:
        super().__init__(message)
        self.response = response


class BudgetExceededError(LLMPError):
    """The ``max_cost`` budget would be exceeded: no new request is sent. Every finished result is
    kept (and checkpointed). `max_cost` is the budget, `spent` what finished requests cost."""

    def __init__(self, message: str, *, max_cost: float, spent: float) -> None:
        super().__init__(message)
        self.max_cost = max_cost
        self.spent = spent


class GenerationError(LLMPError):
    """A job ended with some failed items. Nothing finished is lost: `results` holds every
    prompt's outputs in prompt order (None where the item failed) and `errors` maps each failed
    prompt index to its exception."""

    def __init__(self, results: list[Any], errors: dict[int, BaseException]) -> None:
        self.results = results
        self.errors = errors
        first = min(errors)
        super().__init__(
            f"{len(errors)} of {len(results)} prompts failed (first, prompt {first}: {errors[first]}). "
            "The other results are in .results; pass on_error='return' to get errors in place."
        )
