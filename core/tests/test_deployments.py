"""Sets of deployments behind one LLM: strategies, health, fallbacks, cache, budget, metrics."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp import errors
from llmp.testing import FunctionClient, function_registry
from llmp.types import Capabilities, Choice, Request, Usage

from .conftest import per_token


def ok(name: str) -> Callable[[Request], str]:
    return lambda request: f"{name}: {request.messages[-1]['content']}"


def down(request: Request) -> str:
    raise errors.ProviderConnectionError("ConnectError: [Errno 111] Connection refused", provider="test")


def three(**replies: Any) -> tuple[dict[str, FunctionClient], Any]:
    clients = {
        name: reply if isinstance(reply, FunctionClient) else FunctionClient(reply)
        for name, reply in replies.items()
    }
    return clients, function_registry({f"{name}/*": c for name, c in clients.items()})


def make(models: list[Any], registry: Any, tmp_path: Path, **kwargs: Any) -> llmp.LLM:
    kwargs.setdefault("cache", str(tmp_path / "cache"))
    return llmp.LLM(models, registry=registry, **kwargs)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "kwargs", "match"),
    [
        ([], {}, "empty list of deployments"),
        (["a/m", "b/m"], {"strategy": "random"}, "strategy='random' is not one of"),
        ([{"model": "a/m", "weight": -1}], {}, r"deployments\[0\]\.weight must be a positive number"),
        ([{"model": "a/m", "rpm": 0}], {}, r"deployments\[0\]\.rpm"),
        (["a/m", "b/m"], {"max_cost": 0}, "max_cost must be a positive number"),
        (["a/m", "a/m"], {}, r"deployments\[1\] is the same as deployments\[0\]"),
        ([{"model": "a/m", "base_ur": "http://x"}], {}, "did you mean 'base_url'"),
        ([5], {}, r"deployments\[0\] is int"),
    ],
)
def test_bad_deployments_are_refused_naming_the_item(
    models: list[Any], kwargs: dict[str, Any], match: str, tmp_path: Path
) -> None:
    clients, registry = three(a=ok("a"), b=ok("b"))
    with pytest.raises(errors.ConfigurationError, match=match):
        make(models, registry, tmp_path, **kwargs)
    assert all(c.request_count == 0 for c in clients.values())


# -- strategies --------------------------------------------------------------------------------


def test_fallback_uses_the_first_and_moves_on_when_it_is_down(tmp_path: Path) -> None:
    clients, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=1)
    response = llm.complete("hi")
    assert response.text == "b: hi"
    assert response.deployment == "b/m"
    assert clients["a"].request_count == 2  # its retries were spent first
    metrics = llm.metrics()
    by_name = {d.name: d for d in metrics.deployments}
    assert by_name["a/m"].failures_by_kind == {"ProviderConnectionError": 1}
    assert by_name["a/m"].fallbacks == 1
    assert by_name["b/m"].successes == 1


def test_an_outage_opens_the_circuit_so_the_job_does_not_wait_on_it(tmp_path: Path) -> None:
    clients, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=6, cache=False)
    results = llm.generate([f"p{i}" for i in range(100)])
    assert results == [[f"b: p{i}"] for i in range(100)]
    assert clients["a"].request_count <= 6, "the dead deployment was skipped once its circuit opened"
    assert llm.metrics().deployments[0].health == "open"


def test_an_open_circuit_is_probed_once_and_closes_when_the_deployment_is_back(tmp_path: Path) -> None:
    state = {"up": False}

    def flaky(request: Request) -> str:
        if not state["up"]:
            return down(request)
        return "a: back"

    clients, registry = three(a=flaky, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=0, cache=False)
    health = llm._router.members[0].health  # type: ignore[union-attr]
    health.base = health.cooldown = 0.05
    for _ in range(3):
        assert llm.chat("x") == "b: x"
    assert health.is_open
    state["up"] = True
    before = clients["a"].request_count
    asyncio.run(asyncio.sleep(0.06))  # the cool-down passes (wall clock), not a synchronisation
    assert llm.chat("probe") == "a: back"
    assert clients["a"].request_count == before + 1
    assert health.state == "healthy"


def test_round_robin_spreads_evenly(tmp_path: Path) -> None:
    clients, registry = three(a=ok("a"), b=ok("b"), c=ok("c"))
    llm = make(["a/m", "b/m", "c/m"], registry, tmp_path, strategy="round_robin", cache=False)
    llm.generate([f"p{i}" for i in range(90)])
    assert [clients[n].request_count for n in "abc"] == [30, 30, 30]


def test_weighted_follows_the_weights_exactly(tmp_path: Path) -> None:
    clients, registry = three(a=ok("a"), b=ok("b"))
    deployments = [llmp.Deployment("a/m", weight=3), {"model": "b/m", "weight": 1}]
    llm = make(deployments, registry, tmp_path, strategy="weighted", cache=False, max_concurrent=1)
    llm.generate([f"p{i}" for i in range(40)])
    assert (clients["a"].request_count, clients["b"].request_count) == (30, 10)


def test_least_busy_keeps_every_deployment_s_window_full(tmp_path: Path) -> None:
    async def slow(request: Request) -> str:
        await asyncio.sleep(0.002)  # simulated latency, so requests overlap
        return "x"

    clients, registry = three(a=FunctionClient(slow), b=FunctionClient(slow))
    deployments = [{"model": "a/m", "max_concurrent": 4}, {"model": "b/m", "max_concurrent": 8}]
    llm = make(deployments, registry, tmp_path, strategy="least_busy", cache=False)
    llm.generate([f"p{i}" for i in range(300)])
    assert clients["a"].max_in_flight == 4
    assert clients["b"].max_in_flight == 8
    assert clients["a"].request_count + clients["b"].request_count == 300


def test_lowest_latency_moves_off_a_slow_deployment(tmp_path: Path) -> None:
    async def slow(request: Request) -> str:
        await asyncio.sleep(0.03)
        return "slow"

    async def fast(request: Request) -> str:
        await asyncio.sleep(0.001)
        return "fast"

    clients, registry = three(a=FunctionClient(slow), b=FunctionClient(fast))
    llm = make(["a/m", "b/m"], registry, tmp_path, strategy="lowest_latency", cache=False, max_concurrent=1)
    llm.generate([f"p{i}" for i in range(100)])
    assert clients["b"].request_count >= 90
    assert clients["a"].request_count >= 2, "the slow one is still measured now and then"


def test_cheapest_goes_to_the_lower_price(tmp_path: Path) -> None:
    def pricey(model: str, usage: Usage, mode: Any) -> llmp.Cost:
        return llmp.Cost(usage.input_tokens * 1e-3, 0, usage.output_tokens * 1e-3)

    clients, registry = three(
        a=FunctionClient(ok("a"), price=pricey), b=FunctionClient(ok("b"), price=per_token)
    )
    llm = make(["a/m", "b/m"], registry, tmp_path, strategy="cheapest", cache=False)
    llm.generate(["x", "y"])
    assert (clients["a"].request_count, clients["b"].request_count) == (0, 2)


# -- fallback rules -----------------------------------------------------------------------------


def test_a_bad_request_is_not_tried_elsewhere(tmp_path: Path) -> None:
    def bad(request: Request) -> str:
        raise errors.BadRequestError("invalid schema", provider="test", status_code=400)

    clients, registry = three(a=bad, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path)
    with pytest.raises(errors.BadRequestError):
        llm.chat("x")
    assert clients["b"].request_count == 0


def test_a_context_length_error_moves_to_a_larger_context(tmp_path: Path) -> None:
    def too_long(request: Request) -> str:
        raise errors.ContextWindowExceededError("prompt too long", provider="test", status_code=400)

    small, bigger, biggest = (
        FunctionClient(too_long, capabilities=Capabilities(max_context_tokens=8_000)),
        FunctionClient(ok("bigger"), capabilities=Capabilities(max_context_tokens=4_000)),
        FunctionClient(ok("biggest"), capabilities=Capabilities(max_context_tokens=200_000)),
    )
    _, registry = three(a=small, b=bigger, c=biggest)
    llm = make(["a/m", "b/m", "c/m"], registry, tmp_path)
    assert llm.chat("long document") == "biggest: long document"
    assert bigger.request_count == 0, "a smaller context is not tried"


def test_a_content_filter_moves_on_only_when_asked(tmp_path: Path) -> None:
    filtered = lambda request: Choice(refusal="No.", finish_reason="content_filter")  # noqa: E731
    clients, registry = three(a=filtered, b=ok("b"))
    plain = make(["a/m", "b/m"], registry, tmp_path, cache=False)
    with pytest.raises(errors.RefusalError):
        plain.chat("x")
    assert clients["b"].request_count == 0
    asked = make(["a/m", "b/m"], registry, tmp_path, cache=False, fallback_on_content_filter=True)
    assert asked.chat("x") == "b: x"


def test_a_long_retry_after_steps_the_deployment_aside(tmp_path: Path) -> None:
    def limited(request: Request) -> str:
        raise errors.RateLimitError("quota", provider="test", status_code=429, retry_after=3600)

    clients, registry = three(a=limited, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, cache=False, strategy="round_robin")
    results = llm.generate([f"p{i}" for i in range(40)])
    assert all(r[0].startswith("b: ") for r in results)
    assert clients["a"].request_count == 1, "no 429 storm: it stepped aside after the first"


@pytest.mark.timeout(30)  # before the fix the requests sent to `a` waited out its 429s, 100 times each
def test_a_short_retry_after_sends_requests_elsewhere_and_new_ones_skip_it(tmp_path: Path) -> None:
    def limited(request: Request) -> str:
        raise errors.RateLimitError("slow down", provider="test", status_code=429, retry_after=5)

    clients, registry = three(a=limited, b=ok("b"))
    deployments = [{"model": "a/m", "max_concurrent": 4}, {"model": "b/m", "max_concurrent": 4}]
    llm = make(deployments, registry, tmp_path, cache=False, strategy="round_robin")
    results = llm.generate([f"p{i}" for i in range(60)])
    assert results == [[f"b: p{i}"] for i in range(60)]
    # What `a` had in flight when its first 429 came back (its window, 4); the ones queued for it
    # meanwhile went elsewhere unsent; no probe within its 5 s.
    assert 1 <= clients["a"].request_count <= 4
    a = llm.metrics().deployments[0]
    assert a.health == "open"
    assert a.failures_by_kind == {"RateLimitError": clients["a"].request_count}


def test_when_every_deployment_steps_aside_the_request_waits_for_the_first_back(tmp_path: Path) -> None:
    replies = iter([errors.RateLimitError("wait", provider="test", status_code=429, retry_after=0.2)])

    def once_limited(request: Request) -> str:
        error = next(replies, None)
        if error is not None:
            raise error
        return "a: later"

    def long_limited(request: Request) -> str:
        raise errors.RateLimitError("wait", provider="test", status_code=429, retry_after=30)

    clients, registry = three(a=once_limited, b=long_limited)
    llm = make(["a/m", "b/m"], registry, tmp_path, cache=False)
    assert llm.chat("x") == "a: later"
    assert (clients["a"].request_count, clients["b"].request_count) == (2, 1)
    no_waiting = make(["a/m", "b/m"], registry, tmp_path, cache=False, max_retries=0)
    replies = iter([errors.RateLimitError("wait", provider="test", status_code=429, retry_after=0.2)])
    with pytest.raises(errors.RateLimitError):
        no_waiting.chat("y")


def test_failures_in_flight_when_the_circuit_opens_do_not_lengthen_its_cool_down() -> None:
    from llmp._health import Health

    now = [0.0]
    health = Health(threshold=3, base=5.0, clock=lambda: now[0])
    for _ in range(3 + 8):  # the threshold, then 8 more requests that were in flight at the outage
        health.failed()
    assert health.is_open
    assert health.recovers_in() == 5.0
    now[0] = 5.0
    assert health.usable()  # half open: the probe
    health.begin()
    health.failed()
    assert health.recovers_in() == 10.0, "a failed probe doubles the cool-down once"


def test_a_stream_falls_back_before_its_first_delta(tmp_path: Path) -> None:
    _clients, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=0)
    assert "".join(llm.stream("hi")) == "b: hi"
    events = llm.stream_events("again")
    list(events)
    assert events.response.deployment == "b/m"


# -- cache across deployments (issue 12 item 7) --------------------------------------------------


def test_an_answer_one_deployment_gave_is_not_paid_again_on_another_of_the_same_model(tmp_path: Path) -> None:
    clients, registry = three(a=ok("a"), b=ok("b"))
    cache = str(tmp_path / "shared")
    only_a = llmp.LLM("a/m", registry=registry, cache=cache)
    assert only_a.chat("hi") == "a: hi"
    both = llmp.LLM(["b/m", "a/m"], registry=registry, cache=cache)
    response = both.complete("hi")
    assert response.text == "a: hi"
    assert response.cached
    assert clients["b"].request_count == 0


def test_an_answer_of_a_different_model_is_served_only_when_asked(tmp_path: Path) -> None:
    clients, registry = three(a=ok("a"), b=ok("b"))
    plain_cache, opted_cache = str(tmp_path / "plain"), str(tmp_path / "opted")
    for cache in (plain_cache, opted_cache):
        llmp.LLM("a/m1", registry=registry, cache=cache).chat("hi")
    assert llmp.LLM(["b/m2", "a/m1"], registry=registry, cache=plain_cache).chat("hi") == "b: hi"
    assert clients["b"].request_count == 1
    opted = llmp.LLM(["b/m2", "a/m1"], registry=registry, cache=opted_cache, cache_across_models=True)
    assert opted.chat("hi") == "a: hi"
    assert clients["b"].request_count == 1


# -- budget (issue 12 item 5) --------------------------------------------------------------------


def test_max_cost_is_never_overshot_and_finished_results_are_kept(tmp_path: Path) -> None:
    clients, registry = three(a=FunctionClient(ok("a"), price=per_token))
    llm = llmp.LLM("a/m", registry=registry, cache=False, max_cost=0.001, max_tokens=100, max_concurrent=8)
    results = llm.generate(
        [f"prompt number {i}" for i in range(200)], on_error="return", output_jsonl=tmp_path / "b.jsonl"
    )
    finished = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, errors.BudgetExceededError)]
    assert finished
    assert refused
    assert len(finished) + len(refused) == 200
    spent = llm.total_cost
    assert spent is not None
    assert spent <= 0.001
    assert clients["a"].request_count == len(finished)
    metrics = llm.metrics()
    assert metrics.max_cost == 0.001
    assert metrics.spent == pytest.approx(spent)


async def _thirty_words(request: Request) -> str:
    await asyncio.sleep(0.001)  # so requests overlap: 8 reserve their worst case at once
    return " ".join(["word"] * 30)  # 200 answers would cost more than the budget


@pytest.mark.parametrize(
    ("reply", "in_flight"), [(ok("a"), 1), (_thirty_words, 8)], ids=["one at a time", "8 in flight"]
)
def test_the_job_stops_within_one_request_s_worst_case(tmp_path: Path, reply: Any, in_flight: int) -> None:
    from llmp._budget import worst_case_usage

    _clients, registry = three(a=FunctionClient(reply, price=per_token))
    llm = llmp.LLM(
        "a/m", registry=registry, cache=False, max_cost=0.002, max_tokens=100, max_concurrent=in_flight
    )
    prompts = [f"prompt number {i:03d}" for i in range(200)]
    llm.generate(prompts, on_error="return")
    spent = llm.total_cost
    assert spent is not None
    request = Request("m", [{"role": "user", "content": prompts[-1]}], params={"max_tokens": 100})
    worst = per_token("m", worst_case_usage(request, Capabilities(), "m"), "standard").total
    # Before, with 8 in flight it stopped up to 8 worst cases short.
    assert 0 <= 0.002 - spent < worst
    assert llm.metrics().reserved == 0


def test_a_request_cancelled_while_waiting_for_a_slot_gives_its_reservation_back(tmp_path: Path) -> None:
    gate, sent = asyncio.Event(), asyncio.Event()

    async def held(request: Request) -> str:
        sent.set()
        await gate.wait()
        return "a"

    client = FunctionClient(held, price=per_token)
    _, registry = three(a=client)
    llm = llmp.LLM("a/m", registry=registry, cache=False, max_cost=1.0, max_tokens=100, max_concurrent=1)

    async def run() -> None:
        tasks = [asyncio.ensure_future(llm.achat(f"p{i}")) for i in range(5)]
        await sent.wait()  # one is sent; four wait for the one slot
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    assert llm.metrics().reserved == 0, "before, the four that waited for a slot kept theirs"
    gate.set()


def test_max_cost_needs_an_output_bound_and_a_price(tmp_path: Path) -> None:
    clients, registry = three(a=FunctionClient(ok("a"), price=per_token), b=ok("b"))
    with pytest.raises(errors.ConfigurationError, match="pass max_tokens"):
        llmp.LLM("a/m", registry=registry, cache=False, max_cost=1).chat("x")
    with pytest.raises(errors.ConfigurationError, match="needs a price"):
        llmp.LLM("b/m", registry=registry, cache=False, max_cost=1, max_tokens=10).chat("x")
    assert clients["a"].request_count == clients["b"].request_count == 0


# -- one object, the LLM call shape ---------------------------------------------------------------


def test_a_set_offers_everything_an_llm_offers(tmp_path: Path) -> None:
    _clients, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=0)
    out = tmp_path / "job.jsonl"
    assert llm.generate(["x", "y"], output_jsonl=out) == [["b: x"], ["b: y"]]
    assert "b/m" in out.read_text()  # which deployment answered is in the checkpoint
    assert dict(llm.iter_generate(["z"])) == {0: ["b: z"]}
    (rich,) = llm.generate(["w"], rich=True)
    assert rich.deployment == "b/m"
    assert llm.usage.requests >= 4
    assert llm.model == "m"
    with llm:
        pass


def test_a_set_of_one_is_a_plain_llm(tmp_path: Path) -> None:
    _clients, registry = three(a=ok("a"))
    llm = make([{"model": "a/m", "max_concurrent": 4}], registry, tmp_path)
    assert llm._router is None
    assert llm.chat("x") == "a: x"
    assert llm._engine.max_concurrent == 4


def test_metrics_count_per_deployment_and_in_total(tmp_path: Path) -> None:
    calls = collections.Counter[str]()

    def sometimes(request: Request) -> str:
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise errors.ServerError("overloaded", provider="test", status_code=503)
        return "ok"

    _clients, registry = three(a=sometimes, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, strategy="round_robin", cache=False, max_retries=2)
    llm.generate([f"p{i}" for i in range(20)])
    metrics = llm.metrics()
    a, b = metrics.deployments
    assert a.successes + b.successes == 20
    assert a.retries > 0
    assert a.latency_p50 is not None
    assert metrics.total.requests == a.requests + b.requests
    assert metrics.total.successes == 20


def test_the_progress_bar_says_what_each_deployment_is_doing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=0, cache=False)
    llm.generate([f"p{i}" for i in range(30)], progress=True)
    bar = capsys.readouterr().err
    assert "b/m 30 ok" in bar, bar
    assert "a/m 0 ok 0 busy 3 failed OPEN" in bar, bar  # its circuit's threshold, then skipped


def test_the_progress_bar_counts_this_job_while_metrics_count_the_llm_s_life(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, registry = three(a=down, b=ok("b"))
    llm = make(["a/m", "b/m"], registry, tmp_path, max_retries=0, cache=False)
    llm.generate([f"p{i}" for i in range(30)], progress=True)
    capsys.readouterr()
    llm.generate([f"q{i}" for i in range(10)], progress=True)
    bar = capsys.readouterr().err
    assert "b/m 10 ok 0 busy" in bar, bar
    assert "a/m 0 ok 0 busy OPEN" in bar, bar  # its 3 failures were in the first job
    assert "b/m 40" not in bar, "before, the bar counted every job of the LLM"
    a, b = llm.metrics().deployments
    assert (a.failures, b.successes) == (3, 40)


def test_rpm_on_a_deployment_paces_after_its_burst(tmp_path: Path) -> None:
    import time

    sent: list[float] = []

    def stamp(request: Request) -> str:
        sent.append(time.monotonic())
        return "ok"

    _, registry = three(a=FunctionClient(stamp))
    # 3,000 a minute is 50 a second, with a burst of one minute's worth: the first 3,000 go at
    # once, the next 100 only at the refill rate, so they take about two seconds.
    llm = make([{"model": "a/m", "rpm": 3000}], registry, tmp_path, cache=False, max_concurrent=64)
    llm.generate([f"p{i}" for i in range(3100)])
    assert len(sent) == 3100
    after_burst = sorted(sent)[3000:]
    assert after_burst[-1] - after_burst[0] >= 99 / 50 * 0.9, "the requests past the burst were paced"


def test_llm_level_rpm_applies_to_deployments_without_their_own(tmp_path: Path) -> None:
    _, registry = three(a=ok("a"), b=ok("b"))
    llm = make([{"model": "a/m", "rpm": 10}, "b/m"], registry, tmp_path, rpm=20, tpm=1000)
    first, second = (e.sender.admission for e in llm._router.engines)  # type: ignore[union-attr]
    assert first is not None
    assert second is not None
    assert (first.rpm.capacity, second.rpm.capacity) == (10, 20)
    assert first.tpm.capacity == second.tpm.capacity == 1000
