"""The ``llmp`` command (also ``python -m llmp``).

Startup is kept to argparse plus `import llmp`, which loads no plugin and no SDK: each command's
module is imported only when that command runs, and provider SDKs only when a model is called.
Errors are one ``llmp: error: ...`` line on stderr and a non-zero exit code; ``--verbose`` adds
the traceback.

Exit codes: 0 success; 1 an error (or, for ``run`` and ``batch retrieve``, some prompts failed);
2 a usage error; 3 ``batch retrieve`` of a batch that has not finished; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import import_module
from typing import Any, TextIO

from llmp._cli._errors import UsageError, report

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, *, llm_factory: Callable[..., Any] | None = None) -> int:
    """Run the CLI with `argv` (default: ``sys.argv[1:]``) and return the exit code.

    `llm_factory(model, **kwargs)` replaces `llmp.LLM` for the commands that call a model (tests
    use it to stand in for provider operations no local fake offers).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:
        return demo(args[1:])

    from llmp._cli._parser import build_parser

    parsed = build_parser().parse_args(args)  # exits with 0 for --help, 2 for a usage error
    handler_name: str | None = getattr(parsed, "handler", None)
    if handler_name is None:
        build_parser().print_help(sys.stderr)
        return 2

    from llmp._cli._context import Context

    ctx = Context(parsed) if llm_factory is None else Context(parsed, llm_factory)
    module, _, func = handler_name.partition(":")
    with _logs_shown(ctx.stderr, ctx.verbose):
        return _guarded(lambda: int(getattr(import_module(module), func)(ctx)), ctx.verbose, ctx.stderr)


@contextlib.contextmanager
def _logs_shown(stderr: TextIO, verbose: bool) -> Iterator[None]:
    """Under ``--verbose``, llmp's own log lines (retries, back-offs, keys stepping aside, rate
    limit pauses; never a key) go to stderr, so a slow call is not a silent one."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("llmp")
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("llmp: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _guarded(command: Callable[[], int], verbose: bool, stderr: TextIO) -> int:
    """Run `command` the way every command runs: a failure is one line and an exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        stderr.write("\nllmp: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`llmp ... | head`): not an error. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again.
        with contextlib.suppress(OSError, ValueError):  # ValueError: stdout is not a real file
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # every failure becomes one line; --verbose shows the rest
        return report(exc, verbose=verbose, stderr=stderr)


def demo(argv: Sequence[str]) -> int:
    """`llmp demo ...` (handed straight to the demo's own parser): errors as for any command."""
    from llmp._demo import main as demo_main

    return _guarded(lambda: demo_main(list(argv)), False, sys.stderr)


def demo_command(ctx: Any) -> int:
    """`llmp -v demo ...`: the demo reached through the parser (global options first)."""
    from llmp._demo import main as demo_main

    return demo_main(list(ctx.args.demo_args))


def missing_action(ctx: Any) -> int:
    raise UsageError(
        f"'llmp {ctx.args.command_name}' needs an action; see 'llmp {ctx.args.command_name} --help'"
    )
