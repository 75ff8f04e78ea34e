"""`llmp.wire.Lanes` against a real HTTP/2 server that misbehaves at the frame level.

The server (`llmp.testing._raw_h2.RawH2Server`) runs on the h2 library over TLS, with the test
CA: it can hold streams open, send a GOAWAY mid-body, drop a session before answering, or
answer over HTTP/1.1 only. Nothing here sleeps to synchronise: requests that must overlap are
held open by the server and released when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx2
import pytest

from llmp import errors
from llmp.testing._raw_h2 import RawH2Server
from llmp.wire import Lanes, error_from_transport

# A stall shows as a PoolTimeout after this long, instead of a hang.
POOL_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def h2_server() -> Iterator[RawH2Server]:
    with RawH2Server() as server:
        yield server


@pytest.fixture
def server(h2_server: RawH2Server) -> RawH2Server:
    h2_server.reset()
    return h2_server


def lanes_for(server: RawH2Server, **options: object) -> Lanes:
    timeout = httpx2.Timeout(10.0, pool=POOL_TIMEOUT)
    return Lanes(
        server.origin, verify=server.tls.client_context() if server.tls else True, timeout=timeout, **options
    )  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def open_lanes(server: RawH2Server, **options: object) -> AsyncIterator[Lanes]:
    lanes = lanes_for(server, **options)
    try:
        yield lanes
    finally:
        await lanes.aclose()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for ``condition`` (checked every few ms) or fail after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


async def get(lanes: Lanes, server: RawH2Server, path: str) -> httpx2.Response:
    return await lanes.send(httpx2.Request("GET", server.url(path)))


async def test_low_concurrency_shares_one_connection(server: RawH2Server) -> None:
    async with open_lanes(server) as lanes:
        responses = await asyncio.gather(*(get(lanes, server, "/ok?hold=20") for _ in range(20)))
        assert {r.http_version for r in responses} == {"HTTP/2"}
        assert lanes.http_version == "HTTP/2"
        assert (lanes.connections, server.counts.connections) == (1, 1)
        assert server.counts.max_streams_per_connection == 20
        assert lanes.in_flight == 0


async def test_a_lane_opens_when_every_one_is_full(server: RawH2Server) -> None:
    async with open_lanes(server, streams_per_connection=5) as lanes:
        responses = await asyncio.gather(*(get(lanes, server, "/ok?hold=12") for _ in range(12)))
        assert {r.status_code for r in responses} == {200}  # all 12 were in flight at once
        assert (lanes.connections, server.counts.connections) == (3, 3)
        assert server.counts.max_streams_per_connection == 5
        assert server.counts.max_in_flight == 12


async def test_max_connections_caps_the_lanes(server: RawH2Server) -> None:
    async with open_lanes(server, streams_per_connection=2, max_connections=3) as lanes:
        responses = await asyncio.gather(*(get(lanes, server, "/ok?hold=10") for _ in range(10)))
        assert (lanes.connections, server.counts.connections) == (3, 3)
        assert {r.status_code for r in responses} == {200}  # the extra requests share the lanes


async def test_a_streamed_response_counts_until_it_is_closed(server: RawH2Server) -> None:
    async with open_lanes(server) as lanes:
        request = httpx2.Request("GET", server.url("/sse-keepalive?interval=0.01&count=3"))
        response = await lanes.send(request, stream=True)
        assert lanes.in_flight == 1
        body = b"".join([chunk async for chunk in response.aiter_raw()])  # read to the end: released
        assert body.endswith(b"data: [DONE]\n\n")
        assert lanes.in_flight == 0
        response = await lanes.send(request, stream=True)
        assert lanes.in_flight == 1
        await response.aclose()  # closed early: released too
        assert lanes.in_flight == 0
        await response.aclose()  # twice is harmless
        assert lanes.in_flight == 0


async def test_streamed_requests_count_towards_opening_lanes(server: RawH2Server) -> None:
    async with open_lanes(server, streams_per_connection=2) as lanes:
        request = httpx2.Request("GET", server.url("/trickle?interval=0.01&count=2"))
        responses = [await lanes.send(request, stream=True) for _ in range(4)]
        assert (lanes.in_flight, lanes.connections) == (4, 2)
        for response in responses:
            await response.aclose()
        assert lanes.in_flight == 0


def _transport_failure(error: BaseException) -> errors.ProviderError:
    translated = error_from_transport(error, "raw")
    assert isinstance(translated, errors.ProviderConnectionError), repr(error)
    return translated


# The two failures that leave httpcore2 2.16.2 with a dead connection it never drops: a GOAWAY
# followed (in one read) by more frames of the stream, and a session dropped before it answered.
LEAKING = ["/goaway?then=rest", "/destroy"]


async def test_dead_connections_do_not_stall_later_requests(server: RawH2Server) -> None:
    # max_concurrency=4: a lane's pool holds four connections, as plain httpx2's does below, so
    # dead connections left in it would stall the healthy requests (and leak their sockets).
    async with open_lanes(server, max_concurrency=4) as lanes:
        for i in range(10):
            with pytest.raises(Exception) as caught:  # noqa: PT011 - httpx2's or h2's, mapped below
                await get(lanes, server, LEAKING[i % 2])
            assert _transport_failure(caught.value).retryable
        # Each failure retired its lane; nothing waits for the dead ones.
        responses = [await get(lanes, server, "/ok") for _ in range(20)]
        assert {r.status_code for r in responses} == {200}
        assert lanes.connections == 1
        assert server.counts.open_connections == 1


async def test_a_goaway_fails_every_stream_on_the_connection_and_the_lane_recovers(
    server: RawH2Server,
) -> None:
    async with open_lanes(server) as lanes:
        held = [asyncio.ensure_future(get(lanes, server, "/ok?delay=10")) for _ in range(5)]
        await until(lambda: server.counts.in_flight == 5)
        with pytest.raises(Exception) as caught:  # noqa: PT011
            await get(lanes, server, "/goaway?then=rest")
        _transport_failure(caught.value)
        for outcome in await asyncio.gather(*held, return_exceptions=True):
            # Held streams die with the connection (httpcore2 cannot finish them after a GOAWAY).
            assert isinstance(outcome, httpx2.Response) or _transport_failure(outcome)
        assert lanes.in_flight == 0
        assert (await get(lanes, server, "/ok")).status_code == 200
        assert lanes.connections == 1


@pytest.mark.parametrize("path", LEAKING)
async def test_plain_httpx2_stalls_after_the_same_failures(server: RawH2Server, path: str) -> None:
    """The upstream bug (docs/upstream/httpcore2-goaway.md): with plain httpx2, four failures fill
    a four-connection pool with dead connections and the next request to the healthy path waits
    the whole pool timeout. If this starts failing, httpcore2 is fixed: see whether `Lanes`
    still needs to retire lanes."""
    limits = httpx2.Limits(max_connections=4)
    timeout = httpx2.Timeout(10.0, pool=0.5)
    assert server.tls is not None
    async with httpx2.AsyncClient(
        http2=True, limits=limits, timeout=timeout, verify=server.tls.client_context()
    ) as client:
        for _ in range(4):
            with pytest.raises(Exception):  # noqa: PT011, B017
                await client.get(server.url(path))
        with pytest.raises(httpx2.PoolTimeout):
            await client.get(server.url("/ok"))
    assert server.counts.paths.count("/ok") == 0


async def test_http1_only_server_gets_a_pool_sized_to_the_concurrency() -> None:
    with RawH2Server(alpn=("http/1.1",)) as server:
        async with open_lanes(server, max_concurrency=16) as lanes:
            responses = await asyncio.gather(*(get(lanes, server, "/ok?hold=16") for _ in range(16)))
            assert {r.http_version for r in responses} == {"HTTP/1.1"}
            assert lanes.http_version == "HTTP/1.1"
            assert {r.status_code for r in responses} == {200}  # 16 at once, not 4 (issue 14 item 7)
            assert lanes.connections == 1


async def test_plain_http_is_http1_with_a_pool_sized_to_the_concurrency() -> None:
    with RawH2Server(tls=False) as server:
        async with open_lanes(server, max_concurrency=16, streams_per_connection=2) as lanes:
            assert lanes.http_version == "HTTP/1.1"
            responses = await asyncio.gather(*(get(lanes, server, "/ok?hold=16") for _ in range(16)))
            assert {r.status_code for r in responses} == {200}
            assert (lanes.connections, server.counts.connections) == (1, 16)  # no extra lanes


async def test_http2_false_speaks_http1(server: RawH2Server) -> None:
    with RawH2Server(alpn=("h2", "http/1.1")) as both:
        async with open_lanes(both, http2=False) as lanes:
            response = await get(lanes, both, "/ok")
            assert response.http_version == "HTTP/1.1"


async def test_closed_lanes_refuse_requests(server: RawH2Server) -> None:
    lanes = lanes_for(server)
    await get(lanes, server, "/ok")
    await lanes.aclose()
    assert lanes.connections == 0
    with pytest.raises(RuntimeError, match="closed"):
        await get(lanes, server, "/ok")


async def test_built_requests_carry_the_clients_defaults_and_send_as_they_are(server: RawH2Server) -> None:
    async with open_lanes(server, headers={"x-plugin": "p1"}) as lanes:
        template = lanes.build_request("GET", server.url("/ok"), headers={"accept": "application/json"})
        assert lanes.connections == 1  # built by a lane's client, which the first send then uses
        headers = template.headers
        assert (headers["accept"], headers["x-plugin"], headers["connection"]) == (
            "application/json",  # the caller's header wins over the client's "*/*"
            "p1",
            "keep-alive",
        )
        assert headers["accept-encoding"].startswith("gzip")
        assert headers["user-agent"].startswith("python-httpx2/")
        assert template.extensions["timeout"] == httpx2.Timeout(10.0, pool=POOL_TIMEOUT).as_dict()
        assert lanes.build_request("GET", server.url("/ok"), timeout=3.0).extensions["timeout"] == (
            httpx2.Timeout(3.0).as_dict()
        )
        # Reused: each request takes the template's URL, headers and extensions.
        for _ in range(2):
            request = httpx2.Request(
                "GET", template.url, headers=template.headers, extensions=template.extensions
            )
            response = await lanes.send(request)
            assert response.status_code == 200
        assert (lanes.connections, server.counts.connections) == (1, 1)
    with pytest.raises(RuntimeError, match="closed"):
        lanes.build_request("GET", server.url("/ok"))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"streams_per_connection": 0}, "streams_per_connection"),
        ({"streams_per_connection": 101}, "streams_per_connection"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_connections": 0}, "max_connections"),
        ({"limits": httpx2.Limits()}, "limits"),
        ({"transport": httpx2.AsyncHTTPTransport()}, "transport"),
    ],
)
def test_bad_settings_are_configuration_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=match):
        Lanes("https://example.invalid", **options)  # type: ignore[arg-type]
