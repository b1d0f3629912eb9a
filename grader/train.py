"""Train stage (parent side): run the sandboxed worker until every model has a result or a failure.

The worker trains the models one after another. If it dies or runs out of time in the middle of a
model, that model gets a failure saying what happened, and a fresh worker carries on with the models
left, so one runaway model never costs the others their grade.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.data import ProblemData
from grader.isolation import Isolation, isolation
from grader.load import Submission
from grader.records import CapturedOutput, Failure, ModelMeasurement, from_json, to_json
from grader.rubric import Limits
from grader.sandbox import WorkerExit, run_worker, worker_environment
from grader.worker.job import ENVIRONMENT_RESULT, SUBMISSION_RESULT, Job, Task, result_paths

EventHandler = Callable[[dict[str, Any]], None]


@dataclass
class TrainingOutcome:
    """What came back across the worker boundary, before anything is compared with hidden labels."""

    models: dict[str, ModelMeasurement]
    predictions: dict[str, Path]  # model key -> the worker's .npz (inside ``workdir``)
    submission_failure: Failure | None
    environment: dict[str, Any]
    log: CapturedOutput
    isolation: Isolation
    workdir: Path


def train_submission(
    submission: Submission,
    data: dict[str, ProblemData],
    tasks: list[Task],
    *,
    seed: int,
    device: str,
    limits: Limits,
    threads: int,
    workdir: Path,
    hidden: list[Path],
    on_event: EventHandler = lambda event: None,
) -> TrainingOutcome:
    """Train every task's model in sandboxed workers; results land under ``workdir``.

    ``hidden`` are paths the worker must not see where the file system can be walled off: the data
    sets the test labels come from, the grader's cache and reference solutions.
    """
    scratch, data_dir, out_dir = workdir / "scratch", workdir / "data", workdir / "out"
    for directory in (scratch, data_dir, out_dir):
        directory.mkdir(parents=True, exist_ok=True)
    submission_dir = _copy_submission(submission, scratch / "submission")
    _write_worker_data(data, data_dir)
    walls = isolation()
    job = Job(
        str(submission_dir),
        submission.entry,
        str(data_dir),
        str(out_dir),
        list(tasks),
        seed,
        device,
        threads or os.cpu_count() or 1,
        n_classes={name: problem.info.n_classes for name, problem in data.items()},
        memory_bytes=int(limits.memory_gib * 2**30),
    )
    budgets = {task.key: task.max_seconds for task in tasks}

    def allowance(phase: str, task: str | None) -> float:
        if phase == "import":
            return limits.import_seconds
        if phase == "train" and task in budgets:
            return budgets[task] + limits.grace_seconds
        return limits.build_seconds

    outcome = TrainingOutcome({}, {}, None, {}, CapturedOutput(), walls, workdir)
    logs: list[CapturedOutput] = []
    while job.tasks:
        exit_ = _run_once(job, workdir, walls, hidden, allowance, on_event, logs)
        _collect(out_dir, job.tasks, outcome)
        if outcome.submission_failure or (exit_.phase in ("start", "import") and not exit_.finished):
            outcome.submission_failure = outcome.submission_failure or _import_failure(exit_, submission.entry)
            break
        missing = [task for task in job.tasks if task.key not in outcome.models]
        if not missing:
            break
        culprit = next((task for task in missing if task.key == exit_.task), missing[0])
        outcome.models[culprit.key] = ModelMeasurement(
            culprit.problem, culprit.variant, failure=_worker_failure(exit_, culprit, limits)
        )
        job.tasks = [task for task in missing if task is not culprit]  # a fresh worker goes on with the rest
    outcome.log = _join_logs(logs)
    return outcome


def _run_once(
    job: Job,
    workdir: Path,
    walls: Isolation,
    hidden: list[Path],
    allowance: Callable[[str, str | None], float],
    on_event: EventHandler,
    logs: list[CapturedOutput],
) -> WorkerExit:
    """One worker, from start to end: the job file, its pipes, and the run."""
    events_read, events_write = os.pipe()
    lifeline_read, lifeline_write = os.pipe()
    job.events_fd, job.lifeline_fd = events_write, lifeline_read
    job_path = workdir / "job.json"
    job_path.write_text(to_json(job))
    scratch = Path(job.submission_dir).parent
    try:
        return run_worker(
            job_path,
            events_write,
            events_read,
            lifeline_read,
            cwd=scratch,
            env=worker_environment(scratch, job.threads, job.device),
            walls=walls,
            hidden=hidden,
            allowance=allowance,
            on_event=on_event,
            log_sink=logs,
        )
    finally:
        os.close(lifeline_write)


def _copy_submission(submission: Submission, destination: Path) -> Path:
    """A private copy: the student's code may scribble on it without touching the original. A notebook
    arrives as the module generated from it."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in submission.files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(submission.root / name, target)
    for name, text in submission.generated.items():
        (destination / name).write_text(text)
    return destination


def _write_worker_data(data: dict[str, ProblemData], data_dir: Path) -> None:
    """Everything the worker may see, as .npy files it memory-maps: no test labels among them."""
    for name, problem in data.items():
        directory = data_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        for array in ("x_train", "y_train", "x_val", "y_val", "x_test"):
            np.save(directory / f"{array}.npy", np.ascontiguousarray(getattr(problem, array)), allow_pickle=False)


def _collect(out_dir: Path, tasks: list[Task], outcome: TrainingOutcome) -> None:
    """Read back what the worker wrote; anything malformed is the submission's doing and is reported."""
    submission_file = out_dir / SUBMISSION_RESULT
    if submission_file.exists():
        outcome.submission_failure = _read(submission_file, Failure)
    environment_file = out_dir / ENVIRONMENT_RESULT
    if environment_file.exists():
        try:
            outcome.environment = json.loads(environment_file.read_text())
        except ValueError:
            outcome.environment = {}
    for task in tasks:
        json_path, npz_path = result_paths(out_dir, task.key)
        if not json_path.exists():
            continue
        measurement = _read(json_path, ModelMeasurement)
        if isinstance(measurement, Failure):
            measurement = ModelMeasurement(task.problem, task.variant, failure=measurement)
        outcome.models[task.key] = measurement
        if npz_path.exists():
            outcome.predictions[task.key] = npz_path


def _read(path: Path, record: type) -> Any:
    try:
        return from_json(record, path.read_text())
    except Exception as error:  # written next to student code: treat as untrusted input
        return Failure(
            "malformed_result",
            f"the worker's result {path.name} could not be read ({error})",
            "this happens when the submission's code writes into the grader's files",
        )


def _import_failure(exit_: WorkerExit, entry: str) -> Failure:
    return Failure(
        "import_error",
        f"the worker {exit_.reason()} while importing {entry}",
        "the module's top level should only import things and define functions and constants; "
        'put training runs under  if __name__ == "__main__":',
    )


def _worker_failure(exit_: WorkerExit, task: Task, limits: Limits) -> Failure:
    what = {
        "build": f"build_model({task.problem!r}, {task.variant!r})",
        "train": "training",
        "predict": "prediction",
    }.get(exit_.phase or "", "work on this model")
    if task.ablation:
        what += " in the ablation run (regularization switched off)"
    if exit_.timed_out:
        if exit_.phase == "train":
            return Failure(
                "timeout",
                f"{what} ran past its budget of {task.max_seconds:g} s plus grace and was stopped",
                "look for a loop that never ends, or train for fewer epochs",
            )
        return Failure(
            "timeout",
            f"{what} ran past its time limit ({limits.build_seconds:g} s) and was stopped",
            "build_model should only construct the model; look for a loop that never ends",
        )
    return Failure(
        "crash",
        f"the worker {exit_.reason()} during {what}",
        "run the same code yourself to see the crash; the captured output below may show more",
    )


def _join_logs(logs: list[CapturedOutput]) -> CapturedOutput:
    if len(logs) == 1:
        return logs[0]
    separator = "\n--- worker restarted ---\n"
    return CapturedOutput(
        separator.join(log.text for log in logs),
        sum(log.total_bytes for log in logs),
        any(log.truncated for log in logs),
    )
