"""`llmp routes` and `llmp plugins` with the first-party plugins installed: their rows and hooks."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from llmp._cli import main


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


def test_routes_table_names_the_owning_plugin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["routes"], capsys, monkeypatch)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["PATTERN", "PROVIDER", "KEYS", "BASE", "URL", "PLUGIN"]
    gpt = next(row.split() for row in rows if row.startswith("gpt-* "))
    assert gpt[1:3] == ["openai", "OPENAI_API_KEY"]
    assert gpt[-1] == "llmp-openai"

    code, out, _ = cli(["routes", "--json"], capsys, monkeypatch)
    data = {row["pattern"]: row for row in json.loads(out)}
    assert data["gpt-*"]["plugin"] == "llmp-openai"
    assert data["gpt-*"]["key_env"] == "OPENAI"

    code, out, _ = cli(["routes", "sambanova/Llama-3.3-70B"], capsys, monkeypatch)
    assert code == 0
    assert out.startswith(
        "sambanova/Llama-3.3-70B -> provider sambanova (pattern 'sambanova/*', plugin llmp-openai)"
    )
    assert "sent as 'Llama-3.3-70B'" in out


def test_plugins_lists_distributions_versions_and_hooks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["plugins", "--json"], capsys, monkeypatch)
    assert code == 0
    plugins = {p["distribution"]: p for p in json.loads(out)}
    openai = plugins["llmp-openai"]
    assert openai["name"] == "openai"
    assert openai["version"]
    assert set(openai["hooks"]) == {"llmp_routes", "llmp_apis", "llmp_price"}
    assert openai["apis"] == ["openai"]
    code, out, _ = cli(["plugins"], capsys, monkeypatch)
    row = next(line.split(None, 4) for line in out.splitlines() if line.startswith("llmp-openai "))
    assert row[2] == "openai"
    assert row[3] == "openai"  # the wire API it registers
    assert "apis" in row[4]
