"""Measure stage: compare the worker's predictions with labels only the grader holds.

The worker reports training curves, but the accuracies that are scored are computed here, in the
grader's own process, from predictions the train stage has already checked: a submission cannot report
its own grade.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader.data import ProblemData
from grader.records import Accuracy, ModelMeasurement
from grader.worker_files import ABLATION_SUFFIX, WHAT_IF_SUFFIX

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
