"""The sandbox runs one worker and bounds it from outside: each phase of the job gets its time once,
training that reports progress is kept going up to a hard cap, limits stop it, output is kept to its head
and tail, and when the run ends every process it started is gone.

The worker here is a stand-in: ``python -m grader.worker`` finds, first on its path, a package whose
``__main__`` runs the job it is sent as Python source, so each test scripts exactly what the worker does
(which events it prints, how long it sleeps) and the run takes a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader import processes, sandbox
from grader.isolation import Isolation
from grader.records import CapturedOutput
from grader.rubric import load_rubric

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches the worker in /proc")


def allowance(seconds: float) -> Callable[[str, str | None], float]:
    """``seconds`` a phase; training that reports progress is kept going 0.4 s after each report, at most
    1.5 s in all."""
    return lambda phase, task: {"progress": 0.4, "train_cap": 1.5, "budget": 0.3}.get(phase, seconds)


def run(tmp_path: Path, script: str, seconds: float = 0.5, memory_gib: float = 0.0, **env: str):
    """Run the stand-in worker on ``script``, in which ``event(**fields)`` prints one event to the grader,
    for a job of one model, iris/single, with ``seconds`` a phase. Returns how the run ended, the events the
    grader passed on, and the captured output."""
    package = tmp_path / "grader" / "worker"
    package.mkdir(parents=True, exist_ok=True)
    (tmp_path / "grader" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import sys\nexec(sys.stdin.read())\n")
    events_read, events_write = os.pipe()
    lifeline_read, lifeline_write = os.pipe()
    preamble = (
        "import json, os, sys, time\n"
        f"EVENTS = os.fdopen({events_write}, 'w', buffering=1)\n"
        "def event(**fields): EVENTS.write(json.dumps(fields) + '\\n')\n"
    )
    seen: list[dict[str, Any]] = []
    log: list[CapturedOutput] = []
    try:
        ended = sandbox.run_worker(
            preamble + script,
            ["iris/single"],
            events_write,
            events_read,
            lifeline_read,
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], **env},
            layout=sandbox.SandboxLayout(Isolation("none", ()), writable=[tmp_path], readable=[], hidden=[]),
            allowance=allowance(seconds),
            limits=dataclasses.replace(load_rubric().limits, memory_gib=memory_gib),
            on_event=seen.append,
            log_sink=log,
        )
    finally:
        os.close(lifeline_write)
    return ended, seen, log[0]


def test_a_worker_that_finishes_is_reported_finished(tmp_path):
    ended, seen, _ = run(
        tmp_path,
        "for phase in ('build', 'train', 'predict'): event(event='phase', phase=phase, task='iris/single')\n"
        "event(event='result', task='iris/single'); event(event='finished')\n",
        seconds=10,
    )
    assert (ended.finished, ended.timed_out, ended.returncode, ended.limit) == (True, False, 0, None)
    assert [e["event"] for e in seen] == ["phase", "phase", "phase", "result", "finished"]
    assert seen[1]["budget_s"] == 0.3  # the display shows the grader's budget, not one the worker claims


def test_a_worker_that_makes_no_progress_is_stopped_when_its_phase_runs_out(tmp_path):
    started = time.monotonic()
    ended, _, _ = run(tmp_path, "event(event='phase', phase='build', task='iris/single'); time.sleep(60)\n")
    assert time.monotonic() - started < 5
    assert (ended.timed_out, ended.finished, ended.phase, ended.task) == (True, False, "build", "iris/single")
    assert ended.reason() == "ran out of time and was stopped"


def test_a_worker_that_never_starts_its_job_gets_the_import_time_only(tmp_path):
    ended, _, _ = run(tmp_path, "time.sleep(60)\n")
    assert (ended.timed_out, ended.phase, ended.task) == (True, "start", None)
    assert ended.seconds < 3


def test_phase_events_buy_time_once_each_and_only_for_the_jobs_own_models(tmp_path):
    """A worker printing its phase again and again, or a model the job does not hold, re-arms nothing."""
    ended, seen, _ = run(
        tmp_path,
        "event(event='phase', phase='build', task='iris/single')\n"
        "while True:\n"
        "    event(event='phase', phase='build', task='iris/single')\n"
        "    event(event='phase', phase='train', task='mnist/single')\n"
        "    event(event='phase', phase='dance', task='iris/single')\n"
        "    time.sleep(0.05)\n",
    )
    assert (ended.timed_out, ended.phase, ended.task) == (True, "build", "iris/single")
    assert ended.seconds < 3
    assert len(seen) == 1  # the repeats never reach the display either


def test_training_that_reports_progress_runs_past_its_budget_up_to_the_hard_cap(tmp_path):
    ended, _, _ = run(
        tmp_path,
        "event(event='phase', phase='train', task='iris/single')\n"
        "for epoch in range(1000):\n"
        "    event(event='progress', task='iris/single', epochs=epoch); time.sleep(0.1)\n",
    )
    assert ended.timed_out and ended.at_cap
    assert 1.5 <= ended.phase_seconds < 3  # past the 0.5 s phase, stopped at the 1.5 s cap
    assert ended.progress_epochs is not None and ended.progress_epochs >= 5
    assert ended.progress_age is not None and ended.progress_age < 0.4


def test_training_that_stops_reporting_progress_is_stopped_soon_after(tmp_path):
    ended, _, _ = run(
        tmp_path,
        "event(event='phase', phase='train', task='iris/single')\n"
        "for epoch in range(8):\n"
        "    event(event='progress', task='iris/single', epochs=epoch); time.sleep(0.1)\n"
        "time.sleep(60)\n",
    )
    assert ended.timed_out and not ended.at_cap
    assert ended.progress_epochs == 7.0
    assert 0.4 <= ended.progress_age < 1.5


def test_a_worker_over_its_memory_limit_is_stopped_for_it(tmp_path):
    ended, _, _ = run(
        tmp_path,
        "hog = b'1' * (400 << 20)\nevent(event='phase', phase='build', task='iris/single'); time.sleep(60)\n",
        seconds=10,
        memory_gib=0.2,
    )
    assert (ended.limit, ended.timed_out) == ("memory", False)
    assert ended.reason() == "was stopped for going over its memory limit"


def test_every_process_the_worker_started_is_killed_when_it_ends_detached_ones_too(tmp_path):
    """Even with no isolation at all: a child that left the worker's session dies because the grader saw it
    in the worker's family, and one no sample saw dies with the session. (Only a process that detaches and
    loses its parent between two samples escapes, which is what "none" reports as processes not isolated.)"""
    marker = tmp_path / "pids"
    ended, _, _ = run(
        tmp_path,
        "import subprocess\n"
        "detached = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        f"time.sleep({2 * sandbox.SAMPLE_SECONDS})\n"  # the grader samples the worker's family meanwhile
        "child = subprocess.Popen(['sleep', '60'])\n"  # started after the last sample
        f"open({str(marker)!r}, 'w').write(f'{{child.pid}} {{detached.pid}}')\n"
        "event(event='finished')\n",
        seconds=10,
    )
    assert ended.finished
    for pid in map(int, marker.read_text().split()):
        assert gone_soon(pid)


def test_output_is_captured_and_a_flood_kept_to_its_head_and_tail(tmp_path):
    _, _, log = run(
        tmp_path,
        "print('first line', flush=True)\n"
        "sys.stdout.write('x' * 1_000_000)\n"
        "print('last line', flush=True)\n"
        "event(event='finished')\n",
        seconds=10,
    )
    assert log.text.startswith("first line") and log.text.rstrip().endswith("last line")
    assert log.truncated and log.total_bytes > 1_000_000
    assert len(log.text) < sandbox.LOG_HEAD + sandbox.LOG_TAIL + 100
    assert "bytes of output left out" in log.text


def test_lines_on_the_event_pipe_that_are_not_events_are_ignored(tmp_path):
    ended, seen, _ = run(
        tmp_path,
        "EVENTS.write('not json\\n[1, 2]\\n' + 'y' * (100 << 10) + '\\n')\n"
        "event(event='phase', phase='build', task='iris/single'); event(event='finished')\n",
        seconds=10,
    )
    assert ended.finished
    assert [e["event"] for e in seen] == ["phase", "finished"]


def test_the_worker_gets_only_the_environment_it_is_given(tmp_path):
    """The grader's own variables (a token in CI, say) reach the worker only through worker_environment."""
    os.environ["GRADER_TEST_SECRET"] = "hunter2"
    try:
        _, _, log = run(
            tmp_path, "print(sorted(os.environ), flush=True); event(event='finished')\n", seconds=10, CHOSEN="1"
        )
    finally:
        del os.environ["GRADER_TEST_SECRET"]
    assert "GRADER_TEST_SECRET" not in log.text and "'CHOSEN'" in log.text


def test_the_worker_environment_passes_nothing_secret_and_pins_threads(tmp_path, monkeypatch):
    for name, value in {
        "GITHUB_TOKEN": "ghp_x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "GRADER_DATA_DIR": "/course/private-test-set",
        "GRADER_CACHE_DIR": "/course/cache",
        "PYTHONPATH": "/course",
        "LANG": "C.UTF-8",
    }.items():
        monkeypatch.setenv(name, value)
    env = sandbox.worker_environment(tmp_path, threads=3, device="cpu")
    assert not {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "GRADER_DATA_DIR", "GRADER_CACHE_DIR"} & set(env)
    assert env["LANG"] == "C.UTF-8"
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path)
    assert Path(env["PYTHONPATH"]) == Path(sandbox.__file__).resolve().parent.parent  # the grader, not the course
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # --device cpu: a GPU is not even in sight
    assert "CUDA_VISIBLE_DEVICES" not in sandbox.worker_environment(tmp_path, threads=1, device="auto")


@pytest.mark.parametrize(
    ("returncode", "reason"),
    [
        (-signal.SIGABRT, "was killed by an abort in native code"),
        (128 + signal.SIGSEGV, "was killed by a segmentation fault (a crash in native code)"),
        (-signal.SIGUSR1, "was killed by SIGUSR1"),
        (3, "exited with code 3 (does the code call sys.exit() or os._exit()?)"),
        (None, "did not exit"),
    ],
)
def test_how_a_worker_ended_in_words(returncode, reason):
    """A wrapper (bwrap, unshare) reports death by signal N as exit code 128 + N, as shells do."""
    assert sandbox.describe_exit(returncode) == reason


def gone_soon(pid: int) -> bool:
    """Whether ``pid`` is dead within a second (SIGKILL takes effect asynchronously)."""
    deadline = time.monotonic() + 1
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever inherited it to collect it."""
    return any(process.pid == pid and process.state != "Z" for process in processes.snapshot())


def test_a_worker_that_exits_before_finishing_is_reported_with_its_exit_code(tmp_path):
    ended, _, _ = run(tmp_path, "event(event='phase', phase='build', task='iris/single'); sys.exit(3)\n", seconds=10)
    assert (ended.finished, ended.timed_out, ended.returncode, ended.phase) == (False, False, 3, "build")
    assert ended.reason() == "exited with code 3 (does the code call sys.exit() or os._exit()?)"


def test_a_worker_that_exits_just_before_its_deadline_is_reported_by_its_exit_not_as_a_timeout(tmp_path):
    """Once the worker has closed its events, the sandbox waits on the worker itself, not on a clock: an exit
    0.4 s before the phase runs out is that exit."""
    ended, _, _ = run(
        tmp_path,
        "event(event='phase', phase='build', task='iris/single'); EVENTS.close(); time.sleep(1.6); sys.exit(3)\n",
        seconds=2.0,
    )
    assert (ended.timed_out, ended.returncode) == (False, 3)
