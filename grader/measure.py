"""Measure stage: compare the worker's predictions with labels only the grader holds.

The worker reports training curves, but the accuracies that are scored are computed here, in the
grader's own process, from predictions the train stage has already checked: a submission cannot report
its own grade.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from grader.data import DataInfo, ProblemData
from grader.records import Accuracy, CapturedOutput, Failure, FreeformRun, ModelMeasurement
from grader.worker.job import ABLATION_SUFFIX, WHAT_IF_SUFFIX

Predictions = dict[str, np.ndarray]  # split ("train", "val", "test", "untrained") -> class indices


def measure(
    models: dict[str, ModelMeasurement], predictions: dict[str, Predictions], data: dict[str, ProblemData]
) -> dict[str, ModelMeasurement]:
    """Every trained model with its train, validation and test accuracy filled in, and its ablation and
    what-if runs (if there were any) attached to it. A model without predictions keeps the failure the
    train stage gave it (or is an ablation with nothing to switch off). A what-if that found nothing to
    undo was not retrained: it is left out, as there is nothing it could show."""
    measured = {
        key: dataclasses.replace(model, accuracy=accuracy(predictions[key], data[model.problem]))
        if key in predictions
        else model
        for key, model in models.items()
    }
    for key in [k for k in measured if k.endswith(ABLATION_SUFFIX)]:
        ablation = measured.pop(key)
        main = measured.get(key.removesuffix(ABLATION_SUFFIX))
        if main is not None:
            measured[main.key] = dataclasses.replace(main, ablation=ablation)
    for key in [k for k in measured if k.endswith(WHAT_IF_SUFFIX)]:
        what_if = measured.pop(key)
        main = measured.get(key.removesuffix(WHAT_IF_SUFFIX))
        if main is not None and (what_if.switched_off or what_if.failure is not None):
            measured[main.key] = dataclasses.replace(main, what_ifs=[*main.what_ifs, what_if])
    return measured


def accuracy(predicted: Predictions, problem: ProblemData) -> Accuracy:
    """Accuracy per split against the grader's labels; ``predicted`` holds arrays of the right lengths."""

    def share(split: str, labels: np.ndarray) -> float:
        return float(np.mean(predicted[split] == labels))

    untrained = None
    if "untrained" in predicted:  # the better of validation and test: a table may hold either's answers
        untrained = max(share("untrained", problem.y_val), share("untrained_test", problem.y_test))
    return Accuracy(
        share("train", problem.y_train), share("val", problem.y_val), share("test", problem.y_test), untrained
    )


@dataclass
class SubmissionInfo:
    path: str
    entry: str
    files: list[str]
    content_hash: str


@dataclass
class Settings:
    """How the submission was graded: the parts of a run that change its measurements."""

    mode: str  # "full" | "quick"
    seed: int
    device: str  # as requested: "auto" | "cpu" | "cuda"
    problems: list[str]


@dataclass
class Environment:
    python: str = ""
    platform: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    isolation: str = "none"  # the tool that walled the worker off: "bubblewrap" | "unshare" | "user" | "none"
    isolated: list[str] = field(default_factory=list)  # "network", "processes", "files", "grader files"
    peak_memory_mb: float = 0.0  # the worker's largest resident set


@dataclass
class Measurements:
    """Everything a grading run observed: the input to scoring, and all a re-score needs."""

    grader_version: str
    submission: SubmissionInfo
    settings: Settings
    data: dict[str, DataInfo]
    models: list[ModelMeasurement]
    failure: Failure | None
    environment: Environment
    log: CapturedOutput
    seconds: float
    reused: bool = False  # taken from the measurements cache: the same files, training rubric and data
    # Graded free-form (no build_model): what running it showed, with the mistakes its code shows.
    freeform: FreeformRun | None = None

    @property
    def mode(self) -> str:
        """How the submission was read: "contract" (build_model) or "freeform" (run, and its models found)."""
        return "contract" if self.freeform is None else "freeform"

    def model(self, key: str) -> ModelMeasurement | None:
        return next((m for m in self.models if m.key == key), None)
