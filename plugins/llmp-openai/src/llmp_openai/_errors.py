"""OpenAI's errors as `llmp.errors`: `llmp.wire`'s mapping, with OpenAI's error codes on top.

Live calls go through `llmp.wire.send_checked`: `llmp.wire.error_from_status` with `CODES` (the
provider's own message and status, ``retry-after`` and the ``x-ratelimit-*`` headers as typed
fields) and `llmp.wire.error_from_transport`. The batch API's calls go through the openai SDK,
whose exceptions carry the same response, so `translate` reads them the same way. Nothing here
puts a key in a message: messages come from the body's ``message`` field, and `llmp.errors`
scrubs any key a server echoed back.
"""

from __future__ import annotations

import sys

from llmp import errors
from llmp.wire import error_from_status, error_from_transport

__all__ = ["CODES", "translate"]

#: OpenAI's ``error.code`` values that decide the class whatever the status says (the shared
#: mapping knows them too; they are OpenAI's, so they are named here).
CODES: dict[str, type[errors.ProviderError]] = {
    "insufficient_quota": errors.QuotaExceededError,  # a 429 that waiting cannot fix
    "context_length_exceeded": errors.ContextWindowExceededError,
    "string_above_max_length": errors.ContextWindowExceededError,
}


def translate(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """The llmp error for an openai SDK exception (the batch API) or a transport exception, or
    None if it is neither."""
    if isinstance(exc, errors.LLMPError):
        return exc
    sdk = sys.modules.get("openai")  # its exceptions can only exist once it is imported
    if sdk is not None:
        if isinstance(exc, sdk.APIStatusError):
            reply = exc.response
            return error_from_status(reply.status_code, reply.content, reply.headers, provider, codes=CODES)
        if isinstance(exc, sdk.APIConnectionError) and exc.__cause__ is not None:
            # The SDK wraps httpx2's exception (a timeout is an APIConnectionError subclass).
            translated = error_from_transport(exc.__cause__, provider)
            if translated is not None:
                return translated
        if isinstance(exc, sdk.APITimeoutError):
            return errors.ProviderTimeoutError("no complete response within the timeout", provider=provider)
        if isinstance(exc, sdk.APIConnectionError):
            return errors.ProviderConnectionError(f"{type(exc).__name__}: {exc}", provider=provider)
        if isinstance(exc, sdk.APIError):  # a reply the SDK could not read into its types
            return errors.ServerError(str(exc.message or exc), provider=provider, body=exc.body)
    return error_from_transport(exc, provider)
