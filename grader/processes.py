"""The worker's processes, seen from outside: found, measured and killed without any help from them.

Everything here reads ``/proc`` or sends signals from the grader's side, so nothing the student's code
patches inside its own process (``os._exit``, signal handlers, the lifeline thread) changes the outcome.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    uid: int  # the effective user id (the owner of /proc/PID)
    started: int  # clock ticks after boot: with the pid, names one process even after the pid is reused
    state: str  # "R", "S", ..., "Z" for a zombie: dead, waiting for its parent to collect it
    group: int  # the process group: a session's leader and what it started share it


def snapshot() -> list[ProcessInfo]:
    """Every process this grader can see; empty where there is no /proc (macOS). Only /proc/PID/stat is
    read: the cheapest file there, so sampling often costs little."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int(entry.name)
                    fields = _stat_fields(pid)
                    state, ppid, group, started = fields[0], int(fields[1]), int(fields[2]), int(fields[19])
                    found.append(ProcessInfo(pid, ppid, entry.stat().st_uid, started, state, group))
    return found


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from its fourth field on (state, ppid, ...), read after the command name, which may
    hold spaces and parentheses."""
    stat = (PROC / str(pid) / "stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int:
    return int(_stat_fields(pid)[19])


def memory_bytes(pids: list[int]) -> int:
    """Private and shared anonymous memory (RssAnon + RssShmem) of ``pids``, as the kernel counts it:
    shared mappings and memory-backed files mapped in count, which a data-segment limit misses."""
    total_kib = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in (PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total_kib += int(line.split()[1])
    return total_kib * 1024


def family(processes: list[ProcessInfo], root: int, uid: int | None = None) -> list[ProcessInfo]:
    """``root`` and its descendants; with ``uid``, also every process of that (private) user, which finds
    the ones that detached themselves (``setsid`` and a double fork reparent them away from ``root``)."""
    children: dict[int, list[ProcessInfo]] = {}
    for process in processes:
        children.setdefault(process.ppid, []).append(process)
    members = {process.pid: process for process in processes if process.pid == root or process.uid == uid}
    queue = list(members)
    while queue:
        for child in children.get(queue.pop(), []):
            if child.pid not in members:
                members[child.pid] = child
                queue.append(child.pid)
    return list(members.values())


def kill_all(seen: dict[int, int]) -> None:
    """Kill each process of ``seen`` (pid -> start time) that is still the process that was seen: a pid
    that has since been given to another process is left alone."""
    for pid, started in seen.items():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)


def kill_user(uid: int, rounds: int = 50) -> bool:
    """Kill every process of the private user ``uid``: ``kill -KILL -1`` run as that user reaches exactly
    its processes, including ones that forked while the previous round ran. True when none is left."""

    def kill() -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["kill", "-KILL", "-1"], user=uid, group=uid, extra_groups=[], timeout=10, check=False)

    return _kill_until_gone(kill, lambda process: process.uid == uid, rounds)


def kill_group(leader: int, rounds: int = 250) -> bool:
    """Kill the process group of ``leader`` and return once none of it is alive. ``killpg`` only queues
    the signal: each process dies when it next runs, which on a loaded machine can be a while after, and
    whoever goes on (the next entry of a batch) must not share the machine with the last one's leftovers.
    True when none is left."""

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader, signal.SIGKILL)

    return _kill_until_gone(kill, lambda process: process.group == leader, rounds)


def _kill_until_gone(kill: Callable[[], None], member: Callable[[ProcessInfo], bool], rounds: int) -> bool:
    """``kill()`` until no ``member`` is alive (a zombie is dead: it only waits for its parent)."""

    def any_alive() -> bool:
        return any(member(process) and process.state != "Z" for process in snapshot())

    for _ in range(rounds):
        if not any_alive():
            return True
        kill()
        time.sleep(0.02)
    return not any_alive()


def disk_usage(folders: list[Path], max_entries: int) -> tuple[int, int]:
    """Bytes and entries under ``folders`` (links not followed), counting at most ``max_entries`` entries."""
    total, entries = 0, 0
    stack = [str(folder) for folder in folders]
    while stack and entries <= max_entries:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as listing:
            for entry in listing:
                entries += 1
                if entries > max_entries:
                    break
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    return total, entries
