"""CLI start-up with the first-party plugins installed: listing routes imports no provider SDK."""

from __future__ import annotations

import os
import subprocess
import sys

SDKS = ("openai", "google.genai", "litellm", "httpx2", "httpx", "aiohttp")


COMMAND_MODULES = (
    "llmp._cli._ask",
    "llmp._cli._chat",
    "llmp._cli._run",
    "llmp._cli._batch",
    "llmp._cli._inspect",
)


PROBE = """
import sys
from llmp._cli import main
try:
    main({argv!r})
except SystemExit as exit:
    code = exit.code
else:
    code = None
print("EXIT", code, file=sys.stderr)
print("LOADED", *sorted(m for m in sys.modules if m in {watch!r}), file=sys.stderr)
"""


def probe(argv: list[str]) -> tuple[str, list[str]]:
    code = PROBE.format(argv=argv, watch=SDKS + COMMAND_MODULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMP_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = done.stderr.splitlines()
    assert lines[-2].startswith("EXIT"), done.stderr
    return done.stdout, lines[-1].split()[1:]


def test_listing_routes_imports_no_sdk() -> None:
    out, loaded = probe(["routes"])
    assert "llmp-openai" in out
    assert loaded == ["llmp._cli._inspect"]
