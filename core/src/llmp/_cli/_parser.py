"""Every command and option of `llmp`, declared without importing any command's code.

`llmp --help` has to start in well under 150 ms, so this module imports only argparse; each
command names its handler as ``"module:function"``, imported once that command runs.
"""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]

_DESCRIPTION = "llmp: a thin, fast LLM client. One call shape for every provider, each a plugin."
_EPILOG = """\
examples:
  llmp ask "What is 2+2?"                     one answer (streamed on a terminal)
  git diff | llmp ask -s "Review this diff"   the prompt from stdin
  llmp chat -m fast                           a conversation ("fast": an alias from the config)
  llmp run prompts.jsonl -o answers.jsonl     a big job; run it again to resume
  llmp routes gpt-4.1-mini                    which plugin serves a model

config: ~/.config/llmp/config.toml (or $LLMP_CONFIG, --config): default_model, [aliases], [[routes]].
"""


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the top parser and on every subcommand, so `llmp -v ask ...` and `llmp ask -v ...` both
    # work; SUPPRESS keeps a subcommand's unset option from overwriting the top-level value.
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="config file (default: $LLMP_CONFIG or ~/.config/llmp/config.toml)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show the full traceback when something fails",
    )


def _model(parser: argparse.ArgumentParser, *, system: bool = True, params: bool = True) -> None:
    parser.add_argument("-m", "--model", help="model name or config alias (default: the config's)")
    if system:
        parser.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    if params:
        parser.add_argument(
            "-p",
            "--param",
            action="append",
            metavar="KEY=VALUE",
            help="generation parameter, repeatable: -p temperature=0 -p max_tokens=256 (JSON values)",
        )
        parser.add_argument("--no-cache", action="store_true", help="neither read nor write the disk cache")


def _input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", help="prompts: .jsonl, .csv/.tsv (a 'prompt' column) or text, one per line; - for stdin"
    )
    parser.add_argument(
        "--format", choices=("jsonl", "csv", "tsv", "text"), help="input format (default: from the file name)"
    )
    parser.add_argument(
        "--field", default="prompt", help="the JSONL key or CSV column holding the prompt (default: prompt)"
    )


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: str,
    summary: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=description or summary)
    parser.set_defaults(handler=handler)
    _common(parser, top=False)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmp",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"llmp {_version()}")
    _common(parser, top=True)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    ask = _add(sub, "ask", "llmp._cli._ask:ask", "ask one question and print the answer")
    ask.add_argument("prompt", nargs="*", help="the prompt (words are joined); stdin is read when piped")
    _model(ask)
    ask.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the answer as it arrives (default: on a terminal)",
    )
    ask.add_argument("-u", "--usage", action="store_true", help="print tokens and cost to stderr")

    chat = _add(
        sub,
        "chat",
        "llmp._cli._chat:chat",
        "an interactive conversation (history kept for the session)",
        description="An interactive conversation. Type /exit (or Ctrl-D) to quit, /reset to forget "
        "the history. Reads lines from stdin, so it also takes piped input.",
    )
    _model(chat)
    chat.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stream replies (default: on a terminal)",
    )
    chat.add_argument("-u", "--usage", action="store_true", help="print tokens and cost when the chat ends")

    run = _add(
        sub,
        "run",
        "llmp._cli._run:run",
        "run a file of prompts as a big job (resumable)",
        description="Run every prompt of a file through one model, in parallel, with a progress bar. "
        "Each finished item is written to OUTPUT at once; running the same command again resumes and "
        "never re-sends a finished prompt (failed ones are retried).",
    )
    _input(run)
    run.add_argument(
        "-o", "--output", required=True, help="results, one JSON line per prompt (also the resume file)"
    )
    _model(run)
    run.add_argument("-n", type=int, default=1, help="samples per prompt (default: 1)")
    run.add_argument("-c", "--concurrency", type=int, default=32, help="requests in flight (default: 32)")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal)",
    )

    _batch(sub)

    routes = _add(
        sub, "routes", "llmp._cli._inspect:routes", "the routing table, with the plugin owning each row"
    )
    routes.add_argument("model", nargs="?", help="show only how this model (or alias) is routed")
    routes.add_argument("--json", action="store_true", help="machine-readable output")

    capabilities = _add(
        sub,
        "capabilities",
        "llmp._cli._capabilities:capabilities",
        "what each model's client supports: tools, schemas, reasoning, images, batch (no request sent)",
    )
    capabilities.add_argument("models", nargs="+", metavar="MODEL", help="models (or aliases) to compare")
    capabilities.add_argument("--json", action="store_true", help="machine-readable output")

    plugins = _add(
        sub, "plugins", "llmp._cli._inspect:plugins", "installed plugin distributions, versions and hooks"
    )
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    cache = _add(sub, "cache", "llmp._cli._inspect:cache_stats", "the response cache: stats, clear")
    cache_sub = cache.add_subparsers(title="actions", metavar="ACTION")
    stats = _add(cache_sub, "stats", "llmp._cli._inspect:cache_stats", "path, entries and size (the default)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    clear = _add(cache_sub, "clear", "llmp._cli._inspect:cache_clear", "delete every cached response")
    clear.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    for parser_ in (cache, stats, clear):
        parser_.add_argument(
            "--dir",
            default=None if parser_ is cache else argparse.SUPPRESS,
            help="cache directory (default: $LLMP_CACHE_DIR or ~/.cache/llmp)",
        )
        parser_.add_argument(
            "--cache",
            metavar="URL",
            default=None if parser_ is cache else argparse.SUPPRESS,
            help="a Redis cache, redis://host:6379/0 (default: $LLMP_CACHE_URL, if set and no --dir)",
        )

    config = _add(sub, "config", "llmp._cli._inspect:config", "show the config file's path and settings")
    config.add_argument("--path", action="store_true", help="print only the path")

    # `llmp demo ...` is handed to the demo's own parser before this one runs (see main);
    # this entry lists it in --help.
    demo = sub.add_parser("demo", help="llmp in half a minute: a local fake server, no API key needed")
    demo.set_defaults(handler="llmp._cli:demo_command")
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _batch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batch = sub.add_parser(
        "batch",
        help="provider batch APIs (half price, results within 24 h)",
        description="Provider batch jobs: submit a file of prompts, check on it, fetch the results. "
        "Ids look like openai:2:batch_abc123 and work from any machine with the same account.",
    )
    _common(batch, top=False)
    batch.set_defaults(handler="llmp._cli:missing_action", command_name="batch")
    actions = batch.add_subparsers(title="actions", metavar="ACTION")
    submit = _add(actions, "submit", "llmp._cli._batch:submit", "submit prompts; prints the batch id")
    _input(submit)
    _model(submit)
    submit.add_argument("-n", type=int, default=1, help="samples per prompt (default: 1)")
    for name, handler, text in (
        ("status", "llmp._cli._batch:status", "a batch's status and counts"),
        ("retrieve", "llmp._cli._batch:retrieve", "a finished batch's results, one JSON line per prompt"),
        ("cancel", "llmp._cli._batch:cancel", "cancel a batch"),
    ):
        action = _add(actions, name, handler, text)
        action.add_argument("batch_id", help="the id batch submit printed, e.g. openai:2:batch_abc123")
        _model(action, system=False, params=False)
        if name == "status":
            action.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "retrieve":
            action.add_argument("-o", "--output", help="write the results here (default: stdout)")


def _version() -> str:
    from llmp import __version__  # the package is imported already: this costs nothing

    return __version__
