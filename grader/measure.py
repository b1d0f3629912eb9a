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
from grader.worker.job import SPLITS


def measure(
    models: dict[str, ModelMeasurement], predictions: dict[str, Path], data: dict[str, ProblemData]
) -> dict[str, ModelMeasurement]:
    """Every trained model with its train, validation and test accuracy filled in."""
    measured = {}
    for key, model in models.items():
        if model.failure is None and key in predictions:
            problem = data[model.problem]
            labels = {"train": problem.y_train, "val": problem.y_val, "test": problem.y_test}
            try:
                model = dataclasses.replace(model, accuracy=accuracy(predictions[key], labels))
            except ValueError as error:
                model = dataclasses.replace(
                    model,
                    run=None,
                    failure=Failure("malformed_result", f"the worker's predictions for {key} are unusable: {error}"),
                )
        elif model.failure is None:
            model = dataclasses.replace(
                model, failure=Failure("malformed_result", f"no predictions came back for {key}")
            )
        measured[key] = model
    return measured


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
    network_isolated: bool = False


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

    def model(self, key: str) -> ModelMeasurement | None:
        return next((m for m in self.models if m.key == key), None)
