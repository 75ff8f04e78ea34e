"""The distributions build into wheels that install with plain pip in a fresh venv and work there.

This is the user's path (`pip install llmp-core llmp-openai`), not the workspace's: it proves the
wheels carry what PyPI shows (README, license, URLs, classifiers), their entry points, their
`py.typed`, and the right dependencies.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import textwrap
import tomllib
import venv
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from test_distribution_metadata import DISTRIBUTIONS

ROOT = Path(__file__).resolve().parents[1]

MISSION = textwrap.dedent(
    """
    import os, sys, tempfile
    from llmp_openai.testing import FakeOpenAIServer

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
    from llmp_litellm.testing import FakeAnthropicServer
    from llmp_gemini.testing import FakeGeminiServer
    from llmp_openai.testing import FakeOpenAIServer

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
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(str(p["version"]) for p in lock["package"] if p["name"] == name)


def _clean_env() -> dict[str, str]:
    # The user's environment, minus the workspace's venv and anything that would point llmp
    # elsewhere; the session's test CA directory stays, so nothing is left in the temp dir.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "LLMP_", "OPENAI_")) or k == "LLMP_TEST_CA_DIR"
    }


def _new_venv(directory: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    return directory / "bin" / "python"


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, env=_clean_env(), check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every distribution's wheel, built once with the build backend the pyproject.toml files name
    (in a venv of its own, so the backend's dependencies never reach the user's venv)."""
    builder = _new_venv(tmp_path_factory.mktemp("build-venv"))
    backend = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["build-system"]["requires"]
    _pip(builder, "install", "-q", *backend)
    out = tmp_path_factory.mktemp("wheels")
    _pip(
        builder,
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        *map(str, DISTRIBUTIONS.values()),
    )
    built = {path.name.split("-")[0].replace("_", "-"): path for path in out.glob("*.whl")}
    assert set(built) == set(DISTRIBUTIONS), built
    return built


def _metadata(wheel: Path) -> tuple[Message, zipfile.ZipFile]:
    archive = zipfile.ZipFile(wheel)
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(archive.read(name).decode()), archive


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_wheel_metadata_is_what_pypi_shows(name: str, wheels: dict[str, Path]) -> None:
    project = tomllib.loads((DISTRIBUTIONS[name] / "pyproject.toml").read_text())["project"]
    metadata, archive = _metadata(wheels[name])
    with archive:
        assert metadata["Name"] == name
        assert tuple(map(int, metadata["Metadata-Version"].split("."))) >= (2, 4)  # License-Expression
        assert metadata["License-Expression"] == "MIT"
        assert metadata.get_all("License-File") == ["LICENSE"]
        dist_info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")).rpartition("/")[
            0
        ]
        assert archive.read(f"{dist_info}/licenses/LICENSE").decode() == (ROOT / "LICENSE").read_text()
        assert any(n.endswith("/py.typed") for n in archive.namelist())
        urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
        assert urls == project["urls"]
        assert metadata.get_all("Classifier") == sorted(project["classifiers"])
        assert "Typing :: Typed" in metadata.get_all("Classifier")
        assert metadata["Requires-Python"] == ">=3.11"
        assert metadata["Description-Content-Type"] == "text/markdown"
        assert metadata.get_payload().strip() == (DISTRIBUTIONS[name] / "README.md").read_text().strip()
        # Item 25 of issue 14: nothing in llmp imports filelock.
        assert not [r for r in metadata.get_all("Requires-Dist") or [] if r.startswith("filelock")]


@pytest.mark.timeout(600)
def test_pip_install_of_the_wheels_in_a_fresh_venv(tmp_path: Path, wheels: dict[str, Path]) -> None:
    """llmp-core + llmp-openai alone (the demo says what it lacks; Gemini names its plugin), then
    llmp-core's testing extra, then all four providers."""
    env_dir = tmp_path / "venv"
    python = _new_venv(env_dir)
    env = _clean_env()
    _pip(python, "install", "-q", str(wheels["llmp-core"]), str(wheels["llmp-openai"]))
    # Without the testing extra there is no fake server: one line saying what to install.
    demo = subprocess.run(
        [str(env_dir / "bin" / "llmp"), "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert demo.returncode == 1, demo.stdout + demo.stderr
    assert demo.stderr.count("\n") == 1, demo.stderr
    assert 'pip install "llmp-core[testing]"' in demo.stderr
    assert "(missing: hypercorn, trustme)" in demo.stderr  # h2 came with llmp-openai's httpx2[http2]
    assert "Traceback" not in demo.stderr

    _pip(python, "install", "-q", f"{wheels['llmp-core']}[testing]")
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
    plugins = [str(wheels[name]) for name in ("llmp-gemini", "llmp-together", "llmp-litellm")]
    _pip(python, "install", "-q", "-c", str(constraints), *plugins)
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
