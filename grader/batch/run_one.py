"""Grade one entry of a batch in a ``grade`` subprocess of its own, and say how it went.

Each entry gets a whole grading process (which starts the sandboxed worker that runs the student's
code), in a session of its own so that a timeout or a cancellation kills it with everything it started.
It holds a lifeline pipe: if whoever started it dies (a batch killed with SIGKILL, a Dask worker lost),
it exits, and its sandboxed worker with it. What comes back is the JSON report the grader printed, never
anything the student's code produced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader import processes
from grader.errors import EXIT_BELOW_PASS_MARK, EXIT_PASSED, EXIT_UNGRADABLE
from grader.lifeline import LIFELINE_ENV

LOG_TAIL_CHARS = 4000
POLL_SECONDS = 0.5
STATUSES = ("graded", "ungradable", "timed_out", "error")


@dataclass
class Outcome:
    """How grading one entry went: ``report_json`` is the grader's report, empty when there is none."""

    status: str  # one of STATUSES
    report_json: str
    error: str
    log: str  # the end of the grading process's standard error
    seconds: float
    device: str = ""

    @property
    def points(self) -> float | None:
        return json.loads(self.report_json)["points"] if self.report_json else None

    @property
    def max_points(self) -> float | None:
        """What the points are out of (the full total, an ungradable report's too)."""
        return json.loads(self.report_json).get("max_points") if self.report_json else None


# Nothing of the folder the batch runs in on the grading process's path (``-m`` puts it first where ``-P``
# is not there to say otherwise): a course folder holds the roster and the gradebook, and a file there named
# like a module the grader imports must not be what it imports.
SAFE_PATH = ("-s", "-P") if sys.version_info >= (3, 11) else ("-s",)


def grade_entry(
    path: Path,
    grade_args: list[str],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Run ``grade PATH --format json GRADE_ARGS``; kill it past ``timeout`` seconds or once ``cancelled()``."""
    command = [sys.executable, *SAFE_PATH, "-m", "grader.cli", str(path), "--format", "json", "--no-progress"]
    command += grade_args
    lifeline_read, lifeline_write = os.pipe()
    started = time.monotonic()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            pass_fds=(lifeline_read,),
            env={**(env if env is not None else os.environ), LIFELINE_ENV: str(lifeline_read)},
        )
        os.close(lifeline_read)
        try:
            stopped = _wait(process, started + timeout, cancelled)
        finally:
            _kill_group(process)
            os.close(lifeline_write)
        seconds = time.monotonic() - started
        out, err = _read(stdout), _read(stderr)
    log = err[-LOG_TAIL_CHARS:]
    if stopped == "timeout":
        return Outcome("timed_out", "", f"grading took longer than {timeout:g} s and was stopped", log, seconds)
    if stopped == "cancelled":
        return Outcome("error", "", "grading was cancelled", log, seconds)
    return _outcome(process.returncode, out, log, seconds)


def _wait(process: subprocess.Popen[bytes], deadline: float, cancelled: Callable[[], bool]) -> str:
    while True:
        try:
            process.wait(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
            return "finished"
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return "timeout"
            if cancelled():
                return "cancelled"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """The grading process and everything in its session; its sandboxed worker follows by its lifeline."""
    processes.kill_group(process.pid)
    process.wait()


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def _outcome(code: int, out: str, log: str, seconds: float) -> Outcome:
    if code in (EXIT_PASSED, EXIT_BELOW_PASS_MARK, EXIT_UNGRADABLE) and out.strip():
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            return Outcome(
                "error", "", f"the grader printed something that is not a report (exit {code})", log, seconds
            )
        status = "graded" if report.get("status") == "graded" else "ungradable"
        failure = (report.get("measurements") or {}).get("failure") or {}
        device = _device(report)
        return Outcome(status, out, failure.get("message", ""), log, seconds, device)
    last = next((line for line in reversed(log.splitlines()) if line.strip()), "")
    if code == EXIT_UNGRADABLE:  # before a report could be made: MNIST missing, say
        return Outcome("ungradable", "", last or "the submission could not be graded", log, seconds)
    return Outcome("error", "", f"grade exited with {_describe(code)}: {last}".rstrip(": "), log, seconds)


def _device(report: dict[str, Any]) -> str:
    models = (report.get("measurements") or {}).get("models") or []
    devices = sorted({(m.get("run") or {}).get("device", "") for m in models} - {""})
    return ",".join(devices)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
