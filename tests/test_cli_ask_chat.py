"""`llmp ask` and `llmp chat` in-process, against the fake OpenAI server; errors and secrets."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from llmp._cli import main
from llmp._cli._context import parse_params
from llmp._cli._errors import CLIError
from llmp.testing import StatusError
from llmp_openai.testing import FakeOpenAIServer


def cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own ~/.config/llmp/config.toml must not change what these tests see.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    monkeypatch.delenv("LLMP_MODEL", raising=False)


def chat_requests(server: FakeOpenAIServer) -> list[dict[str, object]]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


# -- ask -------------------------------------------------------------------------------------


def test_ask_prints_the_answer_without_streaming_when_piped(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(["ask", "What", "is", "2+2?"], capsys, monkeypatch)
    assert (code, out, err) == (0, "Echo: What is 2+2?\n", "")
    (body,) = chat_requests(fake_openai)
    assert body["model"] == "gpt-4.1-mini"
    assert not body.get("stream")
    assert body["messages"] == [{"role": "user", "content": "What is 2+2?"}]


def test_ask_streams_when_asked_and_sends_the_system_prompt(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["ask", "--stream", "-s", "Be brief.", "Name a color"], capsys, monkeypatch)
    assert (code, out) == (0, "Echo: Name a color\n")
    (body,) = chat_requests(fake_openai)
    assert body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_ask_reads_piped_stdin_and_appends_the_argument(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["ask", "Summarize this."], capsys, monkeypatch, stdin="line one\nline two\n")
    assert code == 0
    (body,) = chat_requests(fake_openai)
    assert body["messages"][-1]["content"] == "line one\nline two\n\nSummarize this."
    code, out, _ = cli(["ask"], capsys, monkeypatch, stdin="only stdin\n")
    assert (code, out) == (0, "Echo: only stdin\n")


def test_ask_params_model_flag_and_usage(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["ask", "-m", "gpt-4o-mini", "-p", "temperature=0", "-p", "seed=7", "-p", "user=bob", "-u", "hi"]
    code, out, err = cli(argv, capsys, monkeypatch)
    assert (code, out) == (0, "Echo: hi\n")
    (body,) = chat_requests(fake_openai)
    assert (body["model"], body["temperature"], body["seed"], body["user"]) == ("gpt-4o-mini", 0, 7, "bob")
    assert err.startswith("gpt-4o-mini: 1 requests, 0 from cache; tokens in ")
    assert "cost $0.0000" in err


def test_ask_answers_from_the_cache_the_second_time(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(["ask", "same question"], capsys, monkeypatch)[:2] == (0, "Echo: same question\n")
    code, out, err = cli(["ask", "-u", "same question"], capsys, monkeypatch)
    assert (code, out) == (0, "Echo: same question\n")
    assert "0 requests, 1 from cache" in err
    assert fake_openai.request_count == 1
    cli(["ask", "--no-cache", "same question"], capsys, monkeypatch)
    assert fake_openai.request_count == 2


def test_ask_without_a_prompt_is_a_usage_error(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(["ask"], capsys, monkeypatch, stdin="  \n")
    assert (code, out) == (2, "")
    assert err.startswith("llmp: error: no prompt")
    assert fake_openai.request_count == 0


# -- errors ----------------------------------------------------------------------------------


def test_a_provider_error_is_one_line_and_never_shows_the_key(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A provider (or proxy) that echoes the key back in its error message.
    fake_openai.inject(StatusError(400, message=f"bad request from key {fake_openai.api_key}"), times=None)
    code, out, err = cli(["ask", "hi"], capsys, monkeypatch)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("llmp: error: ")
    assert "BadRequestError" in err
    assert "400" in err
    assert fake_openai.api_key not in err
    assert "[redacted key " in err  # scrubbed where the error was built (llmp._secrets)
    assert "Traceback" not in err

    code, _, err = cli(["ask", "-v", "hi"], capsys, monkeypatch)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("llmp: error: ")
    assert fake_openai.api_key not in err


def test_a_missing_key_names_the_variables(
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_KEYS", raising=False)
    code, out, err = cli(["-v", "ask", "hi"], capsys, monkeypatch)  # global option before the command
    assert (code, out) == (1, "")
    assert "OPENAI_API_KEY or OPENAI_KEYS" in err.splitlines()[-1]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ask", "--no-such-flag"])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err
    assert cli([], capsys, monkeypatch)[0] == 2
    code, _, err = cli(["batch"], capsys, monkeypatch)
    assert (code, err) == (2, "llmp: error: 'llmp batch' needs an action; see 'llmp batch --help'\n")


def test_params_are_json_or_strings() -> None:
    assert parse_params(["temperature=0.5", 'stop=["\\n"]', "user=bob", "flag=true", "eq=a=b"]) == {
        "temperature": 0.5,
        "stop": ["\n"],
        "user": "bob",
        "flag": True,
        "eq": "a=b",
    }
    for bad in ("temperature", "=1", "bad key=1"):
        with pytest.raises(CLIError, match="KEY=VALUE"):
            parse_params([bad])


# -- chat ------------------------------------------------------------------------------------


def test_chat_keeps_the_history_for_the_session(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = "Hi\n\nHow are you?\n/exit\nnever sent\n"
    code, out, _ = cli(["chat", "-s", "Be kind."], capsys, monkeypatch, stdin=stdin)
    assert (code, out) == (0, "Echo: Hi\nEcho: How are you?\n")
    first, second = chat_requests(fake_openai)
    assert first["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
    ]
    assert second["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Echo: Hi"},
        {"role": "user", "content": "How are you?"},
    ]


def test_chat_reset_forgets_and_eof_quits(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(["chat", "--stream"], capsys, monkeypatch, stdin="one\n/reset\ntwo")
    assert (code, out) == (0, "Echo: one\nEcho: two\n")
    assert "forgotten" in err
    assert [b["messages"] for b in chat_requests(fake_openai)][-1] == [{"role": "user", "content": "two"}]
    assert all(b["stream"] for b in chat_requests(fake_openai))


def test_a_failed_chat_turn_is_reported_and_the_session_goes_on(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.inject(StatusError(400, message="that turn is refused"), times=1)
    code, out, err = cli(["chat", "-u"], capsys, monkeypatch, stdin="first\nsecond\n")
    assert code == 1  # a scripted chat with a failed turn is not a success
    assert out == "Echo: second\n"
    assert "llmp: error: " in err
    assert "that turn is refused" in err
    # The failed turn is not in the history.
    assert chat_requests(fake_openai)[-1]["messages"] == [{"role": "user", "content": "second"}]
    assert "1 requests" in err.splitlines()[-1]


def test_ask_streams_by_default_on_a_terminal(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    # A real pseudo-terminal as stdout (and stdin): the default is decided by isatty().
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "llmp", "ask", "streamed", "words"],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    ) as child:
        os.close(follower)
        output = b""
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output += data
        assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
    os.close(leader)
    assert output.replace(b"\r\n", b"\n") == b"Echo: streamed words\n"
    (body,) = chat_requests(fake_openai)
    assert body["stream"] is True
