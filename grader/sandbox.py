"""Run one worker process with limits, and watch it from outside.

The worker starts in a session of its own, walled off as well as this machine allows
(``grader.isolation``), in a scratch directory, with an environment that holds none of the grader's
secrets and a set number of threads. The job arrives on its standard input, so no file the worker can
write ever holds it. Everything that bounds the worker is enforced from this side: each phase it
announces (import, build, train, predict) gets a deadline, but only the phases the grader's own task
list expects, each once, so printing progress cannot buy time; its memory, process count and disk use
are sampled from ``/proc`` and the file system; and when it ends, times out or breaks a limit, every
process it started is killed by the grader (``grader.processes``), not asked to leave. The kernel kills
the sandbox if the grader itself dies (a parent-death signal, set outside the student's reach).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
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

from grader import processes
from grader.frameworks import FRAMEWORKS
from grader.isolation import Isolation
from grader.records import CapturedOutput
from grader.rubric import Limits

LOG_HEAD = 32_768
LOG_TAIL = 32_768
EXIT_GRACE_SECONDS = 30.0
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT")  # and each framework's
EVENT_LINE_MAX = 64 << 10  # an honest event is under 1 KiB; a longer line is dropped unread
EVENTS_MAX_BYTES = 64 << 20  # past this, events are drained and ignored
MAX_PROCESSES = 256  # the worker and everything it starts (DataLoader workers, a shell or two)
DISK_BYTES = 2 << 30  # what the worker's folders may hold
DISK_ENTRIES = 10_000  # every one is looked at when disk use is sampled
FILE_BYTES = 1 << 30  # the largest file it may write (RLIMIT_FSIZE)
SAMPLE_SECONDS = 0.5  # how often memory and processes are measured
DISK_SAMPLE_SECONDS = 3.0
PHASES = ("build", "train", "predict")


@dataclass(frozen=True)
class SandboxLayout:
    """One grade's sandbox: the isolation in force and the folders the worker may write, may read, and
    must not see."""

    isolation: Isolation
    writable: list[Path]
    readable: list[Path]
    hidden: list[Path]


@dataclass
class WorkerExit:
    """How a worker run ended. ``phase`` and ``task`` say what it was doing last; ``limit`` names the
    limit it broke ("memory", "processes", "disk") when the grader stopped it for that."""

    finished: bool
    phase: str | None
    task: str | None
    timed_out: bool
    returncode: int | None
    seconds: float
    limit: str | None = None
    # The worker's own account of a student's training loop when it was stopped (forgeable: for wording
    # only): epochs seen, and seconds since it last reported progress; None when it never did.
    progress_epochs: float | None = None
    progress_age: float | None = None
    phase_seconds: float = 0.0  # how long the last phase had run
    at_cap: bool = False  # training was stopped at its hard cap, still reporting progress

    def reason(self) -> str:
        """Why the worker stopped, for a person."""
        if self.timed_out:
            return "ran out of time and was stopped"
        if self.limit is not None:
            return f"was stopped for going over its {self.limit} limit"
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
    """A clean environment: no tokens or credentials from the grader's, threads pinned, GPU hidden for cpu.
    Each registered framework adds the variables it passes on (a backend's choice) and sets (its threads, its
    home), as ``grader.frameworks`` says."""
    passed = [*PASSED_ENVIRONMENT, *(key for entry in FRAMEWORKS.values() for key in entry.passed_environment)]
    env = {key: os.environ[key] for key in passed if key in os.environ}
    threads_text = str(threads)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": threads_text,
            "MKL_NUM_THREADS": threads_text,
            "OPENBLAS_NUM_THREADS": threads_text,
        }
    )
    for entry in FRAMEWORKS.values():
        env.update({key: value.format(home=home, threads=threads) for key, value in entry.environment.items()})
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_worker(
    job: str,
    tasks: list[str],
    events_write_fd: int,
    events_read_fd: int,
    lifeline_fd: int,
    *,
    cwd: Path,
    env: dict[str, str],
    layout: SandboxLayout,
    allowance: Callable[[str, str | None], float],
    limits: Limits,
    on_event: Callable[[dict[str, Any]], None],
    log_sink: list[CapturedOutput],
) -> WorkerExit:
    """Start ``python -m grader.worker`` inside the layout's walls, hand it ``job`` (JSON) on its standard
    input, and watch it until it ends, finishing or not.

    ``tasks`` are the model keys the job holds, in order: the only ones whose phases get time.
    ``allowance(phase, task)`` gives the seconds a phase may take. The worker's output is captured,
    bounded, into ``log_sink``. ``lifeline_fd`` is the worker's end of the lifeline pipe.
    """
    walls = layout.isolation
    reaper = _start_reaper(walls.uid)
    started = time.monotonic()
    process = _start_worker(layout, cwd, env, (events_write_fd, lifeline_fd))
    os.close(events_write_fd)
    os.close(lifeline_fd)
    _send_job(process, job)
    log = BoundedLog(process.stdout)  # type: ignore[arg-type]
    watcher = _Watcher(events_read_fd, tasks, allowance, on_event)
    guard = _Guard(process.pid, walls.uid, layout.writable, int(limits.memory_gib * 2**30))
    try:
        timed_out = watcher.watch(process, guard)
    finally:
        guard.kill_everything(process)
        process.wait()
        os.close(events_read_fd)
        log_sink.append(log.captured())
        if reaper is not None:
            reaper.communicate()
    return watcher.exit(timed_out, process.returncode, time.monotonic() - started, guard.broken)


def _start_worker(
    layout: SandboxLayout, cwd: Path, env: dict[str, str], fds: tuple[int, ...]
) -> subprocess.Popen[bytes]:
    """The worker process, inside the layout's walls, in a session of its own (so that the whole of it can be
    killed at once), as the private user where there is one, bounded from before its first instruction, with
    ``fds`` (its ends of the events and lifeline pipes) the only descriptors it inherits."""
    walls = layout.isolation
    worker = [sys.executable, "-s", "-m", "grader.worker"]
    command = walls.command(worker, writable=layout.writable, readable=layout.readable, hidden=layout.hidden)
    as_user: dict[str, Any] = {}
    if walls.uid is not None:
        as_user = {"user": walls.uid, "group": walls.uid, "extra_groups": []}
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=fds,
        preexec_fn=_bounded_child(walls.uid),
        **as_user,
    )


def _start_reaper(uid: int | None) -> subprocess.Popen[bytes] | None:
    """For a worker that runs as a private user: ``grader.reaper``, which kills that user's processes when
    its standard input closes, as it does when this process dies before it could clean up itself."""
    if uid is None:
        return None
    package_parent = str(Path(__file__).resolve().parent.parent)
    return subprocess.Popen(
        [sys.executable, "-s", "-m", "grader.reaper", str(uid)],
        stdin=subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": package_parent},
        start_new_session=True,  # out of the grader's process group: a signal to the group spares it
    )


def _send_job(process: subprocess.Popen[bytes], job: str) -> None:
    """The job on the worker's standard input, which is then closed; a worker that died at once is the
    watcher's to report."""
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        process.stdin.write(job.encode())
    with contextlib.suppress(OSError):
        process.stdin.close()


def _bounded_child(uid: int | None) -> Callable[[], None]:
    """What the child sets on itself between fork and exec, before any student code exists: die with the
    grader (the kernel's parent-death signal, set after the change of user that would clear it), no core
    files, a largest file size, and for a private user a process count."""

    def prepare() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
        if uid is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))

    return prepare


PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Loaded here, not between fork and exec, where loading a library can deadlock a threaded grader.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class _Guard:
    """Measures the worker's processes from outside and kills all of them: at the end of the run, and as
    soon as they hold more memory, processes or disk than allowed."""

    def __init__(self, root: int, uid: int | None, folders: list[Path], memory_bytes: int) -> None:
        self.root, self.uid, self.folders, self.memory_bytes = root, uid, folders, memory_bytes
        self.seen: dict[int, int] = {}  # pid -> start time, of every process ever in the family
        self.broken: str | None = None
        self._next_disk = time.monotonic() + DISK_SAMPLE_SECONDS

    def over_limit(self) -> bool:
        """Sample the worker; True (and ``broken`` set) when it broke a limit."""
        family = processes.family(processes.snapshot(), self.root, self.uid)
        self.seen.update((process.pid, process.started) for process in family)
        if self.memory_bytes and processes.memory_bytes([p.pid for p in family]) > self.memory_bytes:
            self.broken = "memory"
        elif len(family) > MAX_PROCESSES:
            self.broken = "processes"
        elif time.monotonic() >= self._next_disk:
            self._next_disk = time.monotonic() + DISK_SAMPLE_SECONDS
            used, entries = processes.disk_usage(self.folders, DISK_ENTRIES)
            if used > DISK_BYTES or entries > DISK_ENTRIES:
                self.broken = "disk"
        return self.broken is not None

    def kill_everything(self, process: subprocess.Popen[bytes]) -> None:
        """The worker's session, every process ever seen in its family, the family as it is now and, for a
        private user, everything that user runs. Nothing here depends on the worker's cooperation."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        family = processes.family(processes.snapshot(), self.root, self.uid)
        self.seen.update((process.pid, process.started) for process in family)
        self.seen.pop(os.getpid(), None)
        processes.kill_all(self.seen)
        if self.uid is not None:
            processes.kill_user(self.uid)


class _Watcher:
    """Follows the worker's progress events and enforces each phase's deadline, and a total one.

    A phase gets its time only once, and only when it is one the job holds, in order: a worker that
    prints phase events of its own cannot re-arm a deadline. The total is the sum of every phase's
    allowance, fixed when the worker starts.

    Training progress (``progress`` and ``epoch`` events of the model in training) may keep a training
    phase alive past its deadline, ``allowance("progress", task)`` seconds after each event, but never
    past ``allowance("train_cap", task)`` from the phase's start. The student's code can forge these
    events: they buy at most that bounded time, and the wording of a timeout, never points.
    """

    def __init__(
        self,
        fd: int,
        tasks: list[str],
        allowance: Callable[[str, str | None], float],
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self.fd, self.tasks, self.allowance, self.on_event = fd, tasks, allowance, on_event
        self.phase: str | None = "start"
        self.task: str | None = None
        self.finished = False
        now = time.monotonic()
        self.deadline = now + allowance("import", None)
        per_task = sum(
            allowance("train_cap" if phase == "train" else phase, task) + allowance("between", None)
            for task in tasks
            for phase in PHASES
        )
        self.final_deadline = self.deadline + per_task + EXIT_GRACE_SECONDS
        self.phase_started = now
        self.cap = now  # the latest a training phase may run to, however much progress it reports
        self.progress_at: float | None = None
        self.progress_epochs: float | None = None
        self.at_cap = False
        self.step = -1  # the furthest (task, phase) reached, as an index into tasks x PHASES
        self.results: set[str] = set()
        self.line = bytearray()
        self.skipping = False  # inside an over-long line, dropped up to its newline
        self.received = 0

    def exit(self, timed_out: bool, returncode: int | None, seconds: float, limit: str | None) -> WorkerExit:
        """How the run ended, with what this watcher saw last: the phase, the task, and its progress."""
        now = time.monotonic()
        return WorkerExit(
            self.finished,
            self.phase,
            self.task,
            timed_out,
            returncode,
            seconds,
            limit,
            self.progress_epochs,
            None if self.progress_at is None else now - self.progress_at,
            now - self.phase_started,
            self.at_cap,
        )

    def watch(self, process: subprocess.Popen[bytes], guard: _Guard) -> bool:
        """Returns True when a deadline passed and the worker was killed; stops early when ``guard`` finds
        a broken limit."""
        selector = selectors.DefaultSelector()
        selector.register(self.fd, selectors.EVENT_READ)
        open_pipe = True
        next_sample = time.monotonic()
        while True:
            now = time.monotonic()
            remaining = min(self.deadline, self.final_deadline) - now
            if remaining <= 0:
                self.at_cap = self.phase == "train" and now >= self.cap
                return True
            if now >= next_sample:
                next_sample = now + SAMPLE_SECONDS
                if guard.over_limit():
                    return False
            wait = min(remaining, SAMPLE_SECONDS)
            if open_pipe and selector.select(timeout=wait):
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self._feed(chunk)
                    continue
                selector.unregister(self.fd)
                open_pipe = False
            if process.poll() is not None:
                return False
            if not open_pipe:  # wait on the worker itself: one that exits just before its deadline did not time out
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=wait)
                if process.returncode is not None:
                    return False

    def _feed(self, chunk: bytes) -> None:
        """Split the stream into lines in one pass over each chunk; a line past EVENT_LINE_MAX is dropped,
        and past EVENTS_MAX_BYTES in all nothing more is parsed."""
        self.received += len(chunk)
        if self.received > EVENTS_MAX_BYTES:
            return
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if not self.skipping and len(self.line) + end - start <= EVENT_LINE_MAX:
                self.line += chunk[start:end]
                self._parse(bytes(self.line))
            self.line.clear()
            self.skipping = False
            start = end + 1
        rest = len(chunk) - start
        if self.skipping or len(self.line) + rest > EVENT_LINE_MAX:
            self.line.clear()
            self.skipping = True
        else:
            self.line += chunk[start:]

    def _parse(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return  # not ours: the student's code wrote to the pipe
        if isinstance(event, dict):
            self._handle(event)

    def _handle(self, event: dict[str, Any]) -> None:
        kind, task = event.get("event"), event.get("task")
        if kind == "phase":
            phase = event.get("phase")
            if task not in self.tasks or phase not in PHASES:
                return
            step = self.tasks.index(task) * len(PHASES) + PHASES.index(phase)
            if step <= self.step:
                return  # a phase already timed, or one behind: no new time
            self.step, self.phase, self.task = step, phase, task
            self.phase_started = time.monotonic()
            self.deadline = self.phase_started + self.allowance(phase, task)
            self.cap = self.phase_started + self.allowance("train_cap", task) if phase == "train" else self.deadline
            self.progress_at = self.progress_epochs = None
            if phase == "train":  # the display shows the budget: the grader's figure, not the worker's
                event = {**event, "budget_s": round(self.allowance("budget", task), 1)}
        elif kind in ("progress", "epoch"):
            if task is None or task != self.task or self.phase != "train":
                return
            self._progress(event.get("epochs" if kind == "progress" else "epoch"), task)
        elif kind == "result":
            if task is None or task != self.task or task in self.results:
                return
            self.results.add(task)
            self.phase, self.task = "between", None
            self.deadline = time.monotonic() + self.allowance("between", None)
        elif kind == "finished":
            if self.finished:
                return
            self.finished, self.phase = True, "exit"
            self.deadline = time.monotonic() + EXIT_GRACE_SECONDS
        else:
            return  # only progress on the job's own models reaches the display
        self.on_event(event)

    def _progress(self, epochs: Any, task: str) -> None:
        now = time.monotonic()
        self.progress_at = now
        if isinstance(epochs, int | float) and not isinstance(epochs, bool) and 0 <= epochs < 1e9:
            self.progress_epochs = float(epochs)
        self.deadline = max(self.deadline, min(now + self.allowance("progress", task), self.cap))
