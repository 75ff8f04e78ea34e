"""`llmp routes`, `plugins`, `cache`, `config`, and the config file's effect on other commands."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from llmp._cli import main
from llmp._cli._config import load_config
from llmp._cli._errors import CLIError


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


# -- cache -----------------------------------------------------------------------------------


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
