"""The contract between the grader and its worker: what to train, where the data is, where to write.

The parent sends the job on the worker's standard input (so it never lies in a folder the worker can
write) and writes the data arrays before the worker starts; the worker writes one ``ModelReport`` and one
file of predictions per model into ``out_dir`` (``grader.worker_files`` names them all) and reports
progress as JSON lines on the events file descriptor. Nothing crosses the boundary as a pickle, the test
labels never cross it at all, and nothing the worker sends back carries an accuracy: the grader computes
those from the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.records import Failure, Fixes, ModelDescription, ModelProbes, TrainingRun, model_key
from grader.worker_files import ABLATION_SUFFIX, WHAT_IF_SUFFIX


@dataclass
class Task:
    """One model to build, train and predict with."""

    problem: str
    variant: str
    defaults: dict[str, Any]  # the rubric's hyperparameters for this problem
    max_epochs: int
    max_seconds: float  # the rubric's seconds times machine_factor: what training may take here
    quick: bool = False
    # Retrain with the model's regularization switched off, to see what it did (an ablation).
    ablation: bool = False
    machine_factor: float = 1.0  # grader.machine_speed's measure of this machine, for the report
    # Retrain with the mistakes among these that the model shows undone, to measure what fixing them buys.
    what_if: Fixes | None = None

    @property
    def key(self) -> str:
        suffix = ABLATION_SUFFIX if self.ablation else WHAT_IF_SUFFIX if self.what_if else ""
        return model_key(self.problem, self.variant) + suffix

    @property
    def main(self) -> bool:
        """The model's own run, not a retrain of it (an ablation or a what-if) that is compared with it."""
        return not self.ablation and self.what_if is None


@dataclass
class ModelReport:
    """What the worker observed about one model. Only observations: they can cost the submission points
    (a failure, a missing regularization) but accuracy is not among them."""

    description: ModelDescription | None = None
    run: TrainingRun | None = None
    failure: Failure | None = None
    probes: ModelProbes | None = None
    # An ablation or what-if run: what was switched off or changed ([] when nothing, and then it is not trained).
    switched_off: list[str] | None = None
    what_if: str | None = None  # a what-if run: the fixes that changed something, joined by "+"
    # Written after the build, before training: what needs no finished training (description, probes, the
    # plan and its warnings), read back only when the worker is stopped before the final report replaces it.
    partial: bool = False


@dataclass
class WorkerEnvironment:
    """What the worker ran with, for the report: read strictly, so a forged one is refused, not trusted."""

    python: str
    platform: str
    libraries: dict[str, str]  # library -> version, of those the submission loaded
    peak_memory_mb: float


@dataclass
class DryRun:
    """A free-form submission is run top to bottom before its models are retrained: within these budgets."""

    seconds: float  # the whole run; cells past it are not run
    cell_seconds: float  # one cell, then it is interrupted
    train_seconds: float  # training in one cell (fit, optimizer steps), then it is cut short
    cells: list[dict[str, Any]] = field(default_factory=list)  # {"cell": number or None, "source": code}
    chosen: dict[str, str] = field(default_factory=dict)  # cell number (as text) -> "iris multi" from a tag


@dataclass
class Job:
    submission_dir: str  # a copy of the submission, inside the worker's scratch directory
    entry: str  # the file to import, relative to submission_dir
    data_dir: str
    out_dir: str
    tasks: list[Task]
    seed: int
    device: str  # "auto" | "cpu" | "cuda"
    threads: int
    events_fd: int = -1
    lifeline_fd: int = -1  # closes when the grader dies: the worker must not outlive it
    n_classes: dict[str, int] = field(default_factory=dict)
    memory_bytes: int = 0  # the worker's data-segment limit; 0: none
    dry_run: DryRun | None = None  # a free-form submission: run it first, then grade the models it made


def skipped_retrain(task: Task) -> Failure:
    """An ablation or a what-if compares a model with itself retrained: when the model itself failed there
    is nothing to compare, and retraining would only cost time."""
    main_key = model_key(task.problem, task.variant)
    return Failure(
        "skipped",
        f"not run: {main_key} itself failed, so there is nothing to compare it with",
        f"fix {main_key} first; its {'ablation' if task.ablation else 'what-if'} runs once it trains",
    )
