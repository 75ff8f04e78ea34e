"""`llmp.wire.SSEDecoder`: the SSE rules, whatever the read boundaries, and bounded buffering.

Each stream is checked against a small reference decoder written straight from the WHATWG
rules, fed whole, byte by byte, and split at every offset, so the fast paths cannot drift from
the rules.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from llmp.errors import MalformedResponseError
from llmp.wire import ServerSentEvent, SSEDecoder


def reference(stream: bytes, sentinel: str | None = None) -> list[ServerSentEvent]:
    """The events of a whole stream by the spec, plus a last event without its blank line."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    events: list[ServerSentEvent] = []
    data: list[str] = []
    kind = ""
    last_id: str | None = None
    for line in [*re.split("\r\n|\r|\n", text), ""]:
        if line == "":
            if data:
                value = "\n".join(data)
                if value == sentinel:
                    return events
                events.append(ServerSentEvent(value, kind or "message", last_id))
            data, kind = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events


def decode(reads: list[bytes], **options: object) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**options)  # type: ignore[arg-type]
    events = [event for data in reads for event in decoder.feed(data)]
    return events + decoder.close()


def _event(payload: object, end: bytes = b"\n\n") -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + end


def openai_stream() -> bytes:
    """A chat-completions stream as OpenAI sends it (and llmp-openai's fake renders it): the role,
    four text deltas, the finish, the usage chunk, ``[DONE]``."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000}
    head |= {"model": "gpt-4.1-mini", "service_tier": "default", "system_fingerprint": "fp_llmpfake01"}

    def chunk(delta: dict[str, object] | None, finish: str | None = None, usage: object = None) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        return _event({**head, "choices": choices, "usage": usage})

    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 4,
        "total_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    deltas = [chunk({"content": piece}) for piece in ("one", " two", " three", " four")]
    return b"".join(
        [
            chunk({"role": "assistant", "content": "", "refusal": None}),
            *deltas,
            chunk({}, "stop"),
            chunk(None, usage=usage),
            b"data: [DONE]\n\n",
        ]
    )


def gemini_stream() -> bytes:
    """A ``streamGenerateContent?alt=sse`` stream as Gemini sends it (CRLF line ends), as
    llmp-gemini's fake renders it: three candidates' text, the last with its finish reason."""
    events = []
    for count, piece in enumerate(("one", " two", " three"), 1):
        candidate: dict[str, object] = {"content": {"parts": [{"text": piece}], "role": "model"}}
        if count == 3:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        usage = {"promptTokenCount": 5, "candidatesTokenCount": count, "totalTokenCount": 5 + count}
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": 5}]  # type: ignore[assignment]
        payload = {"candidates": [candidate], "usageMetadata": usage}
        payload |= {"modelVersion": "gemini-3-flash-preview", "responseId": "resp-1"}
        events.append(_event(payload, b"\r\n\r\n"))
    return b"".join(events)


STREAMS = {
    "openai": openai_stream(),
    "gemini (CRLF)": gemini_stream(),
    "anthropic (event: lines)": (
        b'event: message_start\ndata: {"type":"message_start"}\n\n'
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"Hi"}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    ),
    "every rule": (
        b"\xef\xbb\xbf: a comment first\n"
        b"data:no space\n\n"
        b"data: two\ndata: lines\n\n"
        b"data\n\n"  # a field without a colon: data is "", still an event
        b"id: 7\ndata: with an id\n\n"
        b"data: the id carries over\n\n"
        b"id: bad\0id\ndata: a NUL keeps the old id\n\n"
        b"event: custom\nretry: 1500\nunknown: ignored\ndata:  two spaces keep one\n\n"
        b"event: no data is no event\n\n"
        b"data: cr only\rdata: line\r\r"
        b"data: crlf\r\n\r\n"
        b"data: mixed\r\ndata: ends\n\r\n"
        b"data: caf\xc3\xa9 \xe2\x9c\x93\n\n"
        b"data: the last event has no blank line"
    ),
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_whole_stream_matches_the_rules(name: str) -> None:
    stream = STREAMS[name]
    assert decode([stream]) == reference(stream)


@pytest.mark.parametrize("name", list(STREAMS))
def test_byte_by_byte(name: str) -> None:
    stream = STREAMS[name]
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == reference(stream)


@pytest.mark.parametrize("name", list(STREAMS))
def test_every_split_point(name: str) -> None:
    stream = STREAMS[name]
    expected = reference(stream)
    for cut in range(len(stream) + 1):
        assert decode([stream[:cut], stream[cut:]]) == expected, cut


def test_random_reads_of_every_stream_at_once() -> None:
    stream = b"".join(STREAMS[name] + b"\n\n" for name in STREAMS)
    expected = reference(stream)
    rng = random.Random(15)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 40)))
        reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert decode(reads) == expected


def test_an_event_per_read_as_a_live_stream_sends_it() -> None:
    # The fast path: each read is one whole event, LF (OpenAI) or CRLF (Gemini).
    for stream, end in ((STREAMS["openai"], b"\n\n"), (STREAMS["gemini (CRLF)"], b"\r\n\r\n")):
        reads = [event + end for event in stream.split(end) if event]
        events = decode(reads)
        assert events == reference(stream)
        assert len(events) == len(reads)


def test_event_fields() -> None:
    events = decode([STREAMS["every rule"]])
    assert events[0] == ServerSentEvent("no space")
    assert events[1].data == "two\nlines"
    assert events[2].data == ""
    assert [e.id for e in events[3:7]] == ["7", "7", "7", "7"]
    assert (events[6].event, events[6].data) == ("custom", " two spaces keep one")
    assert events[-1].data == "the last event has no blank line"
    assert "café ✓" in [e.data for e in events]


def test_retry_field() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 2500\ndata: x\n\nretry: soon\n\n")
    assert decoder.retry == 2500


def test_a_bom_only_at_the_start_is_dropped() -> None:
    assert decode([b"\xef", b"\xbb\xbfdata: a\n\n"]) == [ServerSentEvent("a")]
    # Later it is part of a line: here a field named "\ufeffdata", which is ignored.
    assert decode([b"data: a\n\n", b"\xef\xbb\xbfdata: b\n\n"]) == [ServerSentEvent("a")]


def test_sentinel_ends_the_stream() -> None:
    decoder = SSEDecoder(sentinel="[DONE]")
    assert decoder.feed(b"data: 1\n\ndata: [DONE]\n\ndata: after\n\n") == [ServerSentEvent("1")]
    assert decoder.done
    assert decoder.feed(b"data: later\n\n") == []
    assert decoder.close() == []


@pytest.mark.parametrize(
    "reads",
    [[b"data: [DONE]\n\n"], [b"data: [DONE]\r\n\r\n"], [b"data: [DO", b"NE]\n\n"], [b"data: [DONE]"]],
)
def test_sentinel_in_every_shape(reads: list[bytes]) -> None:
    decoder = SSEDecoder(sentinel="[DONE]")
    assert decoder.feed(b"data: 1\n\n") == [ServerSentEvent("1")]
    events = [e for data in reads for e in decoder.feed(data)] + decoder.close()
    assert events == []
    assert decoder.done


def test_a_stream_without_the_sentinel_is_not_done() -> None:
    decoder = SSEDecoder(sentinel="[DONE]")
    decoder.feed(STREAMS["openai"].replace(b"data: [DONE]\n\n", b""))
    assert not decoder.done


def test_max_event_size_stops_a_line_that_never_ends() -> None:
    decoder = SSEDecoder(max_event_size=1000, provider="openai")
    decoder.feed(b"data: ")
    for _ in range(9):
        assert decoder.feed(b"x" * 100) == []
    # The read that crosses the limit raises, long before the line ends: memory stays bounded.
    with pytest.raises(MalformedResponseError, match="max_event_size") as caught:
        decoder.feed(b"x" * 100)
    assert caught.value.provider == "openai"


@pytest.mark.parametrize(
    "reads",
    [
        [b"data: " + b"x" * 1001 + b"\n\n"],  # one read, the fast path
        [b"data: " + b"x" * 1001 + b"\r\n\r\n"],
        [b"data: a\n\ndata: " + b"x" * 1001 + b"\n\n"],  # several events in one read
        [b"data: " + b"x" * 600 + b"\n", b"data: " + b"x" * 600 + b"\n\n"],  # many data lines
    ],
)
def test_max_event_size_in_every_path(reads: list[bytes]) -> None:
    decoder = SSEDecoder(max_event_size=1000)
    *first, last = reads
    for data in first:
        decoder.feed(data)
    with pytest.raises(MalformedResponseError):
        decoder.feed(last)


def test_events_up_to_the_limit_pass() -> None:
    body = b"data: " + b"x" * 1000 + b"\n\n"
    assert (
        decode([body, body[:-1].replace(b"\n", b"\r\n") + b"\r\n"], max_event_size=1000)
        == [ServerSentEvent("x" * 1000)] * 2
    )


def test_a_huge_line_in_many_reads() -> None:
    line = b"data: " + b"y" * (4 << 20) + b"\n\n"
    events = decode([line[i : i + 16384] for i in range(0, len(line), 16384)])
    assert events == [ServerSentEvent("y" * (4 << 20))]


def test_bad_max_event_size() -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=0)


@pytest.mark.parametrize(
    "read",
    [b"data: a\rdata: b\n\n", b"data: a\ndata: b\r\n\r\n", b"data: a\rb\r\n\r\n", b"data: a\r\n\n"],
)
def test_line_ends_inside_one_read_after_a_clean_start(read: bytes) -> None:
    # After a whole event the decoder is clean and tries the one-event fast path on each read:
    # any other line end inside that read must still count.
    stream = b"data: 0\n\n" + read
    assert decode([b"data: 0\n\n", read]) == reference(stream)
