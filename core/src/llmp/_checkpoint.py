"""JSONL checkpoints: every finished item is on disk the moment it finishes, and only there.

One line per finished item::

    {"v": 2, "index": 0, "request_hash": "...", "response": {...} | null,
     "error": {"type": "...", "message": "..."} | null}

`response` is the item's whole result as JSON (opaque here); `request_hash` is its cache key, so a
file from a different job (other prompts, model or parameters) is recognised and refused instead of
silently mixed in. A line from an older llmp (``"outputs"``, no ``"v"``) is refused the same way.

Memory stays flat however big the answers are: opening a file scans it once and keeps, per index,
only where its last line is (offset and length, 16 bytes); answers are read back from disk when
asked for. Damage is contained: a torn last line (a kill mid-write) is cut off; an unreadable line
elsewhere is skipped and reported on the ``llmp.checkpoint`` logger, and every valid line after it
is kept. One run at a time: the file is locked (``flock``, which the kernel drops when its holder
dies) from opening until `finish` or `close`; a second run gets `CheckpointLockedError` at once.

When the job ends, `finish` rewrites the file in prompt order with exactly one line per prompt,
atomically (a uniquely named temporary file, fsync, `os.replace`); after a kill at any moment the
file on disk is either the old append-only one or the new ordered one, both valid to resume from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from llmp.errors import CheckpointLockedError, CheckpointMismatchError, ConfigurationError

__all__ = ["Checkpoint"]

logger = logging.getLogger("llmp.checkpoint")

VERSION = 2
# Line numbers named in the warning about unreadable lines (the count is always given).
_REPORTED_BAD_LINES = 5
# Attempts to lock the file when another process keeps replacing it under us (its `finish`).
_LOCK_ATTEMPTS = 5
# A real index is a prompt's position; past this, a line that parses is still corrupt (and would
# size the per-index arrays absurdly).
_MAX_INDEX = 2**32

if sys.platform == "win32":  # pragma: no cover - Linux and macOS are what CI runs
    import msvcrt

    # A byte far past any real end: a lock there keeps other handles from reading no line.
    _LOCK_OFFSET = 2**62

    def _try_lock(file: IO[bytes]) -> bool:
        file.seek(_LOCK_OFFSET)
        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(file: IO[bytes]) -> bool:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _error_record(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "message": str(error)}


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a text: escaped, still valid JSON
        return (json.dumps(record) + "\n").encode("ascii")


class _BadLine(ValueError):
    """A line that is not a checkpoint record (garbage, a partial write, a hand edit)."""


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except ValueError as error:  # also UnicodeDecodeError
        raise _BadLine(str(error)) from None
    if not isinstance(record, dict):
        raise _BadLine("not a JSON object")
    return record


def _index_of(record: dict[str, Any]) -> tuple[int, bool]:
    """A v2 record's index and whether it holds a response; `_BadLine` if it is malformed."""
    index, request_hash = record.get("index"), record.get("request_hash")
    if type(index) is not int or not 0 <= index < _MAX_INDEX or not isinstance(request_hash, str):
        raise _BadLine("no valid index and request_hash")
    response = record.get("response")
    if response is not None and not isinstance(response, dict):
        raise _BadLine("response is not a JSON object")
    return index, response is not None


class Checkpoint:
    """The append-only record of a job's finished items, with resume. See the module docstring.

    Not thread-safe: one job (one event loop) uses it at a time, which the lock enforces.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Per index: the offset of its last line (-1: none) and that line's length, negated when
        # the item failed. Arrays, not dicts of records: 16 bytes an item.
        self._offsets = array("q")
        self._lengths = array("q")
        self._finished = 0
        self._end = 0  # the file's size: where the next line goes
        self._created = False
        self._written = False
        self._file: IO[bytes] | None = self._open_locked()
        try:
            self._scan()
            self._remove_stale_temporaries()
        except BaseException:
            self._release()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _open_locked(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_LOCK_ATTEMPTS):
            self._created = not self.path.exists()
            try:
                # Unbuffered append: every line reaches the OS in the write call that writes it.
                file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - held until finish/close
            except IsADirectoryError:
                raise ConfigurationError(
                    f"output_jsonl {self.path} is a directory: give the path of a file in it"
                ) from None
            if not _try_lock(file):
                file.close()
                raise CheckpointLockedError(
                    f"{self.path} is being written by another run (another process, or another "
                    "job in this one). Wait for it to end, or use another output_jsonl path."
                )
            # Another run's `finish` may have replaced the file between our open and our lock:
            # then we hold the old, unlinked file; open the new one.
            with contextlib.suppress(FileNotFoundError):
                on_disk, held = os.stat(self.path), os.fstat(file.fileno())
                if (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino):
                    return file
            file.close()
        raise CheckpointLockedError(f"{self.path} keeps being replaced by another run; try again.")

    def _scan(self) -> None:
        """Index every line; cut a torn tail; report unreadable lines; refuse another format."""
        assert self._file is not None
        bad: list[int] = []
        offset = 0
        torn_at: int | None = None
        ends_line = True
        with open(self.path, "rb") as reader:  # buffered: many small reads become few
            for number, raw in enumerate(reader, start=1):
                ends_line = raw.endswith(b"\n")
                try:
                    index, ok = _index_of(self._check_format(_parse(raw), number))
                except _BadLine:
                    if ends_line:
                        bad.append(number)
                    else:
                        torn_at = offset  # killed mid-write: the tail is cut off below
                else:
                    self._set(index, offset, len(raw), ok)
                offset += len(raw)
        self._end = offset
        if torn_at is not None:
            self._file.truncate(torn_at)
            self._end = torn_at
        elif not ends_line:
            self._append(b"\n")  # a whole record without its newline (a hand edit): end it
        if bad:
            shown = ", ".join(map(str, bad[:_REPORTED_BAD_LINES]))
            logger.warning(
                "%s: skipped %d unreadable line(s) (line %s%s); their items will be sent again, "
                "every other line is kept",
                self.path,
                len(bad),
                shown,
                ", ..." if len(bad) > _REPORTED_BAD_LINES else "",
            )

    def _check_format(self, record: dict[str, Any], number: int) -> dict[str, Any]:
        version = record.get("v")
        if version is None and "outputs" in record:
            raise CheckpointMismatchError(
                f"{self.path} was written by an older llmp version (line {number} has 'outputs' "
                "and no 'v'); this version cannot resume it, as its records and request hashes "
                "differ. Move or delete the file and run the job again, or use another "
                "output_jsonl path."
            )
        if type(version) is int and version > VERSION:
            raise CheckpointMismatchError(
                f"{self.path} was written by a newer llmp version (line {number} has format "
                f"v={version}, this one reads v={VERSION}). Upgrade llmp, or use another "
                "output_jsonl path."
            )
        if version != VERSION:
            raise _BadLine(f"format v={version!r}")
        return record

    def _remove_stale_temporaries(self) -> None:
        # Only the lock holder writes temporaries, so any left over is from a run killed in
        # `finish`; the name pattern (see `finish`) matches no other file's.
        pattern = re.compile(rf"\.{re.escape(self.path.name)}\.\d+-[0-9a-f]{{8}}\.tmp")
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if pattern.fullmatch(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # -- the index -------------------------------------------------------------------------

    def _set(self, index: int, offset: int, length: int, ok: bool) -> None:
        if index >= len(self._offsets):
            grow = index + 1 - len(self._offsets)
            self._offsets.extend(array("q", [-1]) * grow)
            self._lengths.extend(array("q", [0]) * grow)
        was_ok = self._offsets[index] >= 0 and self._lengths[index] > 0
        self._finished += int(ok) - int(was_ok)
        self._offsets[index] = offset
        self._lengths[index] = length if ok else -length

    @contextlib.contextmanager
    def _reader(self) -> Iterator[IO[bytes]]:
        """The file to read lines back from: ours while open, else the file as it is now."""
        if self._file is not None:
            yield self._file
        else:
            with open(self.path, "rb", buffering=0) as file:
                yield file

    def _record(self, index: int, file: IO[bytes]) -> dict[str, Any] | None:
        """Item `index`'s last record, read back from disk; None if it has none."""
        if index >= len(self._offsets) or (offset := self._offsets[index]) < 0:
            return None
        try:
            return _parse(_read_at(file, offset, abs(self._lengths[index])))
        except _BadLine:
            raise self._changed() from None

    def _changed(self) -> CheckpointMismatchError:
        return CheckpointMismatchError(
            f"{self.path} changed on disk while llmp used it (another program wrote it); "
            "run the job again to resume from what is there now."
        )

    # -- the job's interface ---------------------------------------------------------------

    @property
    def finished(self) -> int:
        """How many items have a response on disk now (failed ones are not counted)."""
        return self._finished

    def count_finished(self, total: int | None) -> int:
        """Like `finished`, counting only the items of a job of `total` prompts (all if None)."""
        if total is None or total >= len(self._lengths):
            return self._finished
        return sum(1 for i in range(total) if self._offsets[i] >= 0 and self._lengths[i] > 0)

    def restored(self, index: int, request_hash: str) -> dict[str, Any] | None:
        """The saved response of item `index` if it finished before, else None (a failed item is
        tried again). `CheckpointMismatchError` if that line is of a different request."""
        with self._reader() as file:
            record = self._record(index, file)
        if record is None:
            return None
        if record.get("request_hash") != request_hash:
            raise CheckpointMismatchError(
                f"{self.path} holds item {index} of a different job (its request differs: other "
                "prompts, model or parameters). Use another output_jsonl path, or delete the file to "
                "start over."
            )
        response: dict[str, Any] | None = record.get("response")
        return response

    def write(
        self,
        index: int,
        request_hash: str,
        response: dict[str, Any] | None,
        error: BaseException | None,
    ) -> None:
        """Append item `index`'s result (`response`, or None and the `error` it failed with)."""
        record = {
            "v": VERSION,
            "index": index,
            "request_hash": request_hash,
            "response": response,
            "error": _error_record(error) if error is not None else None,
        }
        line = _encode(record)
        offset = self._end
        self._append(line)
        self._written = True
        self._set(index, offset, len(line), response is not None)

    def _append(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError(f"the checkpoint {self.path} is closed")
        view = memoryview(data)
        while view:  # a write to a regular file is whole unless the disk is full; be sure
            written = self._file.write(view)
            view = view[written or 0 :]
        self._end += len(data)

    def finish(self, total: int | None) -> None:
        """The job is done: rewrite the file in prompt order, one line per index below `total`
        (every index if None), atomically; then unlock. Lines of other indices (a longer job's,
        or unreadable ones) are dropped."""
        if self._file is None:
            raise ValueError(f"the checkpoint {self.path} is closed")
        count = len(self._offsets) if total is None else min(total, len(self._offsets))
        offsets, lengths = array("q", [-1]) * count, array("q", [0]) * count
        # Unique per writer: two processes (or a stale one) never share a temporary file.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "xb") as out:
                written = 0
                for index in range(count):
                    if (offset := self._offsets[index]) < 0:
                        continue
                    raw = _read_at(self._file, offset, abs(self._lengths[index]))
                    out.write(raw)
                    offsets[index], lengths[index] = written, self._lengths[index]
                    written += len(raw)
                out.flush()
                os.chmod(tmp, os.fstat(self._file.fileno()).st_mode & 0o777)
                os.fsync(out.fileno())
            if sys.platform == "win32":  # pragma: no cover - cannot replace a file held open
                self._release()
            os.replace(tmp, self.path)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(error, _BadLine):
                raise self._changed() from None
            raise
        _fsync_directory(self.path.parent)
        self._offsets, self._lengths = offsets, lengths
        self._finished = sum(1 for length in lengths if length > 0)
        self._end = written
        self._release()

    def close(self) -> None:
        """The job stopped early: leave the append-only file as it is (valid to resume), unlock."""
        if self._file is not None and self._created and not self._written and self._end == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # opened for a job that wrote nothing: leave no empty file
        self._release()

    def _release(self) -> None:
        # Closing the descriptor drops the lock.
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every item's record in index order, read from disk one at a time."""
        with self._reader() as file:
            for index in range(len(self._offsets)):
                record = self._record(index, file)
                if record is not None:
                    yield record

    def __repr__(self) -> str:
        state = "open" if self._file is not None else "closed"
        return f"<Checkpoint {str(self.path)!r} {state}, {self._finished} finished>"


def _read_at(file: IO[bytes], offset: int, length: int) -> bytes:
    file.seek(offset)
    data = file.read(length) or b""
    while len(data) < length and (more := file.read(length - len(data))):
        data += more
    if len(data) != length:
        raise _BadLine("the file is shorter than its index says")
    return data


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX; a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
