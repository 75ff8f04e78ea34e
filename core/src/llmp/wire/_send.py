"""One request on `Lanes`, with every failure already an `llmp.errors` class.

Every HTTP plugin ends each send the same way: a reply that is not 2xx has its body read and
becomes `error_from_status`'s error (with the provider's own table on top), and an exception of
the transport becomes `error_from_transport`'s, chained. That is here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llmp import errors
from llmp.wire._status import error_from_status
from llmp.wire._transport import error_from_transport

if TYPE_CHECKING:
    import httpx2

    from llmp.wire._lanes import Lanes

__all__ = ["send_checked"]


async def send_checked(
    lanes: Lanes,
    request: httpx2.Request,
    provider: str,
    *,
    stream: bool = False,
    codes: Mapping[str, type[errors.ProviderError]] | None = None,
) -> httpx2.Response:
    """`Lanes.send` ``request``, and return the response if its status is 2xx.

    Otherwise the body is read, the response closed (its lane handed back), and
    ``error_from_status(status, body, headers, provider, codes=codes)`` raised. An httpx2, httpcore2
    or h2 exception is raised as `error_from_transport`'s error, chained (``raise ... from``);
    an exception that function does not know propagates as it is. With ``stream`` a 2xx
    response is returned unread, holding its lane until it is closed.
    """
    try:
        response = await lanes.send(request, stream=stream)
        if not 200 <= response.status_code < 300:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise error_from_status(
                response.status_code, response.content, response.headers, provider, codes=codes
            )
    except errors.LLMPError:
        raise
    except Exception as exc:
        error = error_from_transport(exc, provider)
        if error is None:
            raise
        raise error from exc
    return response
