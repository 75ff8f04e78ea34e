"""`llmp.ray.LLMPredictor` called the way Ray Data calls it, one batch at a time, in this process.

The class is a plain callable (Ray builds it in an actor and calls it per batch), so its
columns, errors and usage are tested here on FunctionClient without a cluster; the cluster
tests (test_ray_cluster.py) prove the same through real Ray actors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import BaseModel

import llmp.ray
from llmp import errors
from llmp.testing import FunctionClient
from llmp.testing._redis import RedisServer
from llmp.types import Choice, Cost, PriceMode, Request, ToolCall, Usage


class City(BaseModel):
    name: str
    population: int


def per_token(model: str, usage: Usage, mode: PriceMode) -> Cost:
    return Cost(usage.input_tokens * 1e-6, 0.0, usage.output_tokens * 2e-6)


def echo(request: Request) -> str:
    return f"Echo: {request.messages[-1]['content']}"


def factory(client: FunctionClient) -> Callable[[], Any]:
    return lambda: client.registry()


def predictor(client: FunctionClient, tmp_path: Path, **kwargs: Any) -> llmp.ray.LLMPredictor:
    kwargs.setdefault("cache", str(tmp_path / "cache"))
    return llmp.ray.LLMPredictor("test/model", registry_factory=factory(client), **kwargs)


def prompts(count: int, start: int = 0) -> pa.Table:
    return pa.table(
        {"id": list(range(start, start + count)), "prompt": [f"q{i}" for i in range(start, start + count)]}
    )


# -- text --------------------------------------------------------------------------------------


def test_a_batch_gets_text_and_usage_columns_in_row_order_with_one_llm_for_every_batch(
    tmp_path: Path,
) -> None:
    client = FunctionClient(echo, price=per_token)
    ask = predictor(client, tmp_path)
    first = ask(prompts(40))
    clients = len(client.settings)
    second = ask(prompts(40, start=40))
    assert first.column_names == ["id", "prompt", *ask.columns]
    assert ask.columns == [
        "text", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cost", "cached",
        "error",
    ]  # fmt: skip
    rows = first.to_pylist() + second.to_pylist()
    assert [row["text"] for row in rows] == [f"Echo: q{i}" for i in range(80)]
    assert {row["error"] for row in rows} == {None}
    assert rows[0]["input_tokens"] == 1
    assert rows[0]["output_tokens"] == 2
    assert rows[0]["cost"] == pytest.approx(1e-6 + 4e-6)
    assert first.schema.field("text").type == pa.string()
    # One LLM for the actor's life: the clients (connections) of the first batch serve the next.
    assert len(client.settings) == clients
    assert client.request_count == 80


def test_a_rerun_of_a_batch_is_served_from_the_cache_at_no_cost(tmp_path: Path) -> None:
    client = FunctionClient(echo, price=per_token)
    predictor(client, tmp_path)(prompts(10))
    again = predictor(client, tmp_path)(prompts(10)).to_pylist()  # a new actor, the same cache
    assert client.request_count == 10
    assert {(row["cached"], row["cost"]) for row in again} == {(True, 0.0)}
    assert again[3]["text"] == "Echo: q3"


def test_n_samples_make_a_list_per_row(tmp_path: Path) -> None:
    client = FunctionClient(lambda request: [f"a{i}" for i in range(request.n)])
    out = predictor(client, tmp_path, n=3)(prompts(2))
    assert out.column("text").to_pylist() == [["a0", "a1", "a2"]] * 2
    assert out.schema.field("text").type == pa.list_(pa.string())


def test_a_structured_output_column_holds_json_values(tmp_path: Path) -> None:
    client = FunctionClient(lambda request: json.dumps({"name": "Paris", "population": 2_100_000}))
    out = predictor(client, tmp_path, response_format=City)(prompts(3))
    assert "text" not in out.column_names
    assert out.column("parsed").to_pylist() == [{"name": "Paris", "population": 2_100_000}] * 3


# -- rich --------------------------------------------------------------------------------------


def rich_reply(request: Request) -> Any:
    prompt = request.messages[-1]["content"]
    if prompt == "call":
        return Choice(tool_calls=[ToolCall("c1", "lookup", json.dumps({"key": "x"}))])
    return Choice(
        text=json.dumps({"name": prompt, "population": 3}), reasoning="thought", finish_reason="stop"
    )


def test_rich_columns_carry_tool_calls_reasoning_parsed_values_and_where_the_answer_came_from(
    tmp_path: Path,
) -> None:
    client = FunctionClient(rich_reply, price=per_token)
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ask = predictor(client, tmp_path, rich=True, tools=[lookup])
    table = pa.table({"prompt": ["call", "Rome"]})
    rows = ask(table).to_pylist()
    assert ask.columns[:6] == ["text", "reasoning", "refusal", "tool_calls", "finish_reason", "input_tokens"]
    call, answer = rows
    assert call["tool_calls"] == [{"id": "c1", "name": "lookup", "arguments": '{"key": "x"}'}]
    assert call["finish_reason"] == "tool_calls"
    assert (answer["reasoning"], answer["finish_reason"], answer["tool_calls"]) == ("thought", "stop", [])
    assert answer["deployment"] is None
    assert answer["cost"] > 0
    with_schema = predictor(client, tmp_path, rich=True, response_format=City, output_prefix="llm_")
    row = with_schema(pa.table({"prompt": ["Oslo"]})).to_pylist()[0]
    assert row["llm_parsed"] == {"name": "Oslo", "population": 3}
    assert row["llm_text"] == '{"name": "Oslo", "population": 3}'


# -- errors ------------------------------------------------------------------------------------


def test_a_failing_row_carries_its_error_and_the_others_their_answers(tmp_path: Path) -> None:
    def reply(request: Request) -> Any:
        prompt = request.messages[-1]["content"]
        if prompt == "q2":
            raise errors.BadRequestError("this one is refused", provider="test", status_code=400)
        if prompt == "q3":
            return Choice(refusal="I will not")
        return echo(request)

    table = pa.table({"prompt": ["q0", "q1", "q2", "q3", None, "q5"]})
    rows = predictor(FunctionClient(reply), tmp_path)(table).to_pylist()
    assert [row["text"] for row in rows] == ["Echo: q0", "Echo: q1", None, None, None, "Echo: q5"]
    assert rows[2]["error"] == "test 400 BadRequestError: this one is refused"
    assert rows[3]["error"] == "test RefusalError: the model refused: I will not"  # as generate() says
    assert rows[4]["error"] == "ConfigurationError: row 4 of prompt_column is NoneType, not a prompt string"
    assert rows[2]["cost"] is None
    assert rows[2]["cached"] is False


def test_a_bad_setting_is_an_error_in_every_row_not_a_dead_actor(tmp_path: Path) -> None:
    client = FunctionClient(echo)
    # Built in the actor: an unroutable model (the registry routes only test/*).
    unknown = llmp.ray.LLMPredictor("nobody/model", registry_factory=factory(client), cache=False)
    rows = unknown(prompts(3)).to_pylist()
    assert len(rows) == 3
    assert {row["error"].split(":")[0] for row in rows} == {"UnknownModelError"}
    assert {row["text"] for row in rows} == {None}
    # Not even a valid argument: the actor still answers every batch with the reason.
    bad = predictor(client, tmp_path, n=0)
    assert isinstance(bad.fatal, errors.ConfigurationError)
    rows = bad(prompts(2)).to_pylist()
    assert (
        rows[0]["error"]
        == "ConfigurationError: llmp.ray: n must be a positive integer (samples per prompt), got 0"
    )
    assert client.request_count == 0


def test_an_error_that_stops_the_job_is_in_every_row_it_left_unanswered(tmp_path: Path) -> None:
    def reply(request: Request) -> str:
        if request.messages[-1]["content"] == "q5":
            raise errors.AuthenticationError("the key was revoked", provider="test", status_code=401)
        return echo(request)

    rows = predictor(FunctionClient(reply), tmp_path, max_concurrent=1)(prompts(10)).to_pylist()
    # One at a time: q0..q4 answered, q5 stopped the job, q6..q9 never sent.
    assert [row["text"] for row in rows[:5]] == [f"Echo: q{i}" for i in range(5)]
    assert {row["error"] for row in rows[5:]} == {"test 401 AuthenticationError: the key was revoked"}


def test_a_missing_column_names_it_and_the_columns_there_are(tmp_path: Path) -> None:
    client = FunctionClient(echo)
    ask = predictor(client, tmp_path, prompt_column="question")
    with pytest.raises(
        errors.ConfigurationError, match=r"prompt_column='question' is not a column.*'id', 'prompt'"
    ):
        ask(prompts(2))
    assert client.request_count == 0


# -- input formats -----------------------------------------------------------------------------


def test_a_messages_column_from_arrow_drops_the_keys_other_rows_gave_its_struct(tmp_path: Path) -> None:
    seen: list[list[dict[str, Any]]] = []

    def reply(request: Request) -> str:
        seen.append(request.messages)
        return "ok"

    conversations = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        [{"role": "user", "content": "a", "name": "ann"}],
    ]
    table = pa.table({"messages": conversations})  # one struct type: row 0's messages get name=None
    out = predictor(FunctionClient(reply), tmp_path, messages_column="messages")(table)
    assert out.column("text").to_pylist() == ["ok", "ok"]
    assert sorted(seen, key=len) == sorted(conversations, key=len)


def test_pandas_and_numpy_batches_come_back_in_their_own_format(tmp_path: Path) -> None:
    ask = predictor(FunctionClient(echo), tmp_path, n=2)
    frame = ask(pd.DataFrame({"prompt": ["x", "y"]}))
    assert isinstance(frame, pd.DataFrame)
    assert frame["text"].tolist() == [["Echo: x", "Echo: x"], ["Echo: y", "Echo: y"]]
    conversations = np.empty(1, dtype=object)
    conversations[0] = np.array([{"role": "user", "content": "z"}], dtype=object)  # Ray's numpy shape
    batch = llmp.ray.LLMPredictor(
        "test/model", messages_column="messages", registry_factory=factory(FunctionClient(echo)), cache=False
    )({"messages": conversations})
    assert isinstance(batch, dict)
    assert batch["text"].tolist() == ["Echo: z"]


# -- usage -------------------------------------------------------------------------------------


def test_usage_of_the_output_counts_only_what_was_paid(tmp_path: Path) -> None:
    from llmp._ray._usage import sum_columns

    client = FunctionClient(echo, price=per_token)
    first = predictor(client, tmp_path)(prompts(10))
    table = pa.table({"prompt": [f"q{i}" for i in range(5, 15)] + [None]})  # 5 cached, 5 new, 1 bad
    second = predictor(client, tmp_path)(table)
    total = sum_columns([first, second])
    assert (total.rows, total.errors, total.cache_hits, total.requests) == (21, 1, 5, 15)
    assert (total.input_tokens, total.output_tokens) == (15, 30)
    assert total.cost == pytest.approx(15 * 1e-6 + 30 * 2e-6)
    unpriced = sum_columns([predictor(FunctionClient(echo), tmp_path, cache=False)(prompts(2))])
    assert unpriced.cost is None  # an unknown price is never a partial sum


def test_generate_checks_its_arguments_before_touching_the_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMP_REDIS_URL", raising=False)
    monkeypatch.delenv("LLMP_CACHE_URL", raising=False)
    with pytest.raises(errors.ConfigurationError, match="tool_choice='auto' needs tools"):
        llmp.ray.generate(object(), "test/model", tool_choice="auto")
    with pytest.raises(errors.ConfigurationError, match="job='j' needs a Redis"):
        llmp.ray.generate(object(), "test/model", job="j")
    with pytest.raises(errors.ConfigurationError, match=r"ds must be a ray\.data\.Dataset, got object"):
        llmp.ray.generate(object(), "test/model")
    with pytest.raises(errors.ConfigurationError, match="max_concurrent must be a positive integer"):
        llmp.ray.generate(object(), "test/model", max_concurrent=0)
    with pytest.raises(errors.ConfigurationError, match="not both"):
        llmp.ray.LLMPredictor("test/model", prompt_column="q", messages_column="m").settings.check()


def test_parsed_values_arrow_cannot_type_together_are_kept_as_json_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from llmp._ray._columns import Layout

    layout = Layout(rich=False, parsed=True, n=1, prefix="")
    values = layout.empty()
    for name in layout.names:
        values[name] += [None, None]
    values["parsed"] = [{"a": 1}, {"a": "one"}]  # no common Arrow type
    arrays = layout.arrays(values)
    assert arrays["parsed"].to_pylist() == ['{"a": 1}', '{"a": "one"}']  # nothing lost
    assert "no common Arrow type" in caplog.text


@pytest.mark.redis
def test_live_usage_survives_redis_going_away_between_batches(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = FunctionClient(echo, price=per_token)
    ask = predictor(client, tmp_path, job="live", redis_url=redis_server.url)
    ask(prompts(10))
    assert llmp.ray.job_usage("live", redis_url=redis_server.url).rows == 10
    redis_server.kill()
    out = ask(prompts(5, start=10)).to_pylist()  # the batch is answered all the same
    assert [row["text"] for row in out] == [f"Echo: q{i}" for i in range(10, 15)]
    assert "could not add a batch's usage" in caplog.text
    redis_server.start()  # empty: Redis lost its memory
    ask(prompts(5, start=15))
    live = llmp.ray.job_usage("live", redis_url=redis_server.url)
    # What could not be reported while Redis was away came with the next batch (the first
    # batch's count went with Redis's memory).
    assert (live.rows, live.requests, live.input_tokens) == (10, 10, 10)
    ask.close()


def test_import_llmp_ray_imports_neither_ray_nor_arrow() -> None:
    code = "import sys, llmp, llmp.ray; print(sorted({'ray', 'pyarrow', 'pandas'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
