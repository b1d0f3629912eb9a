"""``grader.reaper``: once the grader lets go of it (closes its standard input, or dies), every process of
the worker's private user is killed, detached ones included, and a Ctrl-C meant for the grader does not
stop it first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import processes

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="running as a private user takes root"
)
UID = 1_900_009_998  # a private user of the tests' own, unused by test_processes


def running_as(uid: int) -> list[int]:
    return [p.pid for p in processes.snapshot() if p.uid == uid and p.state != "Z"]


def ignores(pid: int, *signals: signal.Signals) -> bool:
    """Whether ``pid`` has set all of ``signals`` to be ignored (its SigIgn mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return all(mask & (1 << (number - 1)) for number in signals)


def test_the_private_users_processes_are_killed_once_the_grader_lets_go():
    daemon = subprocess.Popen(
        ["sh", "-c", "setsid sleep 30.0918 & sleep 30.0918 & wait"], user=UID, group=UID, extra_groups=[]
    )
    reaper = subprocess.Popen(
        [sys.executable, "-m", "grader.reaper", str(UID)],
        stdin=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 5
        while len(running_as(UID)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        while not ignores(reaper.pid, signal.SIGINT, signal.SIGTERM) and time.monotonic() < deadline + 5:
            time.sleep(0.02)  # it is starting
        reaper.send_signal(signal.SIGINT)  # a Ctrl-C in the grader's terminal
        reaper.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert reaper.poll() is None and len(running_as(UID)) == 3  # nothing swept while the grader holds on
        assert reaper.stdin is not None
        reaper.stdin.close()  # what the kernel does when the grader dies, however it dies
        assert reaper.wait(timeout=10) == 0
        assert running_as(UID) == []
    finally:
        if reaper.poll() is None:
            reaper.kill()
        processes.kill_user(UID)
        daemon.wait(timeout=5)
