"""`llmp.wire.send_checked` against a real HTTP server answering with the error replies providers send."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

from llmp import errors
from llmp.wire import Lanes, send_checked

GOOGLE_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
    }
}
REPLIES: dict[str, tuple[int, dict[str, str], object]] = {
    "/ok": (200, {}, {"ok": True}),
    "/created": (201, {}, {"ok": True}),
    "/limited": (
        429,
        {"retry-after": "2", "x-ratelimit-remaining-requests": "0"},
        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
    ),
    "/bad-key": (400, {}, GOOGLE_BAD_KEY),
    "/down": (503, {}, {"error": {"message": "overloaded"}}),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a provider's server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, headers, body = REPLIES[self.path]
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "content-type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # type: ignore[override]  # quiet
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def post(lanes: Lanes, origin: str, path: str, **options: object) -> httpx2.Response:
    request = httpx2.Request("POST", origin + path, json={"q": 1})
    return await send_checked(lanes, request, "prov", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_2xx_reply_is_returned(origin: str, stream: bool) -> None:
    lanes = Lanes(origin)
    try:
        for path in ("/ok", "/created"):
            response = await post(lanes, origin, path, stream=stream)
            assert json.loads(await response.aread()) == {"ok": True}
            await response.aclose()
        assert lanes.in_flight == 0
    finally:
        await lanes.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_an_error_reply_is_its_llmp_error_and_hands_the_lane_back(origin: str, stream: bool) -> None:
    lanes = Lanes(origin)
    try:
        with pytest.raises(errors.RateLimitError) as limited:
            await post(lanes, origin, "/limited", stream=stream)
        error = limited.value
        assert (error.status_code, error.message, error.retry_after, error.provider) == (
            429,
            "Rate limit reached",
            2.0,
            "prov",
        )
        assert error.rate_limit is not None
        assert error.rate_limit.remaining_requests == 0
        with pytest.raises(errors.ServerError, match="overloaded"):
            await post(lanes, origin, "/down", stream=stream)
        assert lanes.in_flight == 0  # the streamed error replies were read and closed
    finally:
        await lanes.aclose()


async def test_the_providers_table_applies(origin: str) -> None:
    lanes = Lanes(origin)
    try:
        with pytest.raises(errors.BadRequestError) as plain:
            await post(lanes, origin, "/bad-key")
        assert type(plain.value) is errors.BadRequestError
        with pytest.raises(errors.AuthenticationError) as keyed:
            await post(lanes, origin, "/bad-key", codes={"API_KEY_INVALID": errors.AuthenticationError})
        assert keyed.value.status_code == 400
    finally:
        await lanes.aclose()


async def test_a_transport_failure_is_a_chained_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    lanes = Lanes(origin)
    try:
        with pytest.raises(errors.ProviderConnectionError) as info:
            await post(lanes, origin, "/ok")
        assert isinstance(info.value.__cause__, httpx2.ConnectError)
        assert info.value.retryable
        assert lanes.in_flight == 0
    finally:
        await lanes.aclose()
