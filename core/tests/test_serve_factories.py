"""``python -m llmp.testing.serve`` runs any fake a factory builds: a plugin's (by its entry-point
name) or one given as ``module:factory``, with no plugin installed; knobs a factory does not take
are refused."""

from __future__ import annotations

import ssl
import textwrap
import urllib.request
from pathlib import Path

import pytest

from llmp.testing.serve import main, spawn

FAKE = '''
from llmp.testing import ControlledServer


class Hello:
    """The smallest fake: every request is answered "hello"."""

    api_key = "k-hello"

    def reset(self):
        pass

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


def serve_fake(options, /, *, ttft, token_delay, chunk_count, api_keys, record):
    return ControlledServer(Hello(), options=options, base_path="/api")
'''


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hello_fake.py").write_text(textwrap.dedent(FAKE))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the child process
    monkeypatch.syspath_prepend(str(tmp_path))  # for main() in this one
    return "hello_fake:serve_fake"


def test_a_fake_given_as_module_factory_runs_in_its_own_process(module: str) -> None:
    with spawn(module) as server:
        assert server.base_url.endswith("/api")
        assert server.api_key == "k-hello"
        context = ssl.create_default_context(cafile=str(server.ca_path))
        with urllib.request.urlopen(f"{server.base_url}/anything", context=context, timeout=10) as reply:
            assert reply.read() == b"hello"
        assert server.stats() == {"request_count": 1, "in_flight": 0, "max_in_flight": 1}
        server.reset()
        assert server.stats()["request_count"] == 0
    assert server.process.returncode == 0, "the child shuts down cleanly when its stdin closes"


def test_a_knob_the_factory_does_not_take_is_refused(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([module, "--rpm", "5"])
    assert exit_info.value.code == 2
    assert f"--rpm does not apply to the {module} fake" in capsys.readouterr().err


def test_an_unknown_fake_is_refused_before_a_child_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LookupError, match="no fake server named 'nosuch'"):
        spawn("nosuch")
    with pytest.raises(SystemExit) as exit_info:
        main(["nosuch"])
    assert exit_info.value.code == 2
    assert "install the provider's plugin" in capsys.readouterr().err
