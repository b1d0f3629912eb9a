"""The local backend: a pool of grading processes, ``jobs`` at a time; a job that trains on a GPU sees one
GPU, handed out in turn, and a failure while results come in stops what has not started.

The grading process is a stand-in that records what each job was started with."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from grader.batch import local
from grader.batch.jobs import GradingJob
from grader.batch.local import LocalBackend, threads_per_job
from grader.batch.run_one import Outcome
from grader.batch.submissions import Entry, Student


def job(name: str, gpu: bool = False, rubric: Path | None = None) -> GradingJob:
    entry = Entry(Student(name), Path(f"/course/{name}.py"), content_hash="h")
    return GradingJob(entry, ("--threads", "2"), rubric, None, timeout=60.0, gpu=gpu)


@pytest.fixture
def started(monkeypatch):
    """Each grading process started: (entry's file, its arguments, CUDA_VISIBLE_DEVICES or None)."""
    calls: list[tuple[str, list[str], str | None]] = []
    running, most = [0], [0]
    lock = threading.Lock()

    def grade_entry(path, args, timeout, *, env, cancelled):
        with lock:
            calls.append((path.name, args, env.get("CUDA_VISIBLE_DEVICES")))
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return Outcome("graded", "{}", "", "", 0.05)

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(local, "grade_entry", grade_entry)
    return calls, most


def test_gpu_jobs_get_the_gpus_in_turn_and_cpu_jobs_none(started):
    calls, _ = started
    jobs = [job("a", gpu=True), job("b", gpu=True), job("c", gpu=True), job("d")]
    LocalBackend(1, gpus=["0", "1"]).run(jobs, lambda job, outcome: None)
    assert [(name, gpu) for name, _, gpu in calls] == [("a.py", "0"), ("b.py", "1"), ("c.py", "0"), ("d.py", None)]


def test_without_gpus_a_gpu_job_is_left_to_find_its_device(started):
    calls, _ = started
    LocalBackend(1).run([job("a", gpu=True)], lambda job, outcome: None)
    assert calls[0][2] is None


def test_each_outcome_reaches_the_caller_and_no_more_than_jobs_run_at_once(started):
    calls, most = started
    outcomes: list[tuple[str, str]] = []
    rubric = Path("/course/rubric.toml")
    LocalBackend(2).run(
        [job(name, rubric=rubric) for name in "abcde"],
        lambda job, outcome: outcomes.append((job.entry.student.id, outcome.status)),
    )
    assert sorted(outcomes) == [(name, "graded") for name in "abcde"]
    assert most[0] == 2
    assert calls[0][1] == ["--threads", "2", "--rubric", str(rubric)]


def test_a_failure_while_results_come_in_stops_the_jobs_not_yet_started(started):
    calls, _ = started

    def on_result(job, outcome):
        raise KeyboardInterrupt  # Ctrl-C while the gradebook records the first result

    with pytest.raises(KeyboardInterrupt):
        LocalBackend(1).run([job(name) for name in "abcdefgh"], on_result)
    assert len(calls) < 8


def test_the_cores_are_shared_among_the_jobs(monkeypatch):
    monkeypatch.setattr(local.os, "cpu_count", lambda: 8)
    assert [threads_per_job(jobs) for jobs in (1, 3, 8, 16)] == [8, 2, 1, 1]
