"""`llmp.ray` on a real local Ray cluster (2 CPUs, no dashboard) with a real redis-server.

The big jobs go through llmp-openai over TLS to the fake OpenAI server (the `fake_openai`
fixture; the actors reach it through `runtime_env`), which records every request, so the tests
count what a provider would have been asked. The rich-columns test builds its actors' LLM on
`FunctionClient` from a picklable factory (this module is pickled by value: Ray's workers cannot
import a test module).
"""

from __future__ import annotations

import dataclasses
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
from llmp.types import Choice, Request

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(300)]


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


def test_a_column_the_dataset_lacks_is_named_with_those_it_has_before_any_request(
    ray_cluster: Any, fake_openai: Any
) -> None:
    ds = _prompts(ray_cluster, 10)
    with pytest.raises(
        errors.ConfigurationError, match=r"prompt_column='question'.*columns are: 'id', 'prompt'"
    ):
        llmp.ray.generate(ds, "gpt-4.1-mini", prompt_column="question")
    clash = ray_cluster.data.from_items([{"prompt": "p", "text": "mine"}])
    with pytest.raises(errors.ConfigurationError, match=r"already has column\(s\) 'text'.*output_prefix"):
        llmp.ray.generate(clash, "gpt-4.1-mini")
    with pytest.raises(errors.ConfigurationError, match="cannot reach the Redis for the job's usage"):
        llmp.ray.generate(ds, "gpt-4.1-mini", job="j", redis_url="redis://127.0.0.1:1/0")
    assert fake_openai.request_count == 0


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


# -- against the fake OpenAI server, through llmp-openai over TLS ------------------------------


def _server_env(server: Any) -> dict[str, Any]:
    """The actors' environment for the fake server (Ray starts them with runtime_env)."""
    env = {
        "SSL_CERT_FILE": str(server.ca_path),
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": server.api_key,
    }
    return {"runtime_env": {"env_vars": {**env, "LLMP_CACHE_LEASE": "2"}}}


def _asked_openai(server: Any) -> tuple[int, int]:
    """(distinct prompts the server was asked, requests in all)."""
    prompts = [
        record.body["messages"][-1]["content"]
        for record in server.requests
        if record.path.endswith("/chat/completions")
    ]
    return len(set(prompts)), len(prompts)


def test_2000_prompts_through_2_actors_are_each_asked_once_then_all_served_from_the_redis_cache(
    ray_cluster: Any, redis_server: RedisServer, fake_openai: Any
) -> None:
    options: dict[str, Any] = {
        "cache": redis_server.url,
        "job": "openai",
        "concurrency": 2,
        "batch_size": 250,
    }
    ds = _prompts(ray_cluster, 2000)
    out = llmp.ray.generate(
        ds, "gpt-4.1-mini", ray_remote_args=_server_env(fake_openai), **options
    ).materialize()
    rows = sorted(out.take_all(), key=lambda row: row["id"])
    assert [row["text"] for row in rows] == [f"Echo: prompt {i}" for i in range(2000)]
    assert {row["error"] for row in rows} == {None}
    assert _asked_openai(fake_openai) == (2000, 2000)
    total = llmp.ray.usage(out)
    assert (total.rows, total.requests, total.cache_hits) == (2000, 2000, 0)
    assert total.cost is not None
    assert total.cost > 0  # gpt-4.1-mini has a price
    live = llmp.ray.job_usage("openai", redis_url=redis_server.url)  # what the actors reported
    assert dataclasses.replace(live, cost=0.0) == dataclasses.replace(total, cost=0.0)
    assert live.cost == pytest.approx(total.cost)

    again = llmp.ray.generate(
        ds, "gpt-4.1-mini", ray_remote_args=_server_env(fake_openai), **options
    ).materialize()
    assert _asked_openai(fake_openai) == (2000, 2000)  # the second run sent nothing
    assert llmp.ray.usage(again).cache_hits == 2000
    assert sorted(again.take_all(), key=lambda row: row["id"])[7]["text"] == "Echo: prompt 7"


def test_an_actor_killed_mid_job_is_replaced_and_only_its_in_flight_requests_are_asked_again(
    ray_cluster: Any, redis_server: RedisServer, fake_openai: Any
) -> None:
    in_flight = 16
    fake_openai.ttft = 0.05  # 2 s a batch of 500 at 16 in flight: the kill lands mid-batch
    remote = {**_server_env(fake_openai), "max_restarts": 2, "max_task_retries": 2}
    ds = llmp.ray.generate(
        _prompts(ray_cluster, 2000),
        "gpt-4.1-mini",
        cache=redis_server.url,
        max_concurrent=in_flight,
        concurrency=2,
        batch_size=500,
        ray_remote_args=remote,
    )
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(ds.take_all()), daemon=True)
    runner.start()
    _wait_for(lambda: fake_openai.request_count >= 150, 120, "150 requests")
    victim = _map_workers()[0]  # both are up and answering: Ray waited for them (the fixture)
    os.kill(victim, signal.SIGKILL)
    runner.join(240)
    assert result, "the job did not finish"
    rows = result[0]
    assert {row["error"] for row in rows} == {None}
    assert sorted(row["text"] for row in rows) == sorted(f"Echo: prompt {i}" for i in range(2000))
    distinct, total = _asked_openai(fake_openai)
    assert distinct == 2000
    assert 1 <= total - distinct <= in_flight  # only what the dead actor had in flight, again
    assert victim not in _map_workers()
