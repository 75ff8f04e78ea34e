"""`llmp.testing`'s ASGI plumbing for fakes: a body in frames, a client leaving, lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmp.testing import headers_of, read_body, serve_lifespan

Message = MutableMapping[str, Any]


def feeder(*messages: Message) -> Callable[[], Awaitable[Message]]:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


async def test_a_body_in_frames_is_joined_and_one_frame_is_returned_as_is() -> None:
    one = b'{"a": 1}'
    assert await read_body(feeder({"type": "http.request", "body": one})) is one
    frames = feeder(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": True},
        {"type": "http.request", "body": b"e"},
    )
    assert await read_body(frames) == b"abcde"


async def test_a_client_gone_before_the_whole_body_gives_none() -> None:
    assert await read_body(feeder({"type": "http.disconnect"})) is None
    partial = feeder({"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"})
    assert await read_body(partial) is None


async def test_lifespan_is_answered_until_shutdown() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await serve_lifespan(feeder({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}), send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_headers_by_name() -> None:
    scope = {"headers": [(b"authorization", b"Bearer x"), (b"content-type", b"application/json")]}
    assert headers_of(scope) == {"authorization": "Bearer x", "content-type": "application/json"}
