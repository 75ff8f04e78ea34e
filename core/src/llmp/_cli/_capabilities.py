"""``llmp capabilities MODEL...``: what each model's client can honour, side by side.

It asks each plugin's client (`llmp.LLM.capabilities`) and sends no request, so no API key is
needed: a model whose key is not set is asked with a placeholder that never leaves the process.
The docs' capability table (docs/capabilities.md) is this command's output, checked by a test.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from llmp._cli._context import Context
from llmp._cli._inspect import table
from llmp.errors import MissingAPIKeyError
from llmp.types import Capabilities

__all__ = ["capabilities"]

# Never sent anywhere: capabilities are asked of a client that opens no connection.
_PLACEHOLDER_KEY = "no-key-needed-to-list-capabilities"
_LIMITS = ("max_context_tokens", "max_output_tokens")


def _ask(ctx: Context, model: str) -> Capabilities:
    try:
        llm = ctx.llm_factory(model, cache=False)
    except MissingAPIKeyError:
        llm = ctx.llm_factory(model, cache=False, api_key=_PLACEHOLDER_KEY)
    try:
        caps: Capabilities = llm.capabilities()
        return caps
    finally:
        llm.close()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "-"
    if isinstance(value, frozenset):
        return ", ".join(sorted(value)) or "-"
    return "-" if value is None else f"{value:,}"


def capabilities(ctx: Context) -> int:
    ctx.apply_routes()
    models = [ctx.config.resolve(name) for name in ctx.args.models]
    found = {model: _ask(ctx, model) for model in models}
    names = [f.name for f in fields(Capabilities)]
    if ctx.args.json:
        data = {
            model: {n: sorted(v) if isinstance(v := getattr(caps, n), frozenset) else v for n in names}
            for model, caps in found.items()
        }
        ctx.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    rows = [
        [name, *(_cell(getattr(caps, name)) for caps in found.values())] for name in names if name != "params"
    ]
    ctx.stdout.write(table(("CAPABILITY", *models), rows) + "\n")
    # The extra parameters are long lists: one line per model under the table.
    ctx.stdout.write("\nparameters beyond the common ones (llmp.COMMON_PARAMS):\n")
    for model, caps in found.items():
        ctx.stdout.write(f"  {model}: {_cell(caps.params)}\n")
    return 0
