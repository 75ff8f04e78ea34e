"""What PyPI shows for each distribution: a README that stands on its own, the license, the
project URLs and the classifiers. (tests/test_packaging.py checks the same in the built wheels.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

DISTRIBUTIONS = {
    "llmp-core": ROOT / "core",
    "llmp-openai": ROOT / "plugins" / "llmp-openai",
    "llmp-gemini": ROOT / "plugins" / "llmp-gemini",
    "llmp-together": ROOT / "plugins" / "llmp-together",
    "llmp-litellm": ROOT / "plugins" / "llmp-litellm",
    "llmp-cohere": ROOT / "examples" / "llmp-cohere",  # the example third-party plugin
}
# The distributions this repository publishes, which share one set of project URLs.
PUBLISHED = [name for name in DISTRIBUTIONS if name != "llmp-cohere"]
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
# A README shorter than this cannot say what the distribution is, how to install it and show it.
MIN_README_LINES = 20

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_LINK_TARGETS = (
    re.compile(r"\]\(\s*<?([^)\s>]+)"),  # [text](target)
    re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$", re.MULTILINE),  # [ref]: target
    re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']"""),  # <a href=...>, <img src=...>
)


def project(name: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((DISTRIBUTIONS[name] / "pyproject.toml").read_text())["project"]
    return data


def code_blocks(markdown: str, language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(markdown) if lang == language]


def relative_links(markdown: str) -> list[str]:
    """Link and image targets PyPI cannot resolve: anything without a scheme (``../x.md``,
    ``docs/``, ``#anchor``). Code is not markdown, so fenced and inline code are left out."""
    prose = re.sub(r"`[^`\n]*`", "", _FENCE.sub("", markdown))
    targets = [target for pattern in _LINK_TARGETS for target in pattern.findall(prose)]
    return [t for t in targets if not re.match(r"(https?|mailto):", t)]


def test_relative_links_finds_what_pypi_would_break() -> None:
    text = "[a](../../README.md) [b](https://x.org) ![c](docs/c.png) [d](#usage)\n[e]: ./e.md\n`[f](g)`"
    assert relative_links(text) == ["../../README.md", "docs/c.png", "#usage", "./e.md"]


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_readme_says_what_it_is_how_to_install_it_and_shows_it(name: str) -> None:
    meta = project(name)
    assert meta["name"] == name
    readme = DISTRIBUTIONS[name] / meta["readme"]
    text = readme.read_text()
    lines = text.splitlines()
    assert lines[0].startswith(f"# {name}"), "the page starts with the distribution's name"
    assert len(lines) >= MIN_README_LINES, f"{readme} has {len(lines)} lines"
    assert relative_links(text) == [], f"{readme}: relative links are broken on PyPI"
    installs = [line for block in code_blocks(text, "bash") for line in block.splitlines()]
    assert any("pip install" in line and name in line for line in installs), f"{readme}: no install line"
    examples = code_blocks(text, "python")
    assert any("llmp.LLM(" in example for example in examples), f"{readme}: no example"
    for example in examples:
        compile(example, str(readme), "exec")  # at least valid Python


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_license_and_classifiers(name: str) -> None:
    meta = project(name)
    assert meta["license"] == "MIT"
    assert meta["license-files"] == ["LICENSE"]
    # A copy of the repository's LICENSE beside each pyproject.toml: PEP 639 takes only files
    # inside the project directory.
    assert (DISTRIBUTIONS[name] / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "Copyright (c) 2026 the llmp developers" in (ROOT / "LICENSE").read_text()
    classifiers = meta["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")], "PEP 639: the expression, not these"
    assert meta["requires-python"] == f">={PYTHON_VERSIONS[0]}"
    declared = [
        c.rpartition(" :: ")[2]
        for c in classifiers
        if re.match(r"Programming Language :: Python :: 3\.\d+$", c)
    ]
    assert declared == list(PYTHON_VERSIONS)
    package = next((DISTRIBUTIONS[name] / "src").iterdir())
    assert (package / "py.typed").is_file()


def test_the_published_distributions_share_one_set_of_project_urls() -> None:
    urls = [project(name)["urls"] for name in PUBLISHED]
    assert all(u == urls[0] for u in urls), urls
    assert set(urls[0]) == {"Homepage", "Documentation", "Repository", "Issues"}
    assert all(url.startswith("https://") for url in urls[0].values())
    # The READMEs link to the same documentation site.
    for name in DISTRIBUTIONS:
        text = (DISTRIBUTIONS[name] / "README.md").read_text()
        assert urls[0]["Documentation"] in text, name
