#!/usr/bin/env bash
# Issue 11's acceptance run in a fresh venv installed with plain pip (no uv, no workspace):
# check.py against each provider's local fake, then mypy --strict on check.py as user code.
#
#   examples/acceptance/run.sh [VENV_DIR]      # default: a new temporary directory
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${1:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q "$root/core[testing]" "$root/plugins/llmp-openai[testing]" "$root/plugins/llmp-gemini[testing]" \
  "$root/plugins/llmp-litellm[testing]" pydantic mypy
"$venv/bin/python" "$root/examples/acceptance/check.py"
"$venv/bin/mypy" --strict "$root/examples/acceptance/check.py"
