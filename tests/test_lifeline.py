"""A child holding a lifeline exits as soon as its parent is gone, however the parent went."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import processes
from grader.lifeline import LIFELINE_ENV, LIFELINE_EXIT

REPOSITORY = Path(__file__).resolve().parent.parent

# A child that holds the lifeline it is given (as the worker does, or as a graded process started by a batch
# does from its environment), says so, then would work for a minute.
HOLDER = """
import os, sys, time
from grader import lifeline
if sys.argv[1] == "inherited":
    lifeline.hold_inherited_lifeline()
    print(os.environ.get(lifeline.LIFELINE_ENV, "taken"), flush=True)
else:
    lifeline.hold_lifeline(int(sys.argv[1]))
    print("holding", flush=True)
time.sleep(60)
"""


def start_holder(argument: str, lifeline_read: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The holder, once it holds its lifeline, and the line it printed then."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, argument],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(lifeline_read,) if lifeline_read >= 0 else (),
        env={**os.environ, **(env or {})},
    )
    if lifeline_read >= 0:
        os.close(lifeline_read)  # only the child holds the read end
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def exit_code_within(child: subprocess.Popen, seconds: float) -> int | None:
    try:
        return child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return None


def test_the_child_lives_while_the_parent_holds_the_pipe_and_exits_when_it_closes():
    read, write = os.pipe()
    child, _ = start_holder(str(read), read)
    try:
        time.sleep(0.3)
        assert child.poll() is None
    finally:
        os.close(write)  # what the kernel does when the parent dies, however it dies
    assert exit_code_within(child, 5) == LIFELINE_EXIT


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_exits_when_its_parent_is_killed_with_sigkill():
    """The parent alone holds the write end; ``kill -9`` leaves it no chance to clean up."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys\n"
            "read, write = os.pipe()\n"
            f"child = subprocess.Popen([sys.executable, '-c', {HOLDER!r}, str(read)], pass_fds=(read,))\n"
            "os.close(read); print(child.pid, flush=True); child.wait()",
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    time.sleep(0.3)  # the child is holding its lifeline
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while is_running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(child_pid), "the child outlived its parent"


def is_running(pid: int) -> bool:
    """Running, not a zombie waiting for whoever inherited it to collect it."""
    return any(process.pid == pid and process.state != "Z" for process in processes.snapshot())


def test_a_negative_descriptor_means_no_lifeline():
    child, _ = start_holder("-1", -1)
    time.sleep(0.3)
    assert child.poll() is None
    child.kill()
    child.wait()


def test_an_inherited_lifeline_is_held_and_not_passed_on():
    read, write = os.pipe()
    child, passed_on = start_holder("inherited", read, env={LIFELINE_ENV: str(read)})
    try:
        assert passed_on == "taken"  # the child's own children hold lifelines of their own, not this one
        assert child.poll() is None
    finally:
        os.close(write)
    assert exit_code_within(child, 5) == LIFELINE_EXIT
