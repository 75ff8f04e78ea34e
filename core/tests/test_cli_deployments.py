"""A named set of deployments in the CLI's config file, used with ``-m NAME``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp._cli import main
from llmp.testing import FunctionClient, function_registry


def test_a_deployment_set_from_the_config_answers_llmp_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(request: Any) -> str:
        raise llmp.errors.ProviderConnectionError("refused", provider="a")

    first, second = FunctionClient(down), FunctionClient(lambda r: "from the pool")
    registry = function_registry({"a/*": first, "b/*": second})
    config = tmp_path / "config.toml"
    config.write_text(
        '[deployments.pool]\nstrategy = "fallback"\nmodels = ["a/m", { model = "b/m", max_concurrent = 4 }]\n'
    )
    built: list[Any] = []

    def factory(model: Any, **kwargs: Any) -> llmp.LLM:
        built.append((model, kwargs))
        return llmp.LLM(model, registry=registry, cache=False, max_retries=0)

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["--config", str(config), "ask", "-m", "pool", "--no-stream", "hi"], llm_factory=factory)
    assert code == 0
    assert out.getvalue().strip() == "from the pool"
    models, kwargs = built[0]
    assert models == ["a/m", {"model": "b/m", "max_concurrent": 4}]
    assert kwargs["strategy"] == "fallback"


def test_a_bad_deployment_set_is_one_line_naming_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    config = tmp_path / "config.toml"
    config.write_text("[deployments.pool]\nmodels = []\n")
    assert main(["--config", str(config), "ask", "-m", "pool", "hi"]) != 0
    err = capsys.readouterr().err
    assert "[deployments.pool]" in err
    assert "Traceback" not in err


def test_verbose_shows_retries_as_they_happen(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14 item 13: a retry, a back-off, a key stepping aside must not be silence.
    replies = iter([llmp.errors.ServerError("overloaded", provider="test", status_code=503), "fine"])

    def answer(request: Any) -> str:
        value = next(replies)
        if isinstance(value, Exception):
            raise value
        return value

    client = FunctionClient(answer)

    def factory(model: Any, **kwargs: Any) -> llmp.LLM:
        return llmp.LLM("test/m", registry=client.registry(), cache=False, api_key="sk-verbose-secret")

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["ask", "-v", "--no-stream", "hi"], llm_factory=factory) == 0
    assert out.getvalue().strip() == "fine"
    assert "llmp: test: ServerError 503: overloaded; retrying in" in err.getvalue()
    assert "sk-verbose-secret" not in err.getvalue()


def test_llmp_run_on_a_deployment_set_ends_with_each_deployment_s_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import per_token

    def down(request: Any) -> str:
        raise llmp.errors.ProviderConnectionError("refused", provider="a")

    dead, alive = FunctionClient(down, price=per_token), FunctionClient(lambda r: "fine", price=per_token)
    registry = function_registry({"a/*": dead, "b/*": alive})
    config = tmp_path / "config.toml"
    config.write_text('[deployments.pool]\nstrategy = "round_robin"\nmodels = ["a/m", "b/m"]\n')
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"question {i}\n" for i in range(20)))

    def factory(model: Any, **kwargs: Any) -> llmp.LLM:
        return llmp.LLM(model, registry=registry, **{**kwargs, "cache": False, "max_retries": 0})

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    argv = ["--config", str(config), "run", str(source), "-o", str(tmp_path / "out.jsonl"), "-m", "pool"]
    assert main(argv, llm_factory=factory) == 0
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()]
    (a,) = [line for line in lines if line.startswith("a/m [")]
    (b,) = [line for line in lines if line.startswith("b/m [")]
    # The dead one: its circuit opened after 3 failures, and nothing more was sent there.
    assert a == (
        "a/m [open]: 0 requests; tokens in 0, out 0; cost $0.000000; failures ProviderConnectionError 3"
    )
    assert b.startswith("b/m [healthy]: 20 requests; tokens in ")
    assert "cost $0.0000" in b
    assert "; latency p50 " in b
    assert ", p95 " in b
    assert "failures" not in b
    assert len(lines) == 4, "the job line, the usage line, one line per deployment"
