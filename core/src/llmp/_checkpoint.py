"""JSONL checkpoints: every finished item is on disk the moment it finishes.

One line per finished item: ``{"index", "request_hash", "outputs", "usage", "error"}``. The
request hash is the item's cache key, so a file from a different job (other prompts, model or
parameters) is recognised and refused instead of silently mixed in. A kill -9 can leave a torn
last line; it is dropped on resume. When the job ends the file is rewritten in prompt order with
exactly one line per prompt (atomically, via a temporary file).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from llmp.errors import CheckpointMismatchError

__all__ = ["Checkpoint", "CheckpointMismatchError"]


def _error_record(error: BaseException) -> dict[str, Any]:
    return {"type": type(error).__name__, "message": str(error)}


class Checkpoint:
    """Append-only record of a job's finished items, with resume."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: index -> the last record written for it (restored ones first, then this run's).
        self.done: dict[int, dict[str, Any]] = {}
        self._file: IO[str] | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        good_bytes = 0
        with self.path.open("rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # torn last line (killed mid-write): drop it
                try:
                    record = json.loads(raw)
                    index = int(record["index"])
                except (ValueError, KeyError, TypeError):
                    break
                self.done[index] = record
                good_bytes += len(raw)
        if good_bytes < self.path.stat().st_size:
            with self.path.open("r+b") as f:
                f.truncate(good_bytes)

    def restored(self, index: int, request_hash: str) -> dict[str, Any] | None:
        """The saved outputs for item `index`, if it finished before; checks it is the same request."""
        record = self.done.get(index)
        if record is None:
            return None
        if record.get("request_hash") != request_hash:
            raise CheckpointMismatchError(
                f"{self.path} holds item {index} of a different job (its request differs: other "
                "prompts, model or parameters). Use another output_jsonl path, or delete the file to "
                "start over."
            )
        response = record.get("response")
        return response if isinstance(response, dict) else None  # a failed item is tried again

    def write(
        self,
        index: int,
        request_hash: str,
        response: dict[str, Any] | None,
        error: BaseException | None,
    ) -> None:
        record = {
            "v": 2,
            "index": index,
            "request_hash": request_hash,
            "response": response,
            "error": _error_record(error) if error is not None else None,
        }
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        # One write per line, flushed: after a crash the OS has every line that was written.
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.done[index] = record

    @property
    def finished(self) -> int:
        return sum(1 for record in self.done.values() if record.get("response") is not None)

    def finish(self, total: int | None = None) -> None:
        """Rewrite the file in prompt order, one line per item, atomically."""
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for index in sorted(self.done):
                f.write(json.dumps(self.done[index], ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.done[i] for i in sorted(self.done))
