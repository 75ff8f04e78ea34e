"""`llmp run`: input formats, checkpointed output, resume, the summary, input errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from llmp._cli import main
from llmp._cli._errors import CLIError
from llmp._cli._inputs import PromptSource
from llmp.testing import StatusError
from llmp_openai.testing import FakeOpenAIServer


def texts(record: Any) -> list[str]:
    """The sample texts of one checkpoint line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


def cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    monkeypatch.delenv("LLMP_MODEL", raising=False)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent_prompts(server: FakeOpenAIServer) -> list[str]:
    return [
        r.body["messages"][-1]["content"] for r in server.requests if r.path.endswith("/chat/completions")
    ]


def test_run_jsonl_writes_one_line_per_prompt_in_order_and_a_summary(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": i, "prompt": f"prompt {i}"}) for i in range(7)]
    source.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")  # a blank line too
    out = tmp_path / "out.jsonl"
    code, stdout, err = cli(["run", str(source), "-o", str(out), "-s", "Be brief."], capsys, monkeypatch)
    assert (code, stdout) == (0, "")
    got = records(out)
    assert [r["index"] for r in got] == list(range(7))
    assert [texts(r) for r in got] == [[f"Echo: prompt {i}"] for i in range(7)]
    assert all(r["error"] is None and r["response"]["usage"]["output_tokens"] > 0 for r in got)
    assert sorted(sent_prompts(fake_openai)) == sorted(f"prompt {i}" for i in range(7))
    assert "gpt-4.1-mini: 7 prompts, 7 ok, 0 failed -> " in err
    assert "7 requests, 0 from cache" in err
    assert "cost $" in err
    # One model: its latency (no per-deployment lines: there is one, and the usage line is it).
    assert err.splitlines()[-1].startswith("  latency p50 ")
    assert "[healthy]" not in err


def test_a_rerun_resumes_and_retries_only_the_failed_prompts(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"question {i}\n" for i in range(6)))
    out = tmp_path / "out.jsonl"
    refused = fake_openai.inject(
        StatusError(400, message="refused for this test"),
        times=None,
        when=lambda body: body["messages"][-1]["content"] == "question 4",
    )
    # --no-cache: what is not re-sent is skipped thanks to the output file, not the cache.
    argv = ["run", str(source), "-o", str(out), "--no-cache", "-c", "2"]
    code, _, err = cli(argv, capsys, monkeypatch)
    assert code == 1
    assert "6 prompts, 5 ok, 1 failed" in err
    assert "first failure, prompt 4:" in err
    assert "refused for this test" in err
    assert "run the same command again" in err
    assert records(out)[4]["response"] is None
    assert records(out)[4]["error"]["type"] == "BadRequestError"

    fake_openai.cancel(refused)
    before = fake_openai.request_count
    code, _, err = cli(argv, capsys, monkeypatch)
    assert code == 0
    assert "resuming: 5 of 6 prompts already done" in err
    assert fake_openai.request_count - before == 1
    assert sent_prompts(fake_openai)[-1] == "question 4"
    assert [texts(r) for r in records(out)] == [[f"Echo: question {i}"] for i in range(6)]


def test_run_csv_with_a_chosen_column_and_n_samples(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text('id,question\n1,"Hello, world"\n2,"two\nlines"\n', encoding="utf-8-sig")  # with a BOM
    out = tmp_path / "out.jsonl"
    code, _, _ = cli(
        ["run", str(source), "--field", "question", "-n", "2", "-o", str(out)], capsys, monkeypatch
    )
    assert code == 0
    assert [texts(r) for r in records(out)] == [
        ["Echo: Hello, world", "Echo: Hello, world [1]"],
        ["Echo: two\nlines", "Echo: two\nlines [1]"],
    ]


def test_run_from_stdin(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.jsonl"
    code, _, _ = cli(["run", "-", "--format", "jsonl", "-o", str(out)], capsys, monkeypatch, '"a"\n"b"\n')
    assert code == 0
    assert [texts(r) for r in records(out)] == [["Echo: a"], ["Echo: b"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "bad.jsonl, line 2: not JSON"),
        ("bad.jsonl", '{"prompt": "ok"}\n{"text": "x"}\n', "line 2: no 'prompt' key (keys: text)"),
        ("bad.jsonl", '{"prompt": 3}\n', "line 1: the prompt must be a non-empty string"),
        ("bad.csv", "text\nhello\n", "no 'prompt' column in the header (columns: text)"),
        ("bad.csv", 'prompt\nhello\n""\n', "line 3: empty 'prompt'"),
        ("empty.txt", "\n  \n", "holds no prompts"),
    ],
)
def test_bad_input_fails_before_anything_is_sent(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: str,
    message: str,
) -> None:
    source = tmp_path / name
    source.write_text(content)
    code, _, err = cli(["run", str(source), "-o", str(tmp_path / "out.jsonl")], capsys, monkeypatch)
    assert code == 1
    assert message in err
    assert err.count("\n") == 1
    assert fake_openai.request_count == 0
    assert not (tmp_path / "out.jsonl").exists()


def test_run_refuses_to_overwrite_its_input_or_read_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"x"\n')
    code, _, err = cli(["run", str(source), "-o", str(source)], capsys, monkeypatch)
    assert (code, err) == (1, "llmp: error: the output file is the input file: choose another -o\n")
    assert source.read_text() == '"x"\n'
    code, _, err = cli(["run", str(tmp_path / "nope.txt"), "-o", "o.jsonl"], capsys, monkeypatch)
    assert code == 1
    assert "nope.txt does not exist" in err


def test_prompt_source_streams_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text("prompt\tother\na\t1\nb\t2\n")
    source = PromptSource(str(path))
    assert source.format == "tsv"
    assert len(source) == 2
    assert list(source) == ["a", "b"]
    assert list(source) == ["a", "b"]  # iterable again: the job reads it after counting
    with pytest.raises(CLIError, match="does not exist"):
        PromptSource(str(tmp_path / "missing.jsonl"))
