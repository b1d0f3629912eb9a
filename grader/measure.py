"""Measure stage: compare the worker's predictions with labels only the grader holds.

The worker reports training curves, but the accuracies that are scored are computed here, in the
grader's own process, from predictions: a submission cannot report its own grade.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.data import DataInfo, ProblemData
from grader.records import Accuracy, CapturedOutput, Failure, ModelMeasurement
from grader.worker.job import ABLATION_SUFFIX, SPLITS


def measure(
    models: dict[str, ModelMeasurement], predictions: dict[str, Path], data: dict[str, ProblemData]
) -> dict[str, ModelMeasurement]:
    """Every trained model with its train, validation and test accuracy filled in, and its ablation run
    (if there was one) attached to it."""
    measured = {key: _with_accuracy(key, model, predictions, data) for key, model in models.items()}
    for key in [k for k in measured if k.endswith(ABLATION_SUFFIX)]:
        ablation = measured.pop(key)
        main = measured.get(key.removesuffix(ABLATION_SUFFIX))
        if main is not None:
            measured[main.key] = dataclasses.replace(main, ablation=ablation)
    return measured


def _with_accuracy(
    key: str, model: ModelMeasurement, predictions: dict[str, Path], data: dict[str, ProblemData]
) -> ModelMeasurement:
    if model.failure is not None or model.switched_off == []:  # failed, or an ablation with nothing to do
        return model
    if key not in predictions:
        return dataclasses.replace(model, failure=Failure("malformed_result", f"no predictions came back for {key}"))
    problem = data[model.problem]
    labels = {"train": problem.y_train, "val": problem.y_val, "test": problem.y_test}
    try:
        return dataclasses.replace(model, accuracy=accuracy(predictions[key], labels))
    except ValueError as error:
        failure = Failure("malformed_result", f"the worker's predictions for {key} are unusable: {error}")
        return dataclasses.replace(model, run=None, failure=failure)


def accuracy(npz_path: Path, labels: dict[str, np.ndarray]) -> Accuracy:
    """Accuracy per split from an .npz of class indices, refusing anything that is not exactly that."""
    with np.load(npz_path, allow_pickle=False) as archive:
        scores = {}
        for split in SPLITS:
            if split not in archive.files:
                raise ValueError(f"no {split!r} predictions")
            predicted, expected = archive[split], labels[split]
            if predicted.shape != expected.shape or not np.issubdtype(predicted.dtype, np.integer):
                raise ValueError(
                    f"{split} predictions have shape {predicted.shape} and type {predicted.dtype}, "
                    f"expected {expected.shape} class indices"
                )
            scores[split] = float(np.mean(predicted == expected))
    return Accuracy(train=scores["train"], val=scores["val"], test=scores["test"])


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
    isolation: str = "none"  # the tool that walled the worker off: "bubblewrap" | "unshare" | "none"
    isolated: list[str] = field(default_factory=list)  # "network", "processes", "files"
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

    def model(self, key: str) -> ModelMeasurement | None:
        return next((m for m in self.models if m.key == key), None)
