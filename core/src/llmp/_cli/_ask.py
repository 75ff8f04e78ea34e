"""``llmp ask``: one prompt, one answer."""

from __future__ import annotations

import os
import stat
from typing import Any, TextIO

from llmp._cli._context import Context
from llmp._cli._errors import CLIError
from llmp._cli._summary import usage_text

__all__ = ["ask", "print_reply", "stdin_is_piped"]


def stdin_is_piped(stdin: TextIO) -> bool:
    """Whether stdin carries data to read: a pipe or a redirected file.

    Not a terminal, and not ``/dev/null`` or a closed descriptor either, which is how scripts and
    CI run commands: reading those would wait for input that never comes or read nothing.
    """
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        # Not a real file (a test's StringIO): it holds data if it was given any.
        return not getattr(stdin, "isatty", lambda: True)()
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _prompt(words: list[str], stdin: TextIO) -> str:
    argument = " ".join(words).strip()
    piped = stdin.read().strip() if stdin_is_piped(stdin) else ""
    # `git diff | llmp ask "Review this"`: the piped text first, then the instruction.
    prompt = "\n\n".join(part for part in (piped, argument) if part)
    if not prompt:
        raise CLIError('no prompt: pass one (llmp ask "What is 2+2?") or pipe it in (echo ... | llmp ask)', 2)
    return prompt


def print_reply(
    llm: Any, messages: Any, system: str | None, params: dict[str, Any], stream: bool, out: TextIO
) -> str:
    """Print one reply to `out` (as it arrives when `stream`) and return its text."""
    if stream:
        parts: list[str] = []
        for delta in llm.stream(messages, system, **params):
            parts.append(delta)
            out.write(delta)
            out.flush()
        reply = "".join(parts)
    else:
        reply = llm.chat(messages, system, **params)
        out.write(reply)
    if not reply.endswith("\n"):
        out.write("\n")
    out.flush()
    return reply


def ask(ctx: Context) -> int:
    args = ctx.args
    prompt = _prompt(args.prompt, ctx.stdin)
    params = ctx.params()
    llm = ctx.llm()
    stream = args.stream if args.stream is not None else ctx.stdout.isatty()
    print_reply(llm, prompt, args.system, params, stream, ctx.stdout)
    if args.usage:
        ctx.info(f"{llm.model}: {usage_text(llm.usage)}")
    return 0
