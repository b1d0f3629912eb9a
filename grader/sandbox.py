"""Run one worker process with limits, and watch it.

The worker starts in a session of its own (so its whole process group can be killed, children
included), walled off as well as this machine allows (``grader.isolation``), in a scratch directory,
with an environment that holds none of the grader's secrets and a set number of threads. It holds one
end of a "lifeline" pipe whose other end only the grader holds: when the grader dies, however it
dies, the worker sees the pipe close and exits. Each phase the worker announces (import, build, train,
predict) gets a deadline; when one passes, the group is killed and the caller is told which phase and
model ran out of time.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader.isolation import Isolation
from grader.records import CapturedOutput

LOG_HEAD = 32_768
LOG_TAIL = 32_768
EXIT_GRACE_SECONDS = 30.0
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT")


@dataclass
class WorkerExit:
    """How a worker run ended. ``phase`` and ``task`` say what it was doing last."""

    finished: bool
    phase: str | None
    task: str | None
    timed_out: bool
    returncode: int | None
    seconds: float

    def reason(self) -> str:
        """Why the worker stopped, for a person."""
        if self.timed_out:
            return "ran out of time and was stopped"
        return describe_exit(self.returncode)


def describe_exit(returncode: int | None) -> str:
    """Why a worker ended, in words. A wrapper (bwrap, unshare) reports a worker killed by signal N as
    exit code 128 + N, the way shells do."""
    if returncode is None:
        return "did not exit"
    if returncode < 0 or 128 < returncode < 128 + 65:
        number = -returncode if returncode < 0 else returncode - 128
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        meaning = {
            "SIGSEGV": "a segmentation fault (a crash in native code)",
            "SIGKILL": "SIGKILL (from outside the worker: often the system's out-of-memory killer)",
            "SIGABRT": "an abort in native code",
            "SIGBUS": "a bus error (a crash in native code)",
            "SIGFPE": "a floating-point exception in native code",
        }.get(name, name)
        return f"was killed by {meaning}"
    return f"exited with code {returncode} (does the code call sys.exit() or os._exit()?)"


class BoundedLog:
    """Reads a pipe to its end on a thread, keeping the first and last few kilobytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
            self.total += len(chunk)
            room = LOG_HEAD - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                del self.tail[:-LOG_TAIL]

    def captured(self, timeout: float = 5.0) -> CapturedOutput:
        self._thread.join(timeout)
        kept = len(self.head) + len(self.tail)
        truncated = self.total > kept
        middle = f"\n[... {self.total - kept:,} bytes of output left out ...]\n" if truncated else ""
        text = bytes(self.head).decode("utf-8", "replace") + middle + bytes(self.tail).decode("utf-8", "replace")
        return CapturedOutput(text, self.total, truncated)


def worker_environment(home: Path, threads: int, device: str) -> dict[str, str]:
    """A clean environment: no tokens or credentials from the grader's, threads pinned, GPU hidden for cpu."""
    env = {key: os.environ[key] for key in PASSED_ENVIRONMENT if key in os.environ}
    threads_text = str(threads)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "MPLBACKEND": "Agg",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "KERAS_HOME": str(home / ".keras"),
            "OMP_NUM_THREADS": threads_text,
            "MKL_NUM_THREADS": threads_text,
            "OPENBLAS_NUM_THREADS": threads_text,
            "TF_NUM_INTRAOP_THREADS": threads_text,
            "TF_NUM_INTEROP_THREADS": "1",
        }
    )
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_worker(
    job_path: Path,
    events_write_fd: int,
    events_read_fd: int,
    lifeline_fd: int,
    *,
    cwd: Path,
    env: dict[str, str],
    walls: Isolation,
    hidden: list[Path],
    allowance: Callable[[str, str | None], float],
    on_event: Callable[[dict[str, Any]], None],
    log_sink: list[CapturedOutput],
) -> WorkerExit:
    """Start ``python -m grader.worker JOB`` inside ``walls`` and watch it until it ends, finishing or not.

    ``allowance(phase, task)`` gives the seconds a phase may take. The worker's output is captured,
    bounded, into ``log_sink``. ``lifeline_fd`` is the worker's end of the lifeline pipe.
    """
    worker = [sys.executable, "-m", "grader.worker", str(job_path)]
    command = walls.command(worker, workdir=job_path.parent, hidden=hidden)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=(events_write_fd, lifeline_fd),
    )
    os.close(events_write_fd)
    os.close(lifeline_fd)
    log = BoundedLog(process.stdout)  # type: ignore[arg-type]
    watcher = _Watcher(events_read_fd, allowance, on_event)
    try:
        timed_out = watcher.watch(process)
    finally:
        _kill_group(process)
        process.wait()
        os.close(events_read_fd)
        log_sink.append(log.captured())
    return WorkerExit(
        watcher.finished,
        watcher.phase,
        watcher.task,
        timed_out,
        process.returncode,
        time.monotonic() - started,
    )


class _Watcher:
    """Follows the worker's progress events and enforces each phase's deadline."""

    def __init__(
        self, fd: int, allowance: Callable[[str, str | None], float], on_event: Callable[[dict[str, Any]], None]
    ) -> None:
        self.fd, self.allowance, self.on_event = fd, allowance, on_event
        self.phase: str | None = "start"
        self.task: str | None = None
        self.finished = False
        self.deadline = time.monotonic() + allowance("import", None)
        self.buffer = b""

    def watch(self, process: subprocess.Popen) -> bool:
        """Returns True when a deadline passed and the worker was killed."""
        selector = selectors.DefaultSelector()
        selector.register(self.fd, selectors.EVENT_READ)
        open_pipe = True
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return True
            if open_pipe and selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self._feed(chunk)
                    continue
                selector.unregister(self.fd)
                open_pipe = False
            if process.poll() is not None:
                return False
            if not open_pipe:
                time.sleep(min(remaining, 0.1))

    def _feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours: the student's code wrote to the pipe
            if isinstance(event, dict):
                self._handle(event)

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "phase":
            self.phase, self.task = str(event.get("phase")), event.get("task")
            self.deadline = time.monotonic() + self.allowance(self.phase, self.task)
        elif kind == "result":
            self.phase, self.task = "between", None
            self.deadline = time.monotonic() + self.allowance(self.phase, None)
        elif kind == "finished":
            self.finished, self.phase = True, "exit"
            self.deadline = time.monotonic() + EXIT_GRACE_SECONDS
        self.on_event(event)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the worker and everything it started in its session, whether or not it already exited."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
