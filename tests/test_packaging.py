"""The distributions install with plain pip in a fresh venv and work from there.

This is the user's path (`pip install llmp-core llmp-openai`), not the workspace's: it proves the
wheels carry their entry points, their `py.typed`, and the right dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MISSION = textwrap.dedent(
    """
    import os, sys, tempfile
    from llmp.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        os.environ.update(SSL_CERT_FILE=str(server.ca_path), OPENAI_BASE_URL=server.base_url,
                          OPENAI_API_KEY=server.api_key, LLMP_CACHE_DIR=tempfile.mkdtemp())
        import llmp
        assert "openai" not in sys.modules
        patterns = {r.pattern: r.plugin for r in llmp.routes()}
        assert patterns["gpt-*"] == "llmp-openai", patterns
        llm = llmp.LLM("gpt-4.1-mini")
        out = llm.generate(["What is 2+2?", "Name a color."])
        assert out == [["Echo: What is 2+2?"], ["Echo: Name a color."]], out
        assert {r.http_version for r in server.requests} == {"2"}
        assert llm.total_cost and llm.total_cost > 0
        again = llmp.LLM("gpt-4.1-mini")
        assert again.generate(["What is 2+2?", "Name a color."]) == out
        assert server.request_count == 2 and again.total_cost == 0.0
        try:
            llmp.LLM("gemini/gemini-3-flash-preview")
        except llmp.errors.UnknownModelError as exc:
            assert "llmp-gemini" in str(exc)
        print("mission ok")
    """
)


MULTI = textwrap.dedent(
    """
    import os, tempfile
    from llmp.testing import FakeAnthropicServer, FakeGeminiServer, FakeOpenAIServer

    with FakeOpenAIServer() as oa, FakeGeminiServer() as gm, FakeAnthropicServer() as an:
        os.environ.update(
            SSL_CERT_FILE=str(oa.ca_path), LLMP_CACHE_DIR=tempfile.mkdtemp(),
            OPENAI_BASE_URL=oa.base_url, OPENAI_API_KEY=oa.api_key,
            TOGETHER_BASE_URL=oa.base_url, TOGETHER_API_KEY=oa.api_key,
            GEMINI_BASE_URL=gm.base_url, GEMINI_API_KEY=gm.api_key,
            ANTHROPIC_BASE_URL=an.base_url, ANTHROPIC_API_KEY=an.api_key,
        )
        import llmp
        models = ["gpt-4.1-mini", "gemini/gemini-3-flash-preview",
                  "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "anthropic/claude-sonnet-4-6"]
        plugins = {r.provider: r.plugin for r in llmp.routes()}
        assert plugins["gemini"] == "llmp-gemini" and plugins["anthropic"] == "llmp-litellm", plugins
        llms = [llmp.LLM(m) for m in models]
        out = llmp.multi_generate(llms, ["a", "b"])
        assert all(out[m] == [["Echo: a"], ["Echo: b"]] for m in models), out
        assert all(llm.total_cost and llm.total_output_tokens for llm in llms)
        versions = {r.body["model"]: r.http_version for r in oa.requests if r.path.endswith("completions")}
        assert versions["gpt-4.1-mini"] == "2"
        assert versions["meta-llama/Llama-3.3-70B-Instruct-Turbo"] == "1.1"
        assert {r.http_version for r in gm.requests} == {"2"}
        sent = oa.request_count + gm.request_count + an.request_count
        assert llmp.multi_generate(models, ["a", "b"]) == out
        assert oa.request_count + gm.request_count + an.request_count == sent
        print("multi ok")
    """
)


def _locked_version(name: str) -> str:
    import tomllib

    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(str(p["version"]) for p in lock["package"] if p["name"] == name)


@pytest.mark.timeout(600)
def test_pip_install_from_source_dirs_in_a_fresh_venv(tmp_path: Path) -> None:
    """llmp-core + llmp-openai alone (Gemini names its plugin), then all four providers."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "LLMP_", "OPENAI_"))
    }
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"{ROOT / 'core'}[testing]",
            str(ROOT / "plugins" / "llmp-openai"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # Installed, not the workspace sources: the import must come from the venv's site-packages.
    where = subprocess.run(
        [str(python), "-c", "import llmp, llmp_openai; print(llmp.__file__); print(llmp_openai.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert all(str(env_dir) in line for line in where.stdout.split()), where.stdout
    run = subprocess.run(
        [str(python), "-c", MISSION],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=300,
    )
    assert "mission ok" in run.stdout, run.stdout + run.stderr[-3000:]
    assert sys.executable != str(python)

    # Then every provider plugin, each installable next to llmp-core with plain pip. litellm is
    # constrained to the release the workspace lock chose: in this registry only one litellm
    # release accepts openai 3.x, and pip's backtracking resolver would spend many minutes
    # walking a hundred others to find it (the declared range is still what users get).
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(f"litellm=={_locked_version('litellm')}\n")
    plugins = [str(ROOT / "plugins" / name) for name in ("llmp-gemini", "llmp-together", "llmp-litellm")]
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *plugins],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run(
        [str(python), "-c", MULTI],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=400,
    )
    assert "multi ok" in run.stdout, run.stdout + run.stderr[-3000:]
