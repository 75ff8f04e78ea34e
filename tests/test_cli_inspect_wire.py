"""`llmp cache` and `llmp config` against a real route: llmp-openai and its fake server."""

from __future__ import annotations

import io
import json
import secrets
import sys
from pathlib import Path

import pytest

from llmp._cli import main
from llmp_openai.testing import FakeOpenAIServer


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLMP_CONFIG", raising=False)
    monkeypatch.delenv("LLMP_MODEL", raising=False)


def cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cache_stats_and_clear(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = cli(["cache", "stats", "--json"], capsys, monkeypatch)
    stats = json.loads(out)
    assert (code, stats["entries"], stats["bytes"]) == (0, 0, 0)
    assert stats["path"] == str(tmp_path / "llmp-cache" / "llmp-cache.sqlite")

    assert cli(["ask", "remember me"], capsys, monkeypatch)[0] == 0
    assert cli(["ask", "and me"], capsys, monkeypatch)[0] == 0
    code, out, _ = cli(["cache"], capsys, monkeypatch)  # `stats` is the default action
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["entries"].strip() == "2"
    assert lines["size"].strip().endswith("KiB")

    code, _, err = cli(["cache", "clear"], capsys, monkeypatch)  # not a terminal: no prompt
    assert (code, err) == (2, "llmp: error: refusing to delete 2 cached responses without --yes\n")
    code, _, err = cli(["cache", "clear", "--yes"], capsys, monkeypatch)
    assert code == 0
    assert "deleted 2 cached responses" in err
    assert json.loads(cli(["cache", "stats", "--json"], capsys, monkeypatch)[1])["entries"] == 0


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_default_model_aliases_and_routes_reach_the_server(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pattern of its own: routes added to the process-wide table outlive this test.
    prefix = f"myhost{secrets.token_hex(4)}"
    monkeypatch.setenv("MYHOST_API_KEY", fake_openai.api_key)
    write_config(
        tmp_path / "xdg" / "llmp" / "config.toml",
        f"""
default_model = "fast"

[aliases]
fast = "gpt-4o-mini"
mine = "{prefix}/served-model"

[[routes]]
pattern = "{prefix}/*"
base_url = "{fake_openai.base_url}"
key_env = "MYHOST"
""",
    )
    assert cli(["ask", "hi"], capsys, monkeypatch)[:2] == (0, "Echo: hi\n")
    assert fake_openai.requests[-1].body["model"] == "gpt-4o-mini"

    for _ in range(2):  # twice in one process: the route is added once, not rejected as a clash
        assert cli(["ask", "-m", "mine", "hello"], capsys, monkeypatch)[:2] == (0, "Echo: hello\n")
    assert fake_openai.requests[-1].body["model"] == "served-model"  # the prefix is stripped
    assert fake_openai.requests[-1].headers["authorization"] == f"Bearer {fake_openai.api_key}"

    code, out, _ = cli(["routes"], capsys, monkeypatch)
    assert code == 0
    row = next(line.split() for line in out.splitlines() if line.startswith(f"{prefix}/*"))
    assert row[1:3] == [prefix, "MYHOST_API_KEY"]
    assert row[-1] == "user"
    out = cli(["config"], capsys, monkeypatch)[1]
    assert "default model: gpt-4o-mini" in out
    assert f"alias:         mine = {prefix}/served-model" in out
