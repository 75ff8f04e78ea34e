"""litellm itself: never a known-compromised release, and importing it never reaches the network."""

import importlib.metadata
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from llmp_litellm.testing import FakeAnthropicServer

# Releases of litellm published by an attacker: 1.82.7, 1.82.8 and every 1.107.x.
KNOWN_BAD = ("1.82.7", "1.82.8", "1.107.0", "1.107.1", "1.107.3", "1.107.12", "1.107.0rc1")


def is_known_bad(version: str) -> bool:
    parsed = Version(version)
    return parsed.release[:3] in ((1, 82, 7), (1, 82, 8)) or parsed.release[:2] == (1, 107)


@pytest.mark.parametrize("version", KNOWN_BAD)
def test_the_check_knows_the_bad_releases(version: str) -> None:
    assert is_known_bad(version)


@pytest.mark.parametrize("version", ["1.82.6", "1.83.0", "1.106.9", "1.108.0", "2.0.0"])
def test_the_check_passes_other_releases(version: str) -> None:
    assert not is_known_bad(version)


def test_installed_litellm_is_not_a_known_bad_release() -> None:
    installed = importlib.metadata.version("litellm")
    assert not is_known_bad(installed), f"litellm {installed} is a known-compromised release: uninstall it"


def test_declared_requirement_excludes_the_bad_releases() -> None:
    requirements = [Requirement(r) for r in importlib.metadata.requires("llmp-litellm") or ()]
    (litellm,) = [r for r in requirements if r.name == "litellm"]
    for version in KNOWN_BAD:
        assert not litellm.specifier.contains(version, prereleases=True), version
    assert litellm.specifier.contains("1.83.0")
    assert not litellm.specifier.contains("1.82.6")  # below the floor we test against


_IMPORT_WITHOUT_NETWORK = """
import os, socket, sys
attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network access is blocked in this test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse
os.environ.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)

from llmp_litellm import _client
assert "litellm" not in sys.modules, "importing the client module must not import litellm"
litellm = _client.import_litellm()
assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
assert "claude-sonnet-4-5" in litellm.model_cost
print("attempts:", attempts)
"""


def last_line_of(script: str) -> str:
    """Run `script` in a fresh interpreter; it must succeed. Its last line of output."""
    command = [sys.executable, "-c", script]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_importing_litellm_never_reaches_the_network() -> None:
    assert last_line_of(_IMPORT_WITHOUT_NETWORK) == "attempts: []"


# litellm 1.8x also fetches Anthropic's beta-header table from GitHub on its first Anthropic
# request (LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS turns that off); a call must resolve no host but
# the local fake's.
_CALL_WITHOUT_NETWORK = """
import os, socket, sys
real = socket.getaddrinfo
looked_up = []

def only_local(host, *args, **kwargs):
    looked_up.append(host)
    if host not in ("127.0.0.1", "localhost"):
        raise OSError("network access is blocked in this test")
    return real(host, *args, **kwargs)

socket.getaddrinfo = only_local
os.environ.pop("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", None)

from pydantic import BaseModel
import llmp

class City(BaseModel):
    name: str

def weather(city: str) -> str:
    '''The weather.'''
    return "sunny"

with llmp.LLM("anthropic/claude-sonnet-4-5", cache=False) as llm:
    llm.generate(["a city"], response_format=City)
    llm.complete("weather in Paris?", tools=[weather], max_turns=2)
print("remote:", sorted({h for h in looked_up if h not in ("127.0.0.1", "localhost")}))
"""


def test_an_anthropic_call_resolves_no_host_but_the_server_s(fake_anthropic: FakeAnthropicServer) -> None:
    assert last_line_of(_CALL_WITHOUT_NETWORK) == "remote: []"
