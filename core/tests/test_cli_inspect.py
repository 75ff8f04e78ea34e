"""`llmp routes`, `plugins`, `cache`, `config`, and the config file's effect on other commands."""

from __future__ import annotations

import io
import json
import secrets
import sys
from pathlib import Path

import pytest

from llmp._cli import main
from llmp._cli._config import load_config
from llmp._cli._errors import CLIError
from llmp.testing import FakeOpenAIServer


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


# -- routes and plugins ----------------------------------------------------------------------


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


# -- cache -----------------------------------------------------------------------------------


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


def test_cache_dir_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["cache", "stats", "--dir", str(tmp_path / "elsewhere")], capsys, monkeypatch)
    assert code == 0
    assert f"path:    {tmp_path / 'elsewhere' / 'llmp-cache.sqlite'}" in out


# -- config ----------------------------------------------------------------------------------


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


def test_config_path_from_env_and_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = write_config(tmp_path / "env.toml", 'default_model = "gpt-4.1-nano"\n')
    from_flag = write_config(tmp_path / "flag.toml", 'default_model = "o4-mini"\n')
    monkeypatch.setenv("LLMP_CONFIG", str(from_env))
    assert cli(["config", "--path"], capsys, monkeypatch)[1] == f"{from_env}\n"
    assert "default model: gpt-4.1-nano" in cli(["config"], capsys, monkeypatch)[1]
    assert "default model: o4-mini" in cli(["config", "--config", str(from_flag)], capsys, monkeypatch)[1]
    assert "default model: o4-mini" in cli(["--config", str(from_flag), "config"], capsys, monkeypatch)[1]
    monkeypatch.setenv("LLMP_MODEL", "gpt-5")
    monkeypatch.delenv("LLMP_CONFIG")
    assert "default model: gpt-5" in cli(["config"], capsys, monkeypatch)[1]

    code, _, err = cli(["config", "--config", str(tmp_path / "missing.toml")], capsys, monkeypatch)
    assert code == 1
    assert "missing.toml (from --config) does not exist" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('default_modle = "x"\n', "unknown setting 'default_modle' (did you mean 'default_model'?)"),
        ("default_model = [\n", "not valid TOML"),
        ("[aliases]\nfast = 3\n", "[aliases] must map names to model names"),
        ('[[routes]]\npattern = "a/*"\n', "[[routes]] #1 needs base_url"),
        ('[[routes]]\npattern = "a/*"\nbase_url = "http://h/v1"\nkey = "A"\n', "unknown setting 'key'"),
        (
            '[[routes]]\npattern = "a/*"\nbase_url = "http://h/v1"\npriority = "high"\n',
            "priority must be an integer",
        ),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path / "config.toml", text)
    with pytest.raises(CLIError) as info:
        load_config(str(path))
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_a_bad_route_base_url_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "c.toml", '[[routes]]\npattern = "zz/*"\nbase_url = "gpu-box:8000"\n')
    code, _, err = cli(["--config", str(path), "routes"], capsys, monkeypatch)
    assert code == 1
    assert err.startswith(f"llmp: error: {path}: route 'zz/*': base_url must start with http://")
    assert err.count("\n") == 1
