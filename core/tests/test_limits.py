import asyncio

import pytest

from llmp._limits import AIMDLimiter
from llmp.types import RateLimitInfo


async def test_window_halves_once_per_burst_and_grows_back() -> None:
    lim = AIMDLimiter(16)
    starts = [await lim.acquire() for _ in range(8)]
    for s in starts:  # a burst: eight in-flight requests all get 429
        lim.release()
        lim.on_rate_limited(s)
    assert lim.window == 8.0
    start = await lim.acquire()  # sent after the decrease: its 429 is new information
    lim.release()
    lim.on_rate_limited(start)
    assert lim.window == 4.0
    for _ in range(200):
        lim.on_success()
    assert lim.window == 16.0  # grows back, and never above the ceiling


async def test_in_flight_never_exceeds_window() -> None:
    lim = AIMDLimiter(4)
    peak = 0
    gate = asyncio.Event()
    window_full = asyncio.Event()

    async def job() -> None:
        nonlocal peak
        await lim.acquire()
        peak = max(peak, lim.in_flight)
        if lim.in_flight == 4:
            window_full.set()
        await gate.wait()
        lim.release()

    tasks = [asyncio.create_task(job()) for _ in range(20)]
    await asyncio.wait_for(window_full.wait(), 1)
    assert lim.in_flight == 4
    assert len(lim._waiters) == 16
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 4
    assert lim.max_in_flight == 4
    assert lim.in_flight == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    lim = AIMDLimiter(1)
    await lim.acquire()
    waiter = asyncio.create_task(lim.acquire())
    await asyncio.sleep(0)
    lim.release()  # hands the slot to the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert lim.in_flight == 0
    await asyncio.wait_for(lim.acquire(), 1)


def test_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        AIMDLimiter(0)


async def test_pacing_spaces_requests_at_the_refill_rate_when_budget_is_short() -> None:
    lim = AIMDLimiter(8)
    await lim.acquire()
    # 600 RPM, 1 left with 1 in flight: full again in 59.9 s, i.e. refilling at 10 per second.
    lim.on_success(RateLimitInfo(limit_requests=600, remaining_requests=1, reset_requests=59.9))
    lim.release()
    assert lim.interval == pytest.approx(0.1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(4):
        await asyncio.wait_for(lim.acquire(), 2)
    # Spaced 0.1 s apart instead of released at once: three gaps after the first start.
    assert loop.time() - t0 >= 0.29
    lim.observe(RateLimitInfo(limit_requests=600, remaining_requests=500, reset_requests=10.0))
    assert lim.interval == 0.0, "plenty of budget: no pacing"


async def test_token_budget_paces_by_the_mean_tokens_per_request() -> None:
    lim = AIMDLimiter(4)
    await lim.acquire()
    for _ in range(50):
        lim.on_success(tokens=1000)
    assert lim.interval == 0
    # 60k TPM refilling at ~1000 tokens/s and ~1000 tokens per request: about one per second.
    lim.observe(RateLimitInfo(limit_tokens=60_000, remaining_tokens=500, reset_tokens=59.5))
    assert 0.9 < lim.interval < 1.1


async def test_retry_after_pauses_new_requests() -> None:
    lim = AIMDLimiter(4)
    start = await lim.acquire()
    lim.release()
    lim.on_rate_limited(start, retry_after=0.2)
    assert lim.window == 2.0
    assert lim.paused_for > 0.1
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.wait_for(lim.acquire(), 2)
    assert loop.time() - t0 >= 0.15
