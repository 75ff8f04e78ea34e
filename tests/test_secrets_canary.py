"""A canary key, all loggers at DEBUG, every call and error path of three providers: the key
appears nowhere (issue 15 items 1 and 2).

Each provider's fake accepts a fresh random canary key, then echoes it back in an error body, as
some gateways do ("Invalid header value: Bearer <key>"). Through the public `llmp.LLM` API:
chat, stream and generate succeed, then fail with the echoed key, both once (retried) and for
good. The key must not be in any log record (message, arguments or traceback), in the raised
error's str, repr, message, body or printed chain, in `GenerationError`'s message, in the
checkpoint file or anywhere in the cache directory, or on stdout/stderr.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp import errors
from llmp.testing import StatusError, echo_key
from llmp_gemini.testing import FakeGeminiServer
from llmp_litellm.testing import FakeAnthropicServer
from llmp_openai.testing import FakeOpenAIServer


class Capture(logging.Handler):
    """Every record, formatted with its traceback, from every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def all_debug(caplog: pytest.LogCaptureFixture) -> Iterator[Capture]:
    """``logging.basicConfig(level=DEBUG)``, and then some: every logger (existing ones too) at
    DEBUG, and a handler on those that do not propagate to the root."""
    capture = Capture()
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    changed: list[tuple[logging.Logger, int]] = []
    detached: list[logging.Logger] = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            changed.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
            if not logger.propagate:
                logger.addHandler(capture)
                detached.append(logger)
    yield capture
    root.removeHandler(capture)
    for logger, level in changed:
        logger.setLevel(level)
    for logger in detached:
        logger.removeHandler(capture)


def shown(exc: BaseException) -> str:
    """Everything a user may see of an exception: str, repr, fields, the printed chain."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for name in ("message", "body", "errors", "results"):
        parts.append(repr(getattr(exc, name, None)))
    return "\n".join(parts)


def files_under(*paths: Path) -> bytes:
    blobs = []
    for path in paths:
        if path.is_file():
            blobs.append(path.read_bytes())
        elif path.is_dir():
            blobs += [p.read_bytes() for p in path.rglob("*") if p.is_file()]
    return b"\n".join(blobs)


PROVIDERS = {
    "openai": ("gpt-4.1-mini", "OPENAI_API_KEY"),
    "gemini": ("gemini/gemini-3-flash-preview", "GEMINI_API_KEY"),
    "anthropic": ("anthropic/claude-sonnet-4-6", "ANTHROPIC_API_KEY"),
}


@pytest.fixture(params=list(PROVIDERS))
def provider(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, str, Any]:
    """(model, canary key, fake server) with the fake accepting only the canary."""
    name = request.param
    fixture = {"openai": "fake_openai", "gemini": "fake_gemini", "anthropic": "fake_anthropic"}[name]
    server: FakeOpenAIServer | FakeGeminiServer | FakeAnthropicServer = request.getfixturevalue(fixture)
    model, env = PROVIDERS[name]
    canary = {"openai": "sk-", "gemini": "AIza", "anthropic": "sk-ant-"}[name] + secrets.token_urlsafe(30)
    monkeypatch.setattr(server, "api_keys", frozenset({canary}))
    monkeypatch.setenv(env, canary)
    return model, canary, server


def echoing(name: str, key: str) -> Any:
    if name == "openai":
        return echo_key(401)  # the fake OpenAI server echoes the request's own header
    header = "x-goog-api-key" if name == "gemini" else "x-api-key"
    return StatusError(401, message=f"Invalid header value: {header}: {key}")


def test_the_key_appears_nowhere(
    provider: tuple[str, str, Any],
    all_debug: Capture,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    model, key, server = provider
    name = model.split("/")[0] if "/" in model else "openai"
    checkpoint, failed_job = tmp_path / "job.jsonl", tmp_path / "failed.jsonl"
    llm = llmp.LLM(model, max_retries=2, timeout=30)

    # Successful calls, streamed and not, a checkpointed job, all cached.
    assert llm.chat("hello") == "Echo: hello"
    assert "".join(llm.stream("hello stream")) == "Echo: hello stream"
    assert llm.generate(["a", "b"], output_jsonl=checkpoint) == [["Echo: a"], ["Echo: b"]]

    # A server error that echoes the key, once: retried into an answer.
    server.inject(StatusError(500, message=f"upstream rejected Bearer {key}", retry_after=0))
    assert llm.chat("retried") == "Echo: retried"

    # A bad request that echoes the key, for one prompt of a job: the job ends with the others.
    raised: list[BaseException] = []
    poison = StatusError(400, message=f"Invalid value for the key {key}")
    server.inject(poison, times=None, when=lambda body: "poison" in json.dumps(body))
    with pytest.raises(errors.GenerationError) as job_error:
        llm.generate(["c", "poison"], output_jsonl=failed_job)
    raised.append(job_error.value)
    assert job_error.value.results[0] == ["Echo: c"]
    server.clear_faults()

    # The key echoed in a 401: the call fails, and so do a stream and a whole job.
    server.inject(echoing(name, key), times=None)
    for call in (
        lambda: llm.chat("rejected"),
        lambda: list(llm.stream("rejected stream")),
        lambda: llm.generate(["e", "f"]),
    ):
        with pytest.raises(errors.AuthenticationError) as caught:
            call()
        raised.append(caught.value)
    server.clear_faults()

    # The echoed key really reached llmp (else this test proves nothing) ...
    assert "Invalid header value" in str(raised[1])
    assert "[redacted key" in str(job_error.value)
    # ... and nowhere shows it.
    for exc in raised:
        assert key not in shown(exc), type(exc).__name__
    assert key not in "\n".join(all_debug.lines)
    assert key not in caplog.text
    assert all_debug.lines, "no log record was captured: the test would prove nothing"
    assert b"BadRequestError" in failed_job.read_bytes()  # the failure was checkpointed ...
    assert key.encode() not in files_under(checkpoint, failed_job, tmp_path / "llmp-cache")  # ... without it
    out, err = capfd.readouterr()
    assert key not in out
    assert key not in err


def test_llmp_run_never_prints_or_saves_an_echoed_key(
    fake_openai: FakeOpenAIServer,
    all_debug: Capture,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`llmp run`'s "first failure" line and its output file (issue 15 item 2)."""
    from llmp._cli import main

    key = "sk-" + secrets.token_urlsafe(30)
    monkeypatch.setattr(fake_openai, "api_keys", frozenset({key}))
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    monkeypatch.delenv("LLMP_MODEL", raising=False)
    fake_openai.inject(
        StatusError(400, message=f"bad value {key}"), times=None, when=lambda b: "poison" in json.dumps(b)
    )
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"prompt": "fine"}\n{"prompt": "poison"}\n')
    code = main(["run", str(source), "-o", str(out), "-m", "gpt-4.1-mini"])
    stdout, stderr = capfd.readouterr()
    assert code != 0
    assert "first failure" in stderr
    assert "[redacted key" in stderr
    assert key not in stdout + stderr
    assert b"BadRequestError" in out.read_bytes()
    assert key.encode() not in out.read_bytes()
    assert key not in "\n".join(all_debug.lines)
