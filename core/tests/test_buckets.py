"""The local token bucket: the admitted rate over any window (fake clock), bursts, first come first
served, refunds and charges, cancellation, several event loops, bad input."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from llmp._buckets import TokenBucket, rate_bucket
from llmp.errors import BurstCapacityError, ConfigurationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admitted_in_windows(times: list[float], window: float) -> int:
    """The most admissions in any window of `window` seconds (closed at both ends)."""
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("rate", "per", "burst"), [(600, 60, 10), (600, 60, None), (5, 1, 1), (90, 60, 30)])
def test_any_window_admits_at_most_one_burst_plus_the_rate(
    rate: float, per: float, burst: float | None
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, per, burst=burst, name="rpm", clock=clock)
    rng = random.Random(7)
    times: list[float] = []
    horizon = clock.now + 5 * per
    while clock.now < horizon:
        clock.now += rng.expovariate(10 * rate / per)  # asked ten times faster than allowed
        if bucket.try_acquire():
            times.append(clock.now)
    capacity = burst if burst is not None else rate
    per_second = rate / per
    for window in (per / 10, per / 2, per, 2 * per):
        most = admitted_in_windows(times, window)
        assert most <= capacity + per_second * window + 1e-9, (window, most)
    # and it is not more conservative than that: over the run, the refill was all used
    elapsed = times[-1] - times[0]
    assert len(times) >= (capacity + per_second * elapsed) * 0.85


def test_an_idle_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, 60, burst=5, clock=clock)
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 2.5
    assert bucket.available == pytest.approx(2.5)
    clock.now += 3600
    assert bucket.available == 5
    assert bucket.wait_time(5) == 0
    assert bucket.try_acquire(5)
    assert bucket.wait_time(2) == pytest.approx(2.0)


def test_settle_refunds_and_charges_and_a_charge_is_a_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, 60, name="tpm", clock=clock)  # 1000 tokens, ~16.7/s
    assert bucket.try_acquire(800)  # reserved from an estimate
    bucket.settle(800, 300)  # the answer used 300
    assert bucket.available == pytest.approx(700)
    bucket.settle(100, 1500)  # a reply far longer than estimated: 1400 more
    assert bucket.available == pytest.approx(-700)
    assert not bucket.try_acquire(1)
    assert bucket.wait_time(300) == pytest.approx(1000 / (1000 / 60))  # the debt is waited out first
    bucket.settle(5000, 0)  # a refund never fills past the burst
    assert bucket.available == 1000


def test_a_cost_above_the_burst_is_an_error_at_once_naming_the_limit() -> None:
    bucket = TokenBucket(10_000, 60, burst=4000, name="tpm openai:sk-…a1b2")
    with pytest.raises(BurstCapacityError) as caught:
        bucket.try_acquire(5000)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert (error.limit, error.cost, error.capacity) == ("tpm openai:sk-…a1b2", 5000, 4000)
    assert "'tpm openai:sk-…a1b2'" in str(error)
    assert "5000" in str(error)
    assert "4000" in str(error)
    with pytest.raises(BurstCapacityError):
        asyncio.run(bucket.acquire(4001))
    assert bucket.available == 4000  # nothing was taken


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0}, "rate must be a positive number"),
        ({"rate": -5}, "rate must be a positive number"),
        ({"rate": float("nan")}, "rate must be a positive number"),
        ({"rate": "600"}, "rate must be a positive number"),
        ({"rate": 10, "per": 0}, "per must be a positive number"),
        ({"rate": 10, "burst": 0}, "burst must be a positive number"),
        ({"rate": 10, "burst": True}, "burst must be a positive number"),
    ],
)
def test_bad_numbers_are_configuration_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        TokenBucket(name="rpm", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [-1, float("nan"), float("inf"), "3", None])
def test_bad_costs_are_configuration_errors(cost: object) -> None:
    bucket = TokenBucket(10, 1, name="rpm")
    with pytest.raises(ConfigurationError, match=r"rate limit 'rpm': cost must be a number >= 0"):
        bucket.try_acquire(cost)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"reserved must be a number >= 0"):
        bucket.settle(cost, 1)  # type: ignore[arg-type]


# -- waiting (real time, fast rates: these assert order and counts, never durations) -------------


async def test_waiters_are_served_first_come_first_served_and_big_ones_are_not_starved() -> None:
    bucket = TokenBucket(1, 3600, burst=10)  # one per hour: only refunds move it
    assert bucket.try_acquire(9)
    order: list[str] = []

    async def take(label: str, cost: float) -> None:
        await bucket.acquire(cost)
        order.append(label)

    big = asyncio.create_task(take("big", 10))
    await asyncio.sleep(0.01)
    smalls = [asyncio.create_task(take(f"small{i}", 1)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert order == [], "a small request fitting in what is left overtook the big one"
    bucket.settle(9, 0)
    await asyncio.wait_for(big, 10)
    bucket.settle(3, 0)
    await asyncio.wait_for(asyncio.gather(*smalls), 10)
    assert order == ["big", "small0", "small1", "small2"]


async def test_over_a_real_window_the_admitted_rate_stays_within_one_burst() -> None:
    rate, burst = 400.0, 8  # per second
    bucket = TokenBucket(rate, 1, burst=burst)
    times: list[float] = []
    stop = time.monotonic() + 0.5

    async def hammer() -> None:
        while time.monotonic() < stop:
            await bucket.acquire()
            times.append(time.monotonic())

    await asyncio.gather(*(hammer() for _ in range(16)))
    for window in (0.05, 0.1, 0.25, 0.5):
        assert admitted_in_windows(times, window) <= burst + rate * window + 1


async def test_a_refund_wakes_the_waiter_at_once() -> None:
    bucket = TokenBucket(1, 3600, burst=2)  # one per hour: only a refund can let the waiter in
    assert bucket.try_acquire(2)
    waiter = asyncio.create_task(bucket.acquire(1))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    assert bucket.waiting == 1
    bucket.settle(2, 1)
    await asyncio.wait_for(waiter, 10)
    assert bucket.waiting == 0


async def test_a_cancelled_head_lets_the_next_waiter_through() -> None:
    bucket = TokenBucket(1, 3600, burst=5)
    assert bucket.try_acquire(5)
    head = asyncio.create_task(bucket.acquire(5))
    second = asyncio.create_task(bucket.acquire(1))
    await asyncio.sleep(0.01)
    bucket.settle(1, 0)  # room for `second` only, but it must not overtake the head
    await asyncio.sleep(0.01)
    assert not second.done()
    head.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head
    await asyncio.wait_for(second, 10)
    assert bucket.waiting == 0


def test_waiters_on_other_loops_are_woken_from_any_thread() -> None:
    bucket = TokenBucket(1, 3600, burst=3)
    assert bucket.try_acquire(3)
    done: list[int] = []

    def waiter(i: int) -> None:
        asyncio.run(bucket.acquire(1))
        done.append(i)

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while bucket.waiting < 3:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    bucket.settle(3, 0)  # from this thread, which runs no loop at all
    for thread in threads:
        thread.join(10)
    assert sorted(done) == [0, 1, 2]


def test_rate_bucket_shares_one_bucket_per_limit_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMP_REDIS_URL", raising=False)
    first = rate_bucket("openai:key-a1b2:rpm", 600)
    assert isinstance(first, TokenBucket)
    assert (first.rate, first.per, first.capacity) == (600, 60, 600)
    assert rate_bucket("openai:key-a1b2:rpm", 600) is first
    assert rate_bucket("openai:key-c3d4:rpm", 600) is not first
    assert rate_bucket("openai:key-a1b2:rpm", 600, burst=10) is not first
    with pytest.raises(ConfigurationError, match="rate_bucket name must be a non-empty string"):
        rate_bucket("", 10)
