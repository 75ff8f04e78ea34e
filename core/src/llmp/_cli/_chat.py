"""``llmp chat``: a conversation, its history kept for the session.

On a terminal it is a REPL with line editing; with piped input it reads one user turn per line
and prints one reply per turn, which is also how it is tested.
"""

from __future__ import annotations

import contextlib
from typing import Any, TextIO

from llmp._cli._ask import print_reply
from llmp._cli._context import Context
from llmp._cli._errors import describe, redact
from llmp._cli._summary import usage_text

__all__ = ["chat"]

_PROMPT = "> "
_HELP = "/exit or Ctrl-D quits, /reset forgets the conversation"


def _read_turn(stdin: TextIO, interactive: bool) -> str | None:
    """The next line the user typed, or None at the end of input."""
    if interactive:
        try:
            return input(_PROMPT)
        except EOFError:
            return None
    line = stdin.readline()
    return line.rstrip("\r\n") if line else None


def chat(ctx: Context) -> int:
    args = ctx.args
    params = ctx.params()
    llm = ctx.llm()
    interactive = ctx.stdin.isatty() and ctx.stdout.isatty()
    stream = args.stream if args.stream is not None else ctx.stdout.isatty()
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (gives input() history and line editing)
        ctx.info(f"Chatting with {llm.model}. {_HELP}.")
    history: list[dict[str, Any]] = []
    failed = 0
    while True:
        try:
            line = _read_turn(ctx.stdin, interactive)
        except KeyboardInterrupt:  # Ctrl-C at the prompt leaves, like Ctrl-D
            ctx.stdout.write("\n")
            break
        if line is None:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            history.clear()
            ctx.info("(conversation forgotten)")
            continue
        if text in ("/help", "/?"):
            ctx.info(_HELP)
            continue
        turn = [*history, {"role": "user", "content": line}]
        try:
            reply = print_reply(llm, turn, args.system, params, stream, ctx.stdout)
        except KeyboardInterrupt:
            # Ctrl-C stops this reply only; the turn is forgotten, the conversation goes on.
            ctx.stdout.write("\n")
            ctx.info("(interrupted; that turn is not kept)")
            continue
        except Exception as exc:
            # One failed turn does not end the session: report it and let the user try again.
            failed += 1
            ctx.info(redact(f"llmp: error: {' '.join(describe(exc).split())}"))
            if ctx.verbose:
                import traceback

                ctx.stderr.write(redact("".join(traceback.format_exception(exc))))
            continue
        history = [*turn, {"role": "assistant", "content": reply}]
    if args.usage:
        ctx.info(f"{llm.model}: {usage_text(llm.usage)}")
    return 1 if failed else 0
