"""The whole pipeline, one direction: load -> (sandboxed worker) train -> measure -> score.

Rendering is left to the caller, which holds the one report object this returns.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.baselines import REFERENCE_DIR, Baselines
from grader.cache import MeasurementCache, cache_key, code_digest
from grader.data import PROBLEMS, ProblemData, load_problem
from grader.devices import device_kind
from grader.errors import UngradableError
from grader.isolation import secrets_in_home
from grader.load import FREEFORM, Submission, load_submission
from grader.locations import cache_dir
from grader.measure import measure
from grader.mistakes import CodeCell, find_in_code, stale_names
from grader.records import (
    MODEL_KEYS,
    CapturedOutput,
    Environment,
    Failure,
    FreeformRun,
    Measurements,
    Mode,
    ModelMeasurement,
    Settings,
    SubmissionInfo,
    model_key,
)
from grader.report import Report, created_now
from grader.rubric import Rubric
from grader.score import score
from grader.train import TrainingOutcome, train_submission
from grader.worker.found_models import PICK
from grader.worker.job import DryRun, Task, WorkerEnvironment


@dataclass
class GradeOptions:
    quick: bool = False
    device: str = "auto"
    data_dir: Path | None = None
    problems: tuple[str, ...] = PROBLEMS
    seed: int | None = None  # None: the rubric's
    threads: int = 0  # 0: all cores
    keep_workdir: bool = False
    run_all: bool = False  # a notebook: run every cell, not only definitions
    progress: bool = False  # show download progress bars
    cache: bool = True  # reuse the measurements of an unchanged submission
    test_data: dict[str, Path] = field(default_factory=dict)  # problem -> the instructor's own test set
    find_only: bool = False  # a free-form submission: run it and find its models, train none of them
    on_event: Callable[[dict[str, Any]], None] = field(default=lambda event: None)

    @property
    def mode(self) -> Mode:
        return "quick" if self.quick else "full"


def grade(path: Path, options: GradeOptions, rubric: Rubric, baselines: Baselines | None) -> Report:
    return score(measure_submission(path, options, rubric), baselines, rubric, created=created_now())


def tasks_for(rubric: Rubric, options: GradeOptions) -> list[Task]:
    """The models to train, each multi-layer one followed by its ablation where the rubric asks for one, and
    each model by its what-if (retrained with its mistakes undone; not trained when it has none)."""
    tasks = []
    training = rubric.training
    for problem, variant in MODEL_KEYS:
        if problem not in options.problems or options.find_only:
            continue
        rules = training.problems[problem]
        task = Task(
            problem,
            variant,
            dict(vars(rules.defaults)),
            rules.epoch_budget(options.quick),
            rules.seconds_per_model,
            options.quick,
        )
        tasks.append(task)
        if variant == "multi" and training.ablation.runs_for(problem, options.quick):
            tasks.append(dataclasses.replace(task, ablation=True))
        if training.what_if.runs_for(problem, options.quick):
            seconds = training.what_if.seconds_per_run or rules.seconds_per_model
            tasks.append(dataclasses.replace(task, max_seconds=seconds, what_if=training.what_if_fixes()))
    return tasks


def hidden_from_worker(data: dict[str, ProblemData], data_dir: Path | None) -> list[Path]:
    """What the worker must not see: where test labels live, the grader's cache and reference files,
    and the credentials in the user's home."""
    places = [cache_dir(), REFERENCE_DIR, *secrets_in_home()]
    places += [Path(p) for p in (data_dir, os.environ.get("GRADER_DATA_DIR")) if p]
    places += [path for problem in data.values() for path in problem.hidden]
    return places


def measure_submission(path: Path, options: GradeOptions, rubric: Rubric) -> Measurements:
    """Load, train in the sandbox and measure: everything but the scoring."""
    started = time.perf_counter()
    seed = rubric.seed if options.seed is None else options.seed
    settings = Settings(options.mode, seed, options.device, list(options.problems))
    try:
        submission = load_submission(path, run_all=options.run_all)
    except UngradableError as error:  # a notebook that cannot be read or parsed: graded as not gradable
        return _ungradable(path, settings, error.failure, started)
    data = _load_data(options)
    cache, key = MeasurementCache(), _cache_key(submission, data, options, rubric, seed)
    use_cache = options.cache and not options.find_only
    cached = cache.get(key) if use_cache else None
    if cached is not None:
        return dataclasses.replace(
            cached, submission=_submission_info(submission), reused=True, seconds=_since(started)
        )
    tasks = tasks_for(rubric, options)
    finished = cache.get_models(key, [task.key for task in tasks if not task.ablation]) if use_cache else {}
    to_train = [task for task in tasks if model_key(task.problem, task.variant) not in finished]
    outcome, trained = _train(submission, data, to_train, seed, options, rubric)
    models = finished | trained
    failure = outcome.submission_failure
    measurements = Measurements(
        grader_version=__version__,
        submission=_submission_info(submission),
        settings=settings,
        data={problem: problem_data.info for problem, problem_data in data.items()},
        models=[_explained(models[task.key], submission) for task in tasks if task.key in models],
        failure=submission.explain(failure) if failure else None,
        environment=_environment(outcome),
        log=outcome.log,
        seconds=_since(started),
        freeform=_freeform(submission, outcome.freeform),
    )
    if not options.find_only:
        cache.put(key, measurements)
    return measurements


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _ungradable(path: Path, settings: Settings, failure: Failure, started: float) -> Measurements:
    """The measurements of a submission that could not even be loaded: its failure, and nothing measured."""
    return Measurements(
        grader_version=__version__,
        submission=SubmissionInfo(str(path), path.name, [], ""),
        settings=settings,
        data={},
        models=[],
        failure=failure,
        environment=Environment(),
        log=CapturedOutput(),
        seconds=_since(started),
    )


def _load_data(options: GradeOptions) -> dict[str, ProblemData]:
    options.on_event({"event": "stage", "status": f"loading {' and '.join(options.problems)}"})
    return {
        problem: load_problem(
            problem,
            quick=options.quick,
            data_dir=options.data_dir,
            progress=options.progress,
            test_data=options.test_data.get(problem),
        )
        for problem in options.problems
    }


def _train(
    submission: Submission,
    data: dict[str, ProblemData],
    tasks: list[Task],
    seed: int,
    options: GradeOptions,
    rubric: Rubric,
) -> tuple[TrainingOutcome, dict[str, ModelMeasurement]]:
    """Train ``tasks`` in the sandboxed worker, and measure what came back against the hidden labels."""
    limits = rubric.limits
    if options.run_all:
        limits = dataclasses.replace(limits, import_seconds=limits.run_all_seconds)
    workdir = Path(tempfile.mkdtemp(prefix="grader-"))
    options.on_event({"event": "stage", "status": "starting the worker"})
    try:
        outcome = train_submission(
            submission,
            data,
            tasks,
            seed=seed,
            device=options.device,
            limits=limits,
            threads=options.threads,
            workdir=workdir,
            hidden=hidden_from_worker(data, options.data_dir),
            dry_run=_dry_run(submission, rubric),
            on_event=options.on_event,
        )
        return outcome, measure(outcome.models, outcome.predictions, data)
    finally:
        if not options.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _environment(outcome: TrainingOutcome) -> Environment:
    """What the worker ran with (its own word, for the report) and how the grader walled it off."""
    reported = outcome.environment or WorkerEnvironment("", "", {}, 0.0)
    return Environment(
        python=reported.python,
        platform=reported.platform,
        libraries=reported.libraries,
        isolation=outcome.isolation.tool,
        isolated=list(outcome.isolation.features),
        peak_memory_mb=reported.peak_memory_mb,
    )


def _dry_run(submission: Submission, rubric: Rubric) -> DryRun | None:
    """What the worker runs first for a free-form submission: its cells, within the rubric's budget."""
    if submission.mode != FREEFORM:
        return None
    rules = rubric.freeform
    picks = {str(cell.number): tag for cell in submission.cells for tag in cell.tags if PICK.search(tag)}
    return DryRun(
        rules.dry_run_seconds,
        rules.cell_seconds,
        rules.train_seconds,
        [{"cell": cell.number or None, "source": cell.source} for cell in submission.cells],
        picks,
    )


def _freeform(submission: Submission, run: FreeformRun | None) -> FreeformRun | None:
    """The worker's account of the run (anything in it may be forged: it only informs and flags), with the
    mistakes the grader reads in the code itself added."""
    if submission.mode != FREEFORM:
        return None
    run = run or FreeformRun()
    cells = [CodeCell(cell.number, cell.source) for cell in submission.cells]
    failures = [(cell.cell or 0, cell.error) for cell in run.failed_cells()]
    static = find_in_code(cells, submission.notebook or submission.entry)
    static += stale_names(cells, failures, submission.notebook or submission.entry)
    kinds = {finding.kind for finding in static}  # the grader's own reading of the code comes first
    return dataclasses.replace(run, findings=[*static, *(f for f in run.findings if f.kind not in kinds)])


def _submission_info(submission: Submission) -> SubmissionInfo:
    return SubmissionInfo(
        submission.path, submission.notebook or submission.entry, submission.files, submission.content_hash
    )


def _cache_key(
    submission: Submission, data: dict[str, ProblemData], options: GradeOptions, rubric: Rubric, seed: int
) -> str:
    chosen = {"mode": options.mode, "problems": sorted(options.problems), "seed": seed, "run_all": options.run_all}
    fingerprints = {problem: problem_data.info.fingerprint for problem, problem_data in data.items()}
    files = {name: (submission.root / name).read_bytes() for name in submission.files}
    files |= {name: module.encode() for name, module in submission.generated.items()}
    for cell in submission.cells:  # a free-form run's cells, with the tags that may pick its models
        files[f"cell {cell.number}"] = cell.source.encode() + repr(sorted(cell.tags)).encode()
    return cache_key(code_digest(files), rubric, chosen, fingerprints, __version__, device_kind(options.device))


def _explained(model: ModelMeasurement, submission: Submission) -> ModelMeasurement:
    """The model's failures (its ablation's and what-ifs' too) in the student's terms: cell and line for a
    notebook."""
    failure = submission.explain(model.failure) if model.failure else None
    ablation = _explained(model.ablation, submission) if model.ablation else None
    what_ifs = [_explained(what_if, submission) for what_if in model.what_ifs]
    return dataclasses.replace(model, failure=failure, ablation=ablation, what_ifs=what_ifs)
