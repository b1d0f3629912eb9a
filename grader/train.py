"""Train stage (parent side): run the sandboxed worker until every model has a result or a failure.

The worker trains the models one after another. If it dies or runs out of time in the middle of a
model, that model gets a failure saying what happened (keeping what the worker wrote about it before
training: its description, probes, plan and warnings), its ablation and what-if are not run, and a fresh worker
carries on with the models left, so one runaway model never costs the others their grade.

Time budgets are the rubric's seconds stretched by how slow this machine is right now
(``grader.machine_speed``), measured once per grade before any worker starts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.boundary import OutputFolder, UnsafeResult, unusable
from grader.data import ProblemData
from grader.isolation import Isolation, isolation
from grader.load import Submission
from grader.machine_speed import machine_speed
from grader.measure import Predictions
from grader.records import CapturedOutput, Failure, FreeformRun, ModelMeasurement, to_json
from grader.rubric import Limits
from grader.sandbox import (
    DISK_BYTES,
    DISK_ENTRIES,
    MAX_PROCESSES,
    SandboxLayout,
    WorkerExit,
    run_worker,
    worker_environment,
)
from grader.worker.job import DryRun, Job, ModelReport, Task, WorkerEnvironment, skipped_retrain
from grader.worker_files import (
    DATA_ARRAYS,
    ENVIRONMENT_MAX_BYTES,
    ENVIRONMENT_RESULT,
    FREEFORM_REPORT_MAX_BYTES,
    FREEFORM_RESULT,
    MODEL_REPORT_MAX_BYTES,
    SERVED_ROWS,
    SUBMISSION_REPORT_MAX_BYTES,
    SUBMISSION_RESULT,
    result_names,
)

EventHandler = Callable[[dict[str, Any]], None]
# However much progress a student's own loop reports (the worker's word, forgeable), its training is
# stopped from outside at this many times its budget, plus grace.
HARD_CAP = 3.0
# What to look for when a phase other than training ran out of time (training's own wording says how far it got).
TIMEOUT_HINTS = {
    "build": "build_model should only construct the model; look for a loop that never ends",
    "predict": "after training, the grader runs the model on every split in batches; look in the model's forward "
    "pass (forward or call) for a loop that never ends, or for work that grows with the data",
    "": "look for a loop that never ends, or code that waits for something, in what the grader was running",
}


@dataclass
class TrainingOutcome:
    """What came back across the worker boundary, before anything is compared with hidden labels."""

    models: dict[str, ModelMeasurement]
    predictions: dict[str, Predictions]  # model key -> checked class indices per split
    submission_failure: Failure | None
    environment: WorkerEnvironment | None
    log: CapturedOutput
    isolation: Isolation
    freeform: FreeformRun | None = None  # a free-form submission's dry run, as the worker reported it


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
    dry_run: DryRun | None = None,
    on_event: EventHandler = lambda event: None,
) -> TrainingOutcome:
    """Train every task's model in sandboxed workers; results land under ``workdir``.

    ``hidden`` are paths the worker must not see where the file system can be walled off: the data
    sets the test labels come from, the grader's cache and reference solutions. Everything a worker may
    touch is laid out before it starts, and each worker gets fresh folders: a scratch folder (its home,
    with a copy of the submission) and an output folder are the only ones it can write, nothing one
    worker left there reaches the next, and the grader only reads them back, through ``grader.boundary``.
    """
    data_dir = workdir / "data"
    _write_worker_data(data, data_dir)
    speed = machine_speed(threads)  # threads 0: as many as train fastest now
    tasks = stretched(tasks, speed.factor) if tasks else []
    dry_run = stretched_dry_run(dry_run, speed.factor)
    limits = stretched_limits(limits, speed.factor)
    job = Job(
        "",
        submission.entry,
        str(data_dir),
        "",
        list(tasks),
        seed,
        device,
        speed.threads,
        n_classes={name: problem.info.n_classes for name, problem in data.items()},
        memory_bytes=int(limits.memory_gib * 2**30),
        dry_run=dry_run,
    )
    allowance = allowances({task.key: task.max_seconds for task in tasks}, limits, dry_run)
    workers = _Workers(submission, isolation(), workdir, data_dir, hidden, allowance, limits, on_event)
    return workers.until_done(job, data)


@dataclass
class _Workers:
    """What every worker of one grade shares: the submission copied into each, the walls and the folders they
    let it read or keep from it, the allowances and limits it runs under, and where its events and output go.
    Each worker gets fresh folders: nothing one worker left there reaches the next."""

    submission: Submission
    walls: Isolation
    workdir: Path
    data_dir: Path
    hidden: list[Path]
    allowance: Callable[[str, str | None], float]
    limits: Limits
    on_event: EventHandler
    logs: list[CapturedOutput] = field(default_factory=list)

    def until_done(self, job: Job, data: dict[str, ProblemData]) -> TrainingOutcome:
        """Workers one after another until every task has a result or a failure, or the submission itself
        failed: a worker that stops in the middle of a model leaves the rest to a fresh one."""
        outcome = TrainingOutcome({}, {}, None, None, CapturedOutput(), self.walls)
        while True:  # once at least: a free-form submission's dry run may be all there is to do
            exit_, partial = self.run(job, data, outcome)
            if outcome.submission_failure or (exit_.phase in ("start", "import") and not exit_.finished):
                failure = outcome.submission_failure or _import_failure(exit_, self.submission.entry, job.dry_run)
                outcome.submission_failure = failure
                break
            job.tasks = _left_after(exit_, job.tasks, partial, outcome, self.limits)
            if not job.tasks:
                break
        outcome.log = _join_logs(self.logs)
        return outcome

    def run(
        self, job: Job, data: dict[str, ProblemData], outcome: TrainingOutcome
    ) -> tuple[WorkerExit, dict[str, ModelReport]]:
        """One worker in fresh folders (a scratch home with a copy of the submission, and an output folder: the
        only ones it can write), its results read back into ``outcome`` and the folders removed. Returns how
        it ended and the reports it wrote before training that no final one replaced."""
        scratch, out_dir = (Path(tempfile.mkdtemp(prefix=prefix, dir=self.workdir)) for prefix in ("scratch-", "out-"))
        job.submission_dir, job.out_dir = str(_copy_submission(self.submission, scratch / "submission")), str(out_dir)
        layout = SandboxLayout(self.walls, writable=[scratch, out_dir], readable=[self.data_dir], hidden=self.hidden)
        self.walls.hand_over(layout.writable, layout.readable)
        exit_ = self._start(job, layout)
        partial = _collect(out_dir, job.tasks, data, outcome)
        for folder in (scratch, out_dir):  # never through a link the worker made: rmtree works on descriptors
            shutil.rmtree(folder, ignore_errors=True)
        return exit_, partial

    def _start(self, job: Job, layout: SandboxLayout) -> WorkerExit:
        """One worker, from start to end: the job on its standard input, its pipes, and the run."""
        events_read, events_write = os.pipe()
        lifeline_read, lifeline_write = os.pipe()
        job.events_fd, job.lifeline_fd = events_write, lifeline_read
        scratch = Path(job.submission_dir).parent
        try:
            return run_worker(
                to_json(job),
                [task.key for task in job.tasks],
                events_write,
                events_read,
                lifeline_read,
                cwd=scratch,
                env=worker_environment(scratch, job.threads, job.device),
                layout=layout,
                allowance=self.allowance,
                limits=self.limits,
                on_event=self.on_event,
                log_sink=self.logs,
            )
        finally:
            os.close(lifeline_write)


def allowances(budgets: dict[str, float], limits: Limits, dry_run: DryRun | None) -> Callable[[str, str | None], float]:
    """The seconds each phase of a worker may take (``allowance(phase, task)``), from the rubric's limits and
    each task's stretched budget (``budgets``, by task key): what the sandbox's watcher enforces."""

    def allowance(phase: str, task: str | None) -> float:
        if phase == "import":  # importing a module, or a free-form submission's whole dry run
            return dry_run.seconds + limits.grace_seconds if dry_run else limits.import_seconds
        if phase == "train" and task in budgets:
            return budgets[task] + limits.grace_seconds
        if phase == "budget" and task in budgets:  # what the display shows: the budget, without the grace
            return budgets[task]
        if phase == "train_cap" and task in budgets:
            return HARD_CAP * budgets[task] + limits.grace_seconds
        if phase == "progress":  # training that reports progress is kept going this long after each report
            return limits.grace_seconds
        return limits.build_seconds

    return allowance


def _left_after(
    exit_: WorkerExit, tasks: list[Task], partial: dict[str, ModelReport], outcome: TrainingOutcome, limits: Limits
) -> list[Task]:
    """The tasks a fresh worker goes on with, once one ended before its last: the model it was working on gets
    the failure (so one runaway model never costs the others their grade), and that model's ablation and
    what-if, which would only repeat it, are skipped."""
    missing = [task for task in tasks if task.key not in outcome.models]
    if not missing:
        return []
    culprit = next((task for task in missing if task.key == exit_.task), missing[0])
    outcome.models[culprit.key] = _stopped(culprit, partial.get(culprit.key), exit_, limits)
    left = [task for task in missing if task is not culprit]
    for task in [task for task in left if not task.main and culprit.main and _same_model(task, culprit)]:
        outcome.models[task.key] = ModelMeasurement(task.problem, task.variant, failure=skipped_retrain(task))
        left.remove(task)
    return left


def stretched(tasks: list[Task], factor: float) -> list[Task]:
    """The tasks with their time budgets stretched by the machine's slowness factor."""
    return [dataclasses.replace(task, max_seconds=task.max_seconds * factor, machine_factor=factor) for task in tasks]


def stretched_dry_run(dry_run: DryRun | None, factor: float) -> DryRun | None:
    """A free-form notebook's dry run with its budgets stretched like training's: on a busy machine its cells
    take longer too, and a cell interrupted for the machine's slowness would cost the student points."""
    if dry_run is None:
        return None
    seconds, cell, train = (factor * s for s in (dry_run.seconds, dry_run.cell_seconds, dry_run.train_seconds))
    return dataclasses.replace(dry_run, seconds=seconds, cell_seconds=cell, train_seconds=train)


def stretched_limits(limits: Limits, factor: float) -> Limits:
    """The rubric's time limits on importing, building and predicting, stretched like training's budgets: on a
    busy machine a model's prediction is slower too, and one stopped for the machine's slowness would lose the
    accuracy of a model that trained well."""
    return dataclasses.replace(
        limits, import_seconds=factor * limits.import_seconds, build_seconds=factor * limits.build_seconds
    )


def _same_model(a: Task, b: Task) -> bool:
    return (a.problem, a.variant) == (b.problem, b.variant)


def _stopped(task: Task, partial: ModelReport | None, exit_: WorkerExit, limits: Limits) -> ModelMeasurement:
    """A model whose worker was stopped or died while working on it: the failure, and what the worker had
    written about it before training (``partial``), which needs no finished training. Its run, kept for the
    plan and its warnings, says ``killed`` with the epochs the worker reported finished (its own word:
    wording only, as the failure fails the model's accuracy whatever the count)."""
    failure = _worker_failure(exit_, task, limits)
    if partial is None:
        return ModelMeasurement(task.problem, task.variant, failure=failure)
    run = partial.run
    if run is not None:
        epochs = int(exit_.progress_epochs or 0) if exit_.phase == "train" else 0
        seconds = exit_.phase_seconds if exit_.phase == "train" else 0.0
        run = dataclasses.replace(run, history=[], epochs_run=epochs, stop_reason="killed", seconds=round(seconds, 3))
    return ModelMeasurement(
        task.problem,
        task.variant,
        description=partial.description,
        run=run,
        failure=failure,
        probes=partial.probes,
        switched_off=None if task.main else partial.switched_off,
        what_if=_what_if(task, partial),
    )


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
    """Everything the worker may see, as .npy files it memory-maps: no test labels among them. The folder is
    made even for no data: the sandbox binds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, problem in data.items():
        directory = data_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        for array in DATA_ARRAYS:
            np.save(directory / f"{array}.npy", np.ascontiguousarray(getattr(problem, array)), allow_pickle=False)
        if problem.served_rows is not None:
            np.save(directory / f"{SERVED_ROWS}.npy", problem.served_rows, allow_pickle=False)


def _collect(
    out_dir: Path, tasks: list[Task], data: dict[str, ProblemData], outcome: TrainingOutcome
) -> dict[str, ModelReport]:
    """Read back what the worker wrote, as hostile input: anything unusable is the submission's doing and
    becomes a failure of the model (or the submission) it claims to be about. Returns the reports written
    before training that no final one replaced: the worker stopped in the middle of those models."""
    partial: dict[str, ModelReport] = {}
    folder = OutputFolder.open(out_dir)
    try:
        if folder.exists(SUBMISSION_RESULT):
            try:
                outcome.submission_failure = folder.read_record(SUBMISSION_RESULT, Failure, SUBMISSION_REPORT_MAX_BYTES)
            except UnsafeResult as error:
                outcome.submission_failure = unusable("report on the submission", error)
        if folder.exists(FREEFORM_RESULT):
            try:
                outcome.freeform = folder.read_record(FREEFORM_RESULT, FreeformRun, FREEFORM_REPORT_MAX_BYTES)
            except UnsafeResult as error:
                outcome.submission_failure = unusable("report on the notebook's run", error)
        if folder.exists(ENVIRONMENT_RESULT):
            try:
                outcome.environment = folder.read_record(ENVIRONMENT_RESULT, WorkerEnvironment, ENVIRONMENT_MAX_BYTES)
            except UnsafeResult:
                outcome.environment = None  # only the report's environment table goes without it
        for task in tasks:
            report_name, _ = result_names(task.key)
            if not folder.exists(report_name):
                continue
            try:
                report = folder.read_record(report_name, ModelReport, MODEL_REPORT_MAX_BYTES)
            except UnsafeResult as error:
                report = ModelReport(failure=unusable(f"report on {task.key}", error))
            if report.partial:
                partial[task.key] = report
            else:
                _collect_model(folder, task, report, data[task.problem], outcome)
    finally:
        folder.close()
    return partial


def _collect_model(
    folder: OutputFolder, task: Task, report: ModelReport, problem: ProblemData, outcome: TrainingOutcome
) -> None:
    """One model's report and predictions. What the model is, and whether predictions must come back,
    is the grader's to know from its own task list, not the worker's to say."""
    _, predictions_name = result_names(task.key)
    model = ModelMeasurement(
        task.problem,
        task.variant,
        description=report.description,
        run=report.run,
        failure=report.failure,
        probes=report.probes,
        switched_off=None if task.main else report.switched_off,
        what_if=_what_if(task, report),
    )
    nothing_to_switch_off = not task.main and report.switched_off == []
    if model.failure is None and not nothing_to_switch_off:
        lengths = {"train": len(problem.y_train), "val": len(problem.y_val), "test": len(problem.x_test)}
        if task.main:  # and through the freshly built model: accurate untrained, it did not learn
            lengths |= {"untrained": len(problem.y_val), "untrained_test": len(problem.x_test)}
        try:
            outcome.predictions[task.key] = folder.read_predictions(predictions_name, lengths)
        except UnsafeResult as error:
            model = dataclasses.replace(model, run=None, failure=unusable(f"predictions for {task.key}", error))
    outcome.models[task.key] = model


def _what_if(task: Task, report: ModelReport) -> str | None:
    """The fixes a what-if run says it made, kept only where they are fixes the task asked for."""
    if task.what_if is None or not report.what_if:
        return None
    named = [fix for fix in report.what_if.split("+") if task.what_if.wants(fix)]
    return "+".join(dict.fromkeys(named)) or None


def _import_failure(exit_: WorkerExit, entry: str, dry_run: DryRun | None) -> Failure:
    if dry_run is not None:  # a free-form submission: its cells were running
        return Failure(
            "import_error",
            f"the worker {exit_.reason()} while running the cells of {entry}",
            f"run it yourself with Restart & Run All; a cell may use more than the {dry_run.seconds:g} s, the memory "
            "or the processes the grader allows, or crash Python",
        )
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
    elif task.what_if is not None:
        what += " in the what-if run (its mistakes undone)"
    if exit_.limit is not None:
        return _limit_failure(exit_.limit, what, limits)
    if exit_.timed_out:
        if exit_.phase == "train":
            return _training_timeout(exit_, task, what)
        return Failure(
            "timeout",
            f"{what} ran past its time limit of {_seconds(limits.build_seconds, task.machine_factor)} and was stopped",
            TIMEOUT_HINTS.get(exit_.phase or "", TIMEOUT_HINTS[""]),
        )
    return Failure(
        "crash",
        f"the worker {exit_.reason()} during {what}",
        "run the same code yourself to see the crash; the captured output below may show more",
    )


def _training_timeout(exit_: WorkerExit, task: Task, what: str) -> Failure:
    """Training stopped from outside: whether it had been making progress, and how far it got. A loop
    that makes progress is stopped by the worker itself at the budget and graded, so one here either never
    trained, stopped making progress, or would not stop (it caught the grader's stop)."""
    stopped = (
        f"{what} ran past its budget of {_seconds(task.max_seconds, task.machine_factor)} plus grace and was stopped"
    )
    if exit_.progress_age is None:
        return Failure(
            "timeout",
            f"{stopped}; it made no progress: not one training batch went through the model",
            "look for a loop that never ends before the first batch, or one that trains something other than "
            "the model it was given",
        )
    epochs = f"after {int(exit_.progress_epochs or 0)} finished epochs"
    if not exit_.at_cap:
        return Failure(
            "timeout",
            f"{stopped}; it made no progress in the last {exit_.progress_age:.0f} s, {epochs}",
            "look for a loop that never ends, or one that waits for something",
        )
    return Failure(
        "timeout",
        f"{stopped} at {HARD_CAP:g} times its budget, still training, {epochs}",
        "train for fewer epochs or a smaller model, and do not catch BaseException in train(): the grader stops "
        "training at the budget by raising one, and grades the epochs that finished",
    )


def _seconds(stretched: float, factor: float) -> str:
    """A time limit as it was enforced, and the rubric's figure where the machine's speed stretched it."""
    text = f"{stretched:.3g} s"
    return f"{text} ({stretched / factor:g} s, x{factor:g} for this machine's speed)" if factor > 1 else text


def _limit_failure(limit: str, what: str, limits: Limits) -> Failure:
    """A worker the grader stopped for holding too much: which limit, and what to change."""
    amount, hint = {
        "memory": (
            f"{limits.memory_gib:g} GiB of memory, the limit",
            "use a smaller model or batch size, and do not keep copies of the data",
        ),
        "processes": (
            f"{MAX_PROCESSES} processes, the limit",
            "do not start processes in your code; train in the worker's own process",
        ),
        "disk": (
            f"{DISK_BYTES / 2**30:g} GiB or {DISK_ENTRIES:,} files on disk, the limit",
            "do not write files while grading; the grader trains and saves nothing to disk",
        ),
    }[limit]
    return Failure(limit, f"{what} used more than {amount}", hint)


def _join_logs(logs: list[CapturedOutput]) -> CapturedOutput:
    if len(logs) == 1:
        return logs[0]
    separator = "\n--- worker restarted ---\n"
    return CapturedOutput(
        separator.join(log.text for log in logs),
        sum(log.total_bytes for log in logs),
        any(log.truncated for log in logs),
    )
