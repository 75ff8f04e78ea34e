"""The fake OpenAI server's transport-level faults: trickling bodies, a huge SSE line, an echoed key.

Driven by raw httpx2 and `llmp.wire.SSEDecoder`, so what is checked is the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from llmp.testing import echo_key, huge_line, trickle
from llmp.wire import SSEDecoder
from llmp_openai.testing import FakeOpenAIServer

BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "one two three"}]}


@asynccontextmanager
async def post(
    server: FakeOpenAIServer, *, stream: bool, read_timeout: float = 10.0
) -> AsyncIterator[httpx2.Response]:
    # Created after the fixture set SSL_CERT_FILE: httpx2 reads it when a client is created.
    async with httpx2.AsyncClient(http2=True, timeout=httpx2.Timeout(10.0, read=read_timeout)) as http:
        body: dict[str, Any] = {**BODY, "stream": stream}
        headers = {"authorization": f"Bearer {server.api_key}"}
        async with http.stream(
            "POST", server.base_url + "/chat/completions", json=body, headers=headers
        ) as r:
            yield r


def texts(events: list[Any]) -> str:
    out = []
    for event in events:
        for choice in json.loads(event.data).get("choices", []):
            out.append(choice["delta"].get("content") or "")
    return "".join(out)


async def test_trickle_sends_the_body_a_byte_at_a_time(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(trickle(0.01, count=20))
    async with post(fake_openai, stream=False, read_timeout=2.0) as response:
        reads = [data async for data in response.aiter_raw()]
    assert reads[:20] == [r[:1] for r in reads[:20]]  # the first 20 reads are one byte each
    assert json.loads(b"".join(reads))["choices"][0]["message"]["content"] == "Echo: one two three"


async def test_trickle_of_keepalive_comments_before_the_events(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(trickle(0.01, keepalive=True, count=5))
    decoder = SSEDecoder(sentinel="[DONE]")
    events = []
    async with post(fake_openai, stream=True) as response:
        raw = b""
        async for data in response.aiter_raw():
            raw += data
            events += decoder.feed(data)
    assert raw.count(b": keep-alive\n\n") == 5
    assert decoder.done
    assert texts(events) == "Echo: one two three"


async def test_a_trickle_without_end_stops_when_the_client_leaves(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(trickle(0.01, keepalive=True))
    async with post(fake_openai, stream=True) as response:
        comments = 0
        async for data in response.aiter_raw():
            comments += data.count(b": keep-alive")
            if comments >= 5:
                break
    assert await asyncio.to_thread(fake_openai.wait_idle, 10)  # the server noticed and stopped


async def test_a_trickling_json_body_is_still_json(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(trickle(0.01, keepalive=True, count=3))
    async with post(fake_openai, stream=False) as response:
        body = await response.aread()
    assert body.startswith(b"   {")
    assert json.loads(body)["object"] == "chat.completion"


async def test_a_huge_line_leaves_the_answer_unchanged(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(huge_line(2 << 20))
    decoder = SSEDecoder(sentinel="[DONE]")
    async with post(fake_openai, stream=True) as response:
        events = [e async for data in response.aiter_raw() for e in decoder.feed(data)]
    assert len(events[0].data) > 2 << 20
    assert json.loads(events[0].data)["choices"] == []
    assert texts(events) == "Echo: one two three"


async def test_a_huge_line_is_bounded_by_max_event_size(fake_openai: FakeOpenAIServer) -> None:
    from llmp.errors import MalformedResponseError

    fake_openai.inject(huge_line(2 << 20))
    decoder = SSEDecoder(max_event_size=1 << 20)

    async def read_all(response: httpx2.Response) -> None:
        async for data in response.aiter_raw():
            decoder.feed(data)

    async with post(fake_openai, stream=True) as response:
        with pytest.raises(MalformedResponseError):
            await read_all(response)


@pytest.mark.parametrize("status", [401, 400])
async def test_echo_key_puts_the_request_key_in_the_error(fake_openai: FakeOpenAIServer, status: int) -> None:
    fake_openai.inject(echo_key(status))
    async with post(fake_openai, stream=False) as response:
        body = json.loads(await response.aread())
    assert response.status_code == status
    assert body["error"]["message"] == f"Invalid header value: Bearer {fake_openai.api_key}"
