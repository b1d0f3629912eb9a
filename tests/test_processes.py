"""The worker's processes are found and killed from outside, by what the kernel says about them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from grader import processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_process_family_includes_grandchildren():
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while len(processes.family(processes.snapshot(), shell.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        family = processes.family(processes.snapshot(), shell.pid)
        assert len(family) == 3
        assert {member.ppid for member in family} == {os.getpid(), shell.pid}
    finally:
        os.killpg(shell.pid, 9)
        shell.wait()


def test_a_pid_given_to_another_process_is_not_killed():
    sleeper = subprocess.Popen(["sleep", "30"])
    started = processes.start_time(sleeper.pid)
    processes.kill_all({sleeper.pid: started + 1})  # as if the pid had been reused since it was seen
    assert sleeper.poll() is None
    processes.kill_all({sleeper.pid: started})
    assert sleeper.wait(timeout=5) == -9


def test_memory_counts_shared_anonymous_mappings():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import mmap, sys, time\n"
            "m = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)\n"
            "m.write(b'1' * (64 << 20)); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"ready\n"
        assert processes.memory_bytes([holder.pid]) > 64 << 20
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing user takes root")
def test_every_process_of_a_private_user_is_killed_detached_ones_too():
    uid = 1_900_009_999
    daemon = subprocess.Popen(
        ["sh", "-c", "setsid sleep 30.0919 & sleep 30.0919 & wait"], user=uid, group=uid, extra_groups=[]
    )
    deadline = time.monotonic() + 5
    while sum(p.uid == uid for p in processes.snapshot()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes.kill_user(uid)
    assert [p for p in processes.snapshot() if p.uid == uid and p.state != "Z"] == []
    daemon.wait(timeout=5)


def test_disk_usage_counts_bytes_and_entries_without_following_links(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y")
    (tmp_path / "link").symlink_to("/usr")
    used, entries = processes.disk_usage([tmp_path], max_entries=1000)
    assert entries == 4
    assert 100_000 <= used < 1_000_000


def test_a_killed_group_is_gone_when_the_kill_returns_grandchildren_too():
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & sh -c 'sleep 30 & wait' & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(processes.family(processes.snapshot(), shell.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = {member.pid for member in processes.family(processes.snapshot(), shell.pid)}
    assert len(members) == 4
    assert processes.kill_group(shell.pid)
    assert not [p for p in processes.snapshot() if p.pid in members and p.state != "Z"]
    assert shell.wait(timeout=5) == -9
