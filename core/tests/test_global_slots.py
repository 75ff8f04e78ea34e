"""Machine-wide concurrency slots: the cap holds within a process, across processes, and
survives a process killed while holding slots."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from llmp._global_slots import global_slots, global_slots_from_env
from llmp._machine_slots import MachineSlot, MachineSlots
from llmp._paths import _private_dir, default_slots_dir
from llmp.errors import ConfigurationError

SPAWN = multiprocessing.get_context("spawn")

# A Slot dropped without release() warns and frees itself in __del__; here that is a test failure.
pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")


def _take_all(slots: MachineSlots) -> list[MachineSlot]:
    taken = []
    while (slot := slots.try_acquire()) is not None:
        taken.append(slot)
    return taken


# -- one process --------------------------------------------------------------------------------


async def test_many_tasks_never_exceed_the_limit_and_reach_it(tmp_path: Path) -> None:
    slots = MachineSlots(3, tmp_path)
    current = peak = done = 0

    async def worker() -> None:
        nonlocal current, peak, done
        for _ in range(5):
            async with await slots.acquire():
                current += 1
                peak = max(peak, current)
                for _ in range(3):  # hand the loop to the other tasks while holding the slot
                    await asyncio.sleep(0)
                current -= 1
            done += 1

    await asyncio.gather(*(worker() for _ in range(40)))
    assert peak == 3
    assert done == 200
    assert slots.held == 0
    taken = _take_all(MachineSlots(3, tmp_path))
    assert len(taken) == 3  # every slot really unlocked
    for slot in taken:
        slot.release()


def test_try_acquire_hands_out_each_slot_once(tmp_path: Path) -> None:
    slots = MachineSlots(4, tmp_path)
    taken = _take_all(slots)
    assert sorted(s.index for s in taken) == [0, 1, 2, 3]
    assert slots.try_acquire() is None
    assert slots.held == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"slot-{i}.lock" for i in range(4)]
    for slot in taken:
        slot.release()


def test_release_is_idempotent_and_really_unlocks(tmp_path: Path) -> None:
    mine, other = MachineSlots(2, tmp_path), MachineSlots(2, tmp_path)
    a, b = _take_all(mine)
    assert other.try_acquire() is None  # two instances exclude each other like two processes
    a.release()
    a.release()  # a second release must not unlock a slot someone else took meanwhile
    assert a.released
    again = mine.try_acquire()
    assert again is not None
    assert again.index == a.index
    a.release()
    assert mine.held == 2
    assert other.try_acquire() is None
    again.release()
    got = other.try_acquire()
    assert got is not None
    assert got.index == a.index
    got.release()
    b.release()


def test_slot_is_a_context_manager(tmp_path: Path) -> None:
    slots = MachineSlots(1, tmp_path)
    slot = slots.try_acquire()
    assert slot is not None
    with slot:
        assert slots.try_acquire() is None
    assert slot.released
    assert slots.held == 0


def test_limit_must_be_positive(tmp_path: Path) -> None:
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive integer"):
            MachineSlots(bad, tmp_path)


async def test_cancelled_waiter_takes_no_slot(tmp_path: Path) -> None:
    slots = MachineSlots(1, tmp_path)
    holder = await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)  # let it run up to its wait
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    holder.release()
    assert slots.held == 0
    async with await slots.acquire() as slot:
        assert slot.index == 0
    assert slots.held == 0


async def test_waiter_cancelled_just_after_being_handed_a_slot_gives_it_back(tmp_path: Path) -> None:
    """The poller resolves a waiter, and the waiter is cancelled before it resumes."""

    class CancelAfterHandOff(MachineSlots):
        victim: asyncio.Task[MachineSlot] | None = None
        handed_off = False

        def try_acquire(self) -> MachineSlot | None:
            slot = super().try_acquire()
            if self.victim is not None:
                if slot is not None:
                    self.handed_off = True
                elif self.handed_off:
                    # The poller gave the victim its slot and is probing for the next waiter.
                    self.victim.cancel()
                    self.victim = None
            return slot

    slots = CancelAfterHandOff(1, tmp_path)
    holder = await slots.acquire()
    victim = asyncio.create_task(slots.acquire())
    other = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert not victim.done()
    assert not other.done()
    slots.victim = victim
    holder.release()
    with pytest.raises(asyncio.CancelledError):
        await victim
    assert slots.handed_off
    assert slots.held == 0  # released by the cancelled acquire(), not left to the garbage collector
    slot = await asyncio.wait_for(other, timeout=30)  # the victim's slot went back to the pool
    assert slots.held == 1
    slot.release()
    assert slots.held == 0


async def test_waiters_hold_nothing_and_are_served_in_order(tmp_path: Path) -> None:
    slots, outsider = MachineSlots(2, tmp_path), MachineSlots(2, tmp_path)
    first, second = _take_all(outsider)
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(5)]
    await asyncio.sleep(0)
    assert slots.held == 0  # all five wait, none holds anything
    first.release()
    got = await asyncio.wait_for(waiters[0], timeout=30)
    assert slots.held == 1
    assert not any(w.done() for w in waiters[1:])  # one slot freed, one waiter served
    got.release()
    second.release()
    for waiter in waiters[1:]:
        slot = await asyncio.wait_for(waiter, timeout=30)
        slot.release()
    assert slots.held == 0


# -- across processes ---------------------------------------------------------------------------

# Child processes run these sources through `exec` so that they import only llmp, not this
# module: importing pytest costs ~0.5 s per child, which would dominate the test.
_CONTENDER_SRC = """
import asyncio
from llmp._machine_slots import MachineSlots

async def main():
    slots = MachineSlots(limit, directory)

    async def task():
        for _ in range(rounds):
            async with await slots.acquire():
                with current.get_lock():
                    current.value += 1
                    peak.value = max(peak.value, current.value)
                await asyncio.sleep(0.001)  # the request this slot stands for
                with current.get_lock():
                    current.value -= 1
                    total.value += 1

    await asyncio.gather(*(task() for _ in range(tasks)))

barrier.wait()
asyncio.run(main())
"""


def test_processes_share_the_cap(tmp_path: Path) -> None:
    limit, procs_n, tasks, rounds = 3, 4, 12, 4
    current, peak, total = SPAWN.Value("i", 0), SPAWN.Value("i", 0), SPAWN.Value("i", 0)
    barrier = SPAWN.Barrier(procs_n)
    env = {
        "limit": limit,
        "directory": str(tmp_path),
        "rounds": rounds,
        "tasks": tasks,
        "current": current,
        "peak": peak,
        "total": total,
        "barrier": barrier,
    }
    procs = [SPAWN.Process(target=exec, args=(_CONTENDER_SRC, env)) for _ in range(procs_n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=90)
    assert [p.exitcode for p in procs] == [0] * procs_n
    assert total.value == procs_n * tasks * rounds
    assert current.value == 0
    assert peak.value == limit


_HOLDER_SRC = """
import threading
from llmp._machine_slots import MachineSlots
slots = MachineSlots(limit, directory)
held = [slots.try_acquire() for _ in range(limit)]
assert all(s is not None for s in held)
holding.set()
threading.Event().wait()  # hold until killed
"""


def test_a_killed_process_releases_its_slots(tmp_path: Path) -> None:
    limit = 3
    holding = SPAWN.Event()
    proc = SPAWN.Process(
        target=exec, args=(_HOLDER_SRC, {"limit": limit, "directory": str(tmp_path), "holding": holding})
    )
    proc.start()
    try:
        assert holding.wait(timeout=60)
        slots = MachineSlots(limit, tmp_path)
        assert slots.try_acquire() is None
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    taken = _take_all(slots)
    assert len(taken) == limit
    for slot in taken:
        slot.release()


FORK_SCRIPT = """
import multiprocessing, sys
from llmp._machine_slots import MachineSlots

def take_all(slots):
    taken = []
    while (slot := slots.try_acquire()) is not None:
        taken.append(slot)
    return taken

def child(slot, slots, out):
    slot.release()  # the parent's slot: must not unlock the parent's lock
    out.put(slots.held)
    out.put(len(take_all(slots)))

ctx = multiprocessing.get_context("fork")
slots = MachineSlots(3, sys.argv[1])
parents = slots.try_acquire()
assert parents is not None
out = ctx.Queue()
proc = ctx.Process(target=child, args=(parents, slots, out))
proc.start()
held_in_child, taken_in_child = out.get(timeout=60), out.get(timeout=60)
proc.join(timeout=60)
assert proc.exitcode == 0, proc.exitcode
assert held_in_child == 0, held_in_child
assert taken_in_child == 2, taken_in_child  # the parent's slot stayed locked in the child
assert not parents.released
outsider = MachineSlots(3, sys.argv[1])
taken = take_all(outsider)
assert len(taken) == 2, taken  # the child's slots died with it; the parent's is still held
for slot in [*taken, parents]:
    slot.release()
outsider.close()
print("fork ok")
"""


def test_forked_child_cannot_release_or_reuse_the_parents_slots(tmp_path: Path) -> None:
    # In a fresh interpreter: forking the threaded test process could hang the child on a lock
    # another test's thread held at the fork, which says nothing about the slots.
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "fork ok" in out.stdout, out.stderr[-2000:]


def test_close_drops_held_slots(tmp_path: Path) -> None:
    slots, other = MachineSlots(2, tmp_path), MachineSlots(2, tmp_path)
    stale = _take_all(slots)
    assert other.try_acquire() is None
    slots.close()
    assert slots.held == 0
    taken = _take_all(other)
    assert len(taken) == 2
    for slot in stale:
        slot.release()  # a no-op now: must not disturb the other instance's locks
    assert other.held == 2
    assert slots.try_acquire() is None
    for slot in taken:
        slot.release()
    reopened = slots.try_acquire()  # a closed instance reopens its files on demand
    assert reopened is not None
    reopened.release()


# -- configuration ------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (
        "LLMP_GLOBAL_CONCURRENCY",
        "LLM_GLOBAL_CONCURRENCY",
        "LLMP_GLOBAL_SLOTS_DIR",
        "LLMP_GLOBAL_LEASE",
        "LLMP_REDIS_URL",
        "LLM_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path / "cache"))
    return monkeypatch


def _machine(slots: object) -> MachineSlots:
    assert isinstance(slots, MachineSlots)
    return slots


def test_unset_or_empty_means_no_global_cap(env: pytest.MonkeyPatch) -> None:
    assert global_slots_from_env() is None
    env.setenv("LLMP_GLOBAL_CONCURRENCY", "  ")
    assert global_slots_from_env() is None
    env.setenv("LLMP_REDIS_URL", "redis://127.0.0.1:1/0")  # a URL alone sets no cap (and is not dialled)
    assert global_slots_from_env() is None


def test_env_limit_and_a_default_directory_that_ignores_the_cache_dir(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("LLMP_GLOBAL_CONCURRENCY", " 4 ")
    slots = _machine(global_slots_from_env())
    assert slots.limit == 4
    assert slots.directory == default_slots_dir().resolve()
    assert str(slots.directory) == f"/tmp/llmp-{os.getuid()}/slots"
    assert stat.S_IMODE(os.stat(slots.directory.parent).st_mode) == 0o700  # /tmp is shared: private
    assert global_slots_from_env() is slots  # one instance (and set of descriptors) per config
    env.setenv("LLMP_CACHE_DIR", str(tmp_path / "another-cache"))
    assert global_slots_from_env() is slots  # regression (issue 15.9): not per cache directory
    env.setenv("LLMP_GLOBAL_CONCURRENCY", "2")
    changed = _machine(global_slots_from_env())
    assert changed.limit == 2  # the environment is read on every call
    assert changed.directory == slots.directory


def test_llm_variant_and_directory_override(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("LLM_GLOBAL_CONCURRENCY", "5")
    env.setenv("LLMP_GLOBAL_SLOTS_DIR", str(tmp_path / "elsewhere"))
    slots = _machine(global_slots_from_env())
    assert slots.limit == 5
    assert slots.directory == (tmp_path / "elsewhere").resolve()
    env.setenv("LLMP_GLOBAL_CONCURRENCY", "7")  # the llmp name wins
    preferred = global_slots_from_env()
    assert preferred is not None
    assert preferred.limit == 7


@pytest.mark.parametrize("name", ["LLMP_GLOBAL_CONCURRENCY", "LLM_GLOBAL_CONCURRENCY"])
@pytest.mark.parametrize("raw", ["abc", "0", "-3", "2.5", "4 slots"])
def test_bad_values_are_errors_naming_the_variable(env: pytest.MonkeyPatch, name: str, raw: str) -> None:
    env.setenv(name, raw)
    with pytest.raises(ConfigurationError, match=rf"^{name} must be a positive integer .*got '{raw}'"):
        global_slots_from_env()


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "3"])
def test_bad_explicit_limit_is_an_error_naming_it(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="global_slots limit must be a positive integer"):
        global_slots(limit, redis_url="")  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "0.1", "inf", "nan"])
def test_bad_lease_is_an_error_naming_the_variable(env: pytest.MonkeyPatch, raw: str) -> None:
    env.setenv("LLMP_GLOBAL_CONCURRENCY", "2")
    env.setenv("LLMP_REDIS_URL", "redis://127.0.0.1:1/0")
    env.setenv("LLMP_GLOBAL_LEASE", raw)
    with pytest.raises(
        ConfigurationError, match=rf"^LLMP_GLOBAL_LEASE must be a number of seconds .*got '{raw}'"
    ):
        global_slots_from_env()


# -- the default directory is safe in a shared /tmp ---------------------------------------------------


def test_private_dir_is_created_0700_and_tightened_if_too_open(tmp_path: Path) -> None:
    root = tmp_path / "llmp-me"
    _private_dir(root)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert (root / "slots").is_dir()
    os.chmod(root, 0o777)
    _private_dir(root)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


def test_private_dir_refuses_a_symlink_or_a_file(tmp_path: Path) -> None:
    target = tmp_path / "someone-elses"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ConfigurationError, match=r"link is not a directory .*LLMP_GLOBAL_SLOTS_DIR"):
        _private_dir(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match=r"file is not a directory"):
        _private_dir(tmp_path / "file")


def test_private_dir_refuses_a_directory_of_another_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "planted"
    root.mkdir(mode=0o777)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(root).st_uid + 1)  # as if someone else made it
    with pytest.raises(ConfigurationError, match=r"planted belongs to uid \d+, not to you"):
        _private_dir(root)


# -- two processes, two cache directories, one cap (issue 15.9) ---------------------------------------
