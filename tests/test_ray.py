"""`llmp.ray` on a real local Ray cluster (2 CPUs, no dashboard) with a real redis-server.

The actors build their LLM on `FunctionClient` from a picklable factory (this module is pickled
by value: Ray's workers cannot import a test module). The factory's reply counts every request
it gets in a Redis hash (prompt -> times asked) and each answering process's pid in a set, so
the test sees across processes what a provider would have been asked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmp.ray
from llmp import errors
from llmp.testing import FunctionClient
from llmp.testing._redis import RedisServer
from llmp.types import Choice, Cost, PriceMode, Request, Usage

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(300)]

ASKED = "test:asked"  # prompt -> how many times a provider was asked it
PIDS = "test:pids"  # the pids of the processes that asked


def per_token(model: str, usage: Usage, mode: PriceMode) -> Cost:
    return Cost(usage.input_tokens * 1e-6, 0.0, usage.output_tokens * 2e-6)


def _counting_registry(redis_url: str, delay: float) -> Any:
    import redis.asyncio

    clients: dict[int, Any] = {}

    async def reply(request: Request) -> str:
        loop = id(asyncio.get_running_loop())
        client = clients.get(loop) or clients.setdefault(loop, redis.asyncio.Redis.from_url(redis_url))
        prompt = request.messages[-1]["content"]
        await client.hincrby(ASKED, prompt, 1)
        await client.sadd(PIDS, os.getpid())
        if delay:
            await asyncio.sleep(delay)
        return f"Echo: {prompt}"

    return FunctionClient(reply, price=per_token).registry()


def counting_registry(redis_server: RedisServer, delay: float = 0.0) -> Callable[[], Any]:
    return functools.partial(_counting_registry, redis_server.url, delay)


def asked(redis_server: RedisServer) -> tuple[int, int]:
    """(distinct prompts asked, requests in all), read with the plain RESP client."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        counts = [int(v) for v in client.hvals(ASKED)]
    finally:
        client.close()
    return len(counts), sum(counts)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # Under `uv run`, Ray would start every worker through `uv run` on a copy of the checkout.
    saved = {name: os.environ.get(name) for name in ("RAY_ENABLE_UV_RUN_RUNTIME_ENV",)}
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    import ray
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.wait_for_min_actors_s = 120  # every actor is up (and answering) before the first batch
    try:
        yield ray
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prompts(ray: Any, count: int) -> Any:
    return ray.data.from_items([{"id": i, "prompt": f"prompt {i}"} for i in range(count)])


def test_2000_prompts_through_2_actors_are_each_asked_once_then_all_come_from_the_redis_cache(
    ray_cluster: Any, redis_server: RedisServer
) -> None:
    options: dict[str, Any] = {
        "cache": redis_server.url,
        "registry_factory": counting_registry(redis_server),
        "job": "first",
        "concurrency": 2,
        "batch_size": 250,
    }
    out = llmp.ray.generate(_prompts(ray_cluster, 2000), "test/model", **options).materialize()
    rows = sorted(out.take_all(), key=lambda row: row["id"])
    assert [row["text"] for row in rows] == [f"Echo: prompt {i}" for i in range(2000)]
    assert {row["error"] for row in rows} == {None}
    assert asked(redis_server) == (2000, 2000)  # every row asked exactly once
    assert len(redis_server_members(redis_server, PIDS)) == 2  # by both actors
    total = llmp.ray.usage(out)
    assert (total.rows, total.requests, total.cache_hits, total.errors) == (2000, 2000, 0, 0)
    assert total.cost == pytest.approx(2000 * (2 * 1e-6 + 3 * 2e-6))  # 2 words in, 3 out
    live = llmp.ray.job_usage("first", redis_url=redis_server.url)  # what the actors reported
    assert dataclasses.replace(live, cost=0.0) == dataclasses.replace(total, cost=0.0)
    assert live.cost == pytest.approx(total.cost)

    options["job"] = "second"
    again = llmp.ray.generate(_prompts(ray_cluster, 2000), "test/model", **options).materialize()
    assert asked(redis_server) == (2000, 2000)  # no request at all
    cached = llmp.ray.usage(again)
    assert (cached.rows, cached.requests, cached.cache_hits, cached.cost) == (2000, 0, 2000, 0.0)
    assert llmp.ray.job_usage("second", redis_url=redis_server.url).cache_hits == 2000


def redis_server_members(redis_server: RedisServer, key: str) -> set[bytes]:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        return set(client.smembers(key))
    finally:
        client.close()


def _map_workers() -> list[int]:
    """The pids of this machine's Ray Data actor processes (their title is ``ray::MapWorker(...)``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::MapWorker(MapBatches(LLMPredictor))"):
            found.append(int(entry.name))
    return found


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_an_actor_killed_mid_job_is_replaced_and_only_its_in_flight_requests_are_asked_again(
    ray_cluster: Any, redis_server: RedisServer
) -> None:
    in_flight = 16
    ds = llmp.ray.generate(
        _prompts(ray_cluster, 2000),
        "test/model",
        cache=redis_server.url,
        registry_factory=counting_registry(redis_server, delay=0.05),
        max_concurrent=in_flight,
        concurrency=2,
        batch_size=500,  # 2 s a batch: the kill lands mid-batch
        ray_remote_args={
            "max_restarts": 2,
            "max_task_retries": 2,
            # The dead actor's claims on what it had in flight expire in 2 s, not 60: the retried
            # batch waits that long for them, then asks those prompts itself.
            "runtime_env": {"env_vars": {"LLMP_CACHE_LEASE": "2"}},
        },
    )
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(ds.take_all()), daemon=True)
    runner.start()
    _wait_for(lambda: asked(redis_server)[0] >= 150, 120, "150 prompts asked")
    members = {int(pid) for pid in redis_server_members(redis_server, PIDS)}
    victim = next(pid for pid in _map_workers() if pid in members)  # an actor that is answering
    os.kill(victim, signal.SIGKILL)
    runner.join(240)
    assert result, "the job did not finish"
    rows = result[0]
    assert len(rows) == 2000
    assert {row["error"] for row in rows} == {None}
    assert sorted(row["text"] for row in rows) == sorted(f"Echo: prompt {i}" for i in range(2000))
    distinct, total = asked(redis_server)
    assert distinct == 2000
    # What the killed actor had in flight died with it and was asked again; nothing else was.
    assert 1 <= total - distinct <= in_flight
    assert victim not in _map_workers()


def test_a_column_the_dataset_lacks_is_named_with_those_it_has_before_any_request(
    ray_cluster: Any, redis_server: RedisServer
) -> None:
    ds = _prompts(ray_cluster, 10)
    factory = counting_registry(redis_server)
    with pytest.raises(
        errors.ConfigurationError, match=r"prompt_column='question'.*columns are: 'id', 'prompt'"
    ):
        llmp.ray.generate(ds, "test/model", prompt_column="question", registry_factory=factory)
    clash = ray_cluster.data.from_items([{"prompt": "p", "text": "mine"}])
    with pytest.raises(errors.ConfigurationError, match=r"already has column\(s\) 'text'.*output_prefix"):
        llmp.ray.generate(clash, "test/model", registry_factory=factory)
    with pytest.raises(errors.ConfigurationError, match="cannot reach the Redis for the job's usage"):
        llmp.ray.generate(ds, "test/model", job="j", redis_url="redis://127.0.0.1:1/0")
    assert asked(redis_server) == (0, 0)


CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
}


def _rich_registry() -> Any:
    def reply(request: Request) -> list[Choice]:
        name = request.messages[-1]["content"]
        text = json.dumps({"name": name, "population": len(name)})
        return [Choice(text=text, reasoning=f"thought {i}", finish_reason="stop") for i in range(request.n)]

    return FunctionClient(reply).registry()


def test_rich_columns_with_n_samples_come_through_ray_with_their_arrow_types(ray_cluster: Any) -> None:
    import pyarrow as pa

    ds = ray_cluster.data.from_items([{"prompt": f"city{i}"} for i in range(40)])
    out = llmp.ray.generate(
        ds, "test/model", rich=True, n=2, response_format=CITY, cache=False,
        registry_factory=_rich_registry, concurrency=1, batch_size=20,
    ).materialize()  # fmt: skip
    schema = out.schema()
    types = dict(zip(schema.names, schema.types, strict=True))
    assert types["text"] == pa.list_(pa.string())
    assert types["parsed"] == pa.list_(pa.struct([("name", pa.string()), ("population", pa.int64())]))
    assert types["cost"] == pa.float64()
    row = next(r for r in out.take_all() if r["prompt"] == "city7")
    assert list(row["parsed"]) == [{"name": "city7", "population": 5}] * 2
    assert list(row["reasoning"]) == ["thought 0", "thought 1"]
    assert row["error"] is None
