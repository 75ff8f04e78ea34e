"""Prompts from a file: JSON lines, CSV/TSV with a prompt column, or plain text, one per line.

A file is read twice: once up front to count and check every record, so a malformed line 90,000
fails before the first request is paid for and the progress bar knows its total; then again,
lazily, while the job runs, so a file of millions of prompts is never held in memory. Stdin
cannot be read twice and is kept in memory instead.

Record numbering is what ``run``'s output ``index`` refers to: the n-th prompt (0-based), with
blank lines of a text file skipped.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from llmp._cli._errors import CLIError

__all__ = ["FORMATS", "PromptSource", "detect_format"]

FORMATS = ("jsonl", "csv", "tsv", "text")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
# csv's default field limit (128 KiB) is smaller than many real prompts.
_CSV_FIELD_LIMIT = 2**31 - 1


def detect_format(name: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    if name == "-":
        return "text"
    return _SUFFIXES.get(Path(name).suffix.lower(), "text")


class PromptSource:
    """The prompts of one input, iterable more than once, with a length.

    ``len()`` makes it `Sized`, which is how `LLM.generate` learns the total for its progress bar.
    """

    def __init__(self, name: str, fmt: str | None = None, field: str = "prompt", stdin: TextIO | None = None):
        self.name = name
        self.format = detect_format(name, fmt)
        self.field = field
        self._lines: list[str] | None = None
        if name == "-":
            self._lines = (stdin or sys.stdin).read().splitlines(keepends=True)
        elif not Path(name).is_file():
            raise CLIError(f"input file {name} does not exist")
        self._count = sum(1 for _ in self._prompts())
        if self._count == 0:
            raise CLIError(f"{self._where()} holds no prompts")

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return self._prompts()

    def _where(self) -> str:
        return "stdin" if self.name == "-" else self.name

    def _open(self) -> TextIO:
        if self._lines is not None:
            return io.StringIO("".join(self._lines))
        try:
            # utf-8-sig: spreadsheet exports often start with a byte-order mark.
            return open(self.name, encoding="utf-8-sig", newline="")  # closed by callers
        except OSError as exc:
            raise CLIError(f"cannot read {self.name}: {exc.strerror or exc}") from exc

    def _prompts(self) -> Iterator[str]:
        with self._open() as f:
            try:
                if self.format == "jsonl":
                    yield from self._jsonl(f)
                elif self.format in ("csv", "tsv"):
                    yield from self._csv(f, "\t" if self.format == "tsv" else ",")
                else:
                    for line in f:
                        text = line.rstrip("\r\n")
                        if text.strip():
                            yield text
            except UnicodeDecodeError as exc:
                raise CLIError(f"{self._where()} is not UTF-8 text: {exc}") from exc

    def _jsonl(self, f: TextIO) -> Iterator[str]:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{self._where()}, line {number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CLIError(f"{where}: not JSON ({exc})") from exc
            if isinstance(record, dict):
                if self.field not in record:
                    raise CLIError(
                        f"{where}: no {self.field!r} key (keys: {', '.join(record) or 'none'}); "
                        "choose one with --field"
                    )
                record = record[self.field]
            if not isinstance(record, str) or not record:
                raise CLIError(f"{where}: the prompt must be a non-empty string, got {record!r:.60}")
            yield record

    def _csv(self, f: TextIO, delimiter: str) -> Iterator[str]:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
        reader = csv.DictReader(f, delimiter=delimiter)
        columns = reader.fieldnames or []
        if self.field not in columns:
            raise CLIError(
                f"{self._where()}: no {self.field!r} column in the header "
                f"(columns: {', '.join(columns) or 'none'}); choose one with --field"
            )
        for row in reader:
            prompt = row.get(self.field)
            if not prompt:
                raise CLIError(f"{self._where()}, line {reader.line_num}: empty {self.field!r}")
            yield prompt
