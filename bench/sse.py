"""SSE decoding: `llmp.wire.SSEDecoder` against the two parsers the plugins carry today.

    .venv/bin/python bench/sse.py            # per-event cost + 1/8/32 MB single lines (~1 min)
    .venv/bin/python bench/sse.py --quick    # skips the old parsers' 32 MB line (~20 s each)

Streams are the fake servers' own bytes: OpenAI's 20-delta chat stream (role delta, 20 content
deltas, finish, usage, ``[DONE]``; LF line ends) and Gemini's 20-event ``alt=sse`` stream (CRLF).
Each is fed as one read per event (a live stream) and as one read for the whole body (what a
local server sends). Times are the best of 7 repeats of N streams, in ns per event, old and new
measured in turns; the ratio is new / old (below 1.00: the new decoder is faster). The "+json"
columns add what every plugin does next, ``json.loads`` of each event's data: the old parsers
hand over bytes, which ``json.loads`` must first sniff and decode; the decoder hands over text.
Huge lines are one ``data:`` line of N MB fed in 16 KB reads (one HTTP/2 DATA frame each).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from llmp.wire import SSEDecoder
from llmp_gemini.testing import _gemini_wire as gemini_wire
from llmp_openai.testing import _openai_wire as openai_wire
from llmp_openai.testing._openai_answer import text_choice
from llmp_openai.testing._openai_render import Completion, stream_steps

REPEATS = 7
STREAMS = 2000
# httpcore2 yields one chunk per HTTP/2 DATA frame: 16 KB at the default SETTINGS_MAX_FRAME_SIZE.
READ = 16384


def openai_stream() -> list[bytes]:
    text = " ".join(f"word{i}" for i in range(20))
    choice = text_choice(text, max_tokens=None, stop=[], chunk_count=20)
    usage = openai_wire.make_usage(30, choice.completion_tokens, cached=0, reasoning=0)
    completion = Completion("chatcmpl-bench", 1_700_000_000, "gpt-4.1-mini", [choice], usage)
    body = b"".join(stream_steps(completion, include_usage=True))
    return [event + b"\n\n" for event in body.split(b"\n\n") if event]


def gemini_stream() -> list[bytes]:
    text = " ".join(f"word{i}" for i in range(20))
    candidate = gemini_wire.plan_candidate(text, max_tokens=None, stop=[], thoughts=0, chunk_count=20)
    reply = gemini_wire.Reply("resp-bench", "gemini-3-flash-preview", [candidate], 30, 0, 0)
    return reply.sse_events()


def _old_openai(reads: list[bytes]) -> int:
    from _old_sse import SSEParser

    parser = SSEParser()
    count = 0
    for data in reads:
        count += len(parser.feed(data))
    assert parser.done
    return count


def _new_openai(reads: list[bytes]) -> int:
    decoder = SSEDecoder(sentinel="[DONE]")
    count = 0
    for data in reads:
        count += len(decoder.feed(data))
    assert decoder.done
    return count


def _old_gemini(reads: list[bytes]) -> int:
    from _old_sse import SSEEvents

    events = SSEEvents()
    count = 0
    for data in reads:
        count += len(events.feed(data))
    return count + len(events.close())


def _new_gemini(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for data in reads:
        count += len(decoder.feed(data))
    return count + len(decoder.close())


def _best_ns_per_event(
    runs: list[Callable[[list[bytes]], int]], reads: list[bytes], events: int
) -> list[float]:
    """Best time per event of each run, measured in turns so that all see the same machine load."""
    best = [float("inf")] * len(runs)
    for _ in range(REPEATS):
        for i, run in enumerate(runs):
            started = time.perf_counter_ns()
            for _ in range(STREAMS):
                run(reads)
            best[i] = min(best[i], (time.perf_counter_ns() - started) / STREAMS / events)
    return best


def _with_json(run: Callable[[list[bytes]], int], new: bool) -> Callable[[list[bytes]], int]:
    """The same run, plus what every plugin does next with each event: ``json.loads`` its data."""

    def old_and_loads(reads: list[bytes]) -> int:
        from _old_sse import SSEEvents, SSEParser

        count = 0
        if run is _old_openai:
            parser = SSEParser()
            for data in reads:
                for payload in parser.feed(data):
                    json.loads(payload)
                    count += 1
            return count
        events = SSEEvents()
        for data in reads:
            for payload in events.feed(data):
                json.loads(payload)
                count += 1
        for payload in events.close():
            json.loads(payload)
            count += 1
        return count

    def new_and_loads(reads: list[bytes]) -> int:
        decoder = SSEDecoder(sentinel="[DONE]") if run is _new_openai else SSEDecoder()
        count = 0
        for data in reads:
            for event in decoder.feed(data):
                json.loads(event.data)
                count += 1
        for event in decoder.close():
            json.loads(event.data)
            count += 1
        return count

    return new_and_loads if new else old_and_loads


def _same_payloads() -> None:
    """The new decoder yields exactly the old parsers' payloads (else the timing means nothing)."""
    from _old_sse import SSEEvents, SSEParser

    reads = openai_stream()
    old = [p.decode() for data in reads for p in SSEParser().feed(data)]
    decoder = SSEDecoder(sentinel="[DONE]")
    assert old == [e.data for data in reads for e in decoder.feed(data)]
    reads = gemini_stream()
    parser = SSEEvents()
    old = [p.decode() for data in reads for p in parser.feed(data)] + [p.decode() for p in parser.close()]
    decoder = SSEDecoder()
    new = [e.data for data in reads for e in decoder.feed(data)] + [e.data for e in decoder.close()]
    assert old == new


def per_event_table() -> None:
    _same_payloads()
    print(f"per event (ns, best of {REPEATS} x {STREAMS} streams, old and new measured in turns)")
    head = f"{'stream':<28}{'events':>7}{'old':>8}{'new':>8}{'new/old':>9}"
    print(f"{head}{'+json old':>11}{'+json new':>11}{'ratio':>7}")
    cases = [
        ("openai, a read per event", openai_stream(), _old_openai, _new_openai),
        ("gemini, a read per event", gemini_stream(), _old_gemini, _new_gemini),
    ]
    cases += [(name.replace("a read per event", "one read"), [b"".join(r)], o, n) for name, r, o, n in cases]
    for name, reads, old, new in cases:
        events = new(reads)
        runs = [old, new, _with_json(old, new=False), _with_json(new, new=True)]
        old_ns, new_ns, old_json, new_json = _best_ns_per_event(runs, reads, events)
        print(
            f"{name:<28}{events:>7}{old_ns:>8.0f}{new_ns:>8.0f}{new_ns / old_ns:>9.2f}"
            f"{old_json:>11.0f}{new_json:>11.0f}{new_json / old_json:>7.2f}"
        )


def _huge(run: Callable[[list[bytes]], int], megabytes: int, crlf: bool) -> float:
    end = b"\r\n\r\n" if crlf else b"\n\n"
    body = b"data: " + b"x" * (megabytes << 20) + end + (b"" if crlf else b"data: [DONE]\n\n")
    reads = [body[i : i + READ] for i in range(0, len(body), READ)]
    started = time.perf_counter()
    assert run(reads) == 1
    return time.perf_counter() - started


def huge_line_table(quick: bool) -> None:
    print("\none data: line of N MB in 16 KB reads (seconds)")
    print(f"{'MB':>4}{'openai old':>12}{'gemini old':>12}{'new (LF)':>10}{'new (CRLF)':>12}")
    for megabytes in (1, 8, 32):
        skip = quick and megabytes == 32
        old_openai = "skipped" if skip else f"{_huge(_old_openai, megabytes, False):.3f}"
        old_gemini = "skipped" if skip else f"{_huge(_old_gemini, megabytes, True):.3f}"
        new_lf = _huge(_new_openai, megabytes, False)
        new_crlf = _huge(_new_gemini, megabytes, True)
        print(f"{megabytes:>4}{old_openai:>12}{old_gemini:>12}{new_lf:>10.3f}{new_crlf:>12.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip the old parsers' 32 MB line")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    per_event_table()
    huge_line_table(args.quick)


if __name__ == "__main__":
    main()
