"""Ctrl-C at random moments, in real processes against the fake server (issue 14, items 1 and 2).

`llmp run` and a script using `LLM.iter_generate` get a SIGINT while a 2,000-prompt job runs with
64 in flight; `llmp ask --stream` gets a real Ctrl-C typed into a terminal (tmux). Each must stop
cleanly: exit 130 (the CLI) or a caught KeyboardInterrupt (the script), no traceback, nothing
printed by a dying event loop, and `llmp run`'s "N finished prompts are saved" must be what the
file holds. Every run resumes the previous one's file; `llmp run`'s last run completes the job.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmp._checkpoint import Checkpoint
from llmp_openai.testing import FakeOpenAIServer

pytestmark = pytest.mark.slow

PROMPTS = 2_000
CONCURRENCY = 64
RUNS = 8
# What a clean stop never prints: the old crash, and the noise of a loop killed mid-task.
NOISE = ("Traceback", "RuntimeError", "Exception ignored", "Task was destroyed", "never awaited")


def texts(record: Any) -> list[str]:
    """The sample texts of one checkpoint line (its ``response`` is `Response.to_dict()`)."""
    return [choice["text"] for choice in record["response"]["choices"]]


@pytest.fixture
def env(fake_openai: FakeOpenAIServer, tmp_path: Path) -> dict[str, str]:
    """The fixture's server, cache and key (already in os.environ), and no user config."""
    fake_openai.ttft = 0.02  # a job of 2,000 prompts lasts a few seconds
    environ = {k: v for k, v in os.environ.items() if k not in ("LLMP_CONFIG", "LLMP_MODEL")}
    # PYTHONFAULTHANDLER: a process that hangs is killed with SIGABRT, which prints every stack.
    return environ | {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONFAULTHANDLER": "1"}


def finished_lines(path: Path) -> int:
    """Items whose last line on disk holds a response: what a resume will not send again."""
    if not path.exists():
        return 0
    last: dict[int, bool] = {}
    for raw in path.read_bytes().splitlines():
        record = json.loads(raw)
        last[record["index"]] = record["response"] is not None
    return sum(last.values())


def line_count(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def interrupt_after_progress(
    command: list[str], env: dict[str, str], out: Path, rng: random.Random
) -> tuple[int, str]:
    """Start `command`, SIGINT it once the file has grown by a random number of lines."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target = line_count(out) + rng.randint(1, 150)
    wait_for(lambda: line_count(out) >= target or process.poll() is not None, "progress")
    assert process.poll() is None, f"the job ended before the interrupt: {process.communicate()}"
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        pytest.fail(f"no exit 60 s after SIGINT; its stacks:\n{process.communicate()[1]}")
    return process.returncode, stderr


def test_ctrl_c_in_llmp_run_exits_130_and_reports_what_the_file_holds(
    fake_openai: FakeOpenAIServer, env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"run prompt {i}\n" for i in range(PROMPTS)))
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "llmp", "run", str(source), "-o", str(out), "--no-cache"]
    command += ["-c", str(CONCURRENCY)]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    saved_before = 0
    for run in range(RUNS):
        code, stderr = interrupt_after_progress(command, env, out, rng)
        context = f"run {run} (seed {seed}): {stderr}"
        assert code == 130, context
        assert not any(noise in stderr for noise in NOISE), context
        if saved_before:
            assert f"resuming: {saved_before:,} of {PROMPTS:,} prompts already done" in stderr, context
        last = stderr.strip().splitlines()[-1]
        match = re.fullmatch(
            r"llmp: error: interrupted; ([\d,]+) finished prompts are saved in (.+): "
            r"run the same command again to resume",
            last,
        )
        assert match is not None, context
        assert match[2] == str(out)
        # Item 2: the count is the file's, not the items the CLI had consumed.
        saved_before = finished_lines(out)
        assert int(match[1].replace(",", "")) == saved_before, context
    fake_openai.ttft = 0.0  # the rest of the job, at full speed
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["index"] for r in records] == list(range(PROMPTS))
    assert all(texts(r) == [f"Echo: run prompt {r['index']}"] for r in records)
    # Only what was in flight at each interrupt was sent twice.
    assert PROMPTS <= fake_openai.request_count <= PROMPTS + RUNS * CONCURRENCY


SCRIPT = textwrap.dedent(
    f"""
    import sys, llmp
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent={CONCURRENCY})
    prompts = [f"script prompt {{i}}" for i in range({PROMPTS})]
    consumed = 0
    try:
        for index, result in llm.iter_generate(prompts, output_jsonl=sys.argv[1], progress=False):
            assert result == [f"Echo: script prompt {{index}}"], result
            consumed += 1
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt after {{consumed}} items", file=sys.stderr)
        sys.exit(130)
    print("complete")
    """
)


def test_ctrl_c_in_a_script_using_iter_generate_is_a_clean_keyboard_interrupt(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-c", SCRIPT, str(out)]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for run in range(RUNS):
        code, stderr = interrupt_after_progress(command, env, out, rng)
        context = f"run {run} (seed {seed}): {stderr}"
        assert code == 130, context
        match = re.fullmatch(r"KeyboardInterrupt after (\d+) items\n", stderr)
        assert match is not None, context  # and nothing else: no traceback, no loop noise
        assert int(match[1]) <= finished_lines(out), context
    checkpoint = Checkpoint(out)  # unlocked, and every line whole (the CLI test runs one to the end)
    assert checkpoint.finished == finished_lines(out) > 0
    checkpoint.close()


class Terminal:
    """A real terminal for one command per name: ``start``, read the ``screen``, type ``ctrl_c``.

    tmux where it is installed (``.ci/run`` installs it): a tmux server of our own (its own
    socket), one window per command. Without tmux (a fresh machine with only Python), a
    pseudo-terminal of our own: the command runs in a new session whose controlling terminal is
    the pty, so the ^C written to its master becomes SIGINT from the kernel's line discipline,
    exactly as a key typed into a terminal emulator does.
    """

    def __init__(self, socket: str, env: dict[str, str], *, tmux: bool) -> None:
        self.socket = socket
        self.env = env
        self.tmux_binary = shutil.which("tmux") if tmux else None
        self._ptys: dict[str, _Pty] = {}

    def tmux(self, *args: str) -> str:
        assert self.tmux_binary is not None
        result = subprocess.run(
            [self.tmux_binary, "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def start(self, name: str, command: str) -> None:
        if self.tmux_binary is None:
            self._ptys[name] = _Pty(f"{command}; echo LLMP-EXIT=$?", self.env)
            return
        # The pane stays (sleep) so its screen can still be read after the command ends.
        shell = f"{command}; echo LLMP-EXIT=$?; sleep 600"
        self.tmux("new-session", "-d", "-s", name, "-x", "200", "-y", "50", shell)

    def screen(self, name: str) -> str:
        if self.tmux_binary is None:
            return self._ptys[name].screen()
        return self.tmux("capture-pane", "-p", "-J", "-t", name)

    def ctrl_c(self, name: str) -> None:
        if self.tmux_binary is None:
            self._ptys[name].type(b"\x03")
        else:
            self.tmux("send-keys", "-t", name, "C-c")

    def close(self) -> None:
        if self.tmux_binary is not None:
            subprocess.run(
                [self.tmux_binary, "-L", self.socket, "kill-server"], capture_output=True, check=False
            )
        for pty_ in self._ptys.values():
            pty_.close()


class _Pty:
    """One shell command on a pseudo-terminal (200x50), its output collected by a thread."""

    def __init__(self, shell: str, env: dict[str, str]) -> None:
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        # bash, as tmux runs it: on a Ctrl-C it waits for the command and goes on when the command
        # handled it (exit 130), where dash dies with it and never prints LLMP-EXIT.
        self._process = subprocess.Popen(
            [shutil.which("bash") or "/bin/sh", "-c", shell],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,  # setsid(), then the pty becomes the controlling terminal:
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: every process holding the slave side has exited
                return
            if not data:
                return
            with self._lock:
                self._output += data

    def screen(self) -> str:
        with self._lock:
            return self._output.decode(errors="replace").replace("\r", "")

    def type(self, keys: bytes) -> None:
        os.write(self._master, keys)

    def close(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._reader.join(5)
        os.close(self._master)


# Both where tmux is installed, so the fallback is tested too.
TERMINALS = ["tmux", "pty"] if shutil.which("tmux") else ["pty"]


@pytest.fixture(params=TERMINALS)
def terminal(env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Terminal]:
    terminal = Terminal(f"llmp-test-{os.getpid()}", env, tmux=request.param == "tmux")
    try:
        yield terminal
    finally:
        terminal.close()


def test_ctrl_c_typed_during_llmp_ask_stream_in_a_terminal(
    fake_openai: FakeOpenAIServer, terminal: Terminal
) -> None:
    fake_openai.ttft = 0.0
    fake_openai.token_delay = 0.02  # 100 words: a 2-second stream
    prompt = " ".join(f"word{i}" for i in range(100)) + " THE-END"
    command = f"{shlex.quote(sys.executable)} -m llmp ask --stream --no-cache {shlex.quote(prompt)}"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for run in range(6):
        name = f"ask{run}"
        terminal.start(name, command)
        wait_for(lambda: "Echo: word" in terminal.screen(name), "the stream to start")  # noqa: B023
        time.sleep(rng.uniform(0, 0.6))  # the moment of the Ctrl-C, not a synchronisation
        terminal.ctrl_c(name)
        wait_for(lambda: "LLMP-EXIT=" in terminal.screen(name), "llmp to exit")  # noqa: B023
        screen = terminal.screen(name)
        context = f"run {run} (seed {seed}):\n{screen}"
        assert "LLMP-EXIT=130" in screen, context
        assert "llmp: interrupted" in screen, context
        assert "THE-END" not in screen, "interrupted mid-stream; " + context
        assert not any(noise in screen for noise in NOISE), context
