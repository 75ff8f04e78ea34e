"""What running one ``llmp`` command in a fresh interpreter imports, for start-up tests.

`llmp --help` and `llmp routes` must stay fast: no provider SDK, and no command module but the
one that runs. `cli_imports` runs the command in a child process and reports its stdout and which
of the watched modules it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "SDKS", "cli_imports"]

SDKS = ("openai", "google.genai", "litellm", "httpx2", "httpx", "aiohttp")
COMMAND_MODULES = (
    "llmp._cli._ask",
    "llmp._cli._chat",
    "llmp._cli._run",
    "llmp._cli._batch",
    "llmp._cli._inspect",
)

_PROBE = """
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


def cli_imports(argv: Sequence[str], watch: Sequence[str] = SDKS + COMMAND_MODULES) -> tuple[str, list[str]]:
    """``llmp *argv`` in a fresh interpreter (no ``LLMP_*`` settings): its stdout, and the
    modules of `watch` it had imported when it finished, sorted."""
    code = _PROBE.format(argv=list(argv), watch=tuple(watch))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMP_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = done.stderr.splitlines()
    assert lines[-2].startswith("EXIT"), done.stderr
    return done.stdout, lines[-1].split()[1:]
