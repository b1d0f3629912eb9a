"""Accuracies are computed by the grader, from checked predictions and labels the worker never saw."""

from __future__ import annotations

import dataclasses
import json

import dacite
import numpy as np
import pytest
from measurements_factory import measurements, model
from report_factory import curve

from grader.data import ProblemData
from grader.measure import accuracy, measure
from grader.records import Failure, Measurements, from_dict, to_json


def problem(y_train, y_val, y_test) -> ProblemData:
    """Labels only: accuracy reads nothing else."""
    arrays = {name: np.asarray(labels) for name, labels in (("y_train", y_train), ("y_val", y_val), ("y_test", y_test))}
    return ProblemData(None, None, arrays["y_train"], None, arrays["y_val"], None, arrays["y_test"])  # type: ignore[arg-type]


def test_accuracy_per_split_is_counted_against_the_graders_labels():
    labels = problem([0, 1, 2, 1], [0, 1], [2, 2, 1])
    predicted = {"train": np.array([0, 1, 2, 0]), "val": np.array([0, 1]), "test": np.array([2, 0, 0])}
    measured = accuracy(predicted, labels)
    assert (measured.train, measured.val, measured.test) == (0.75, 1.0, pytest.approx(1 / 3))
    assert measured.gap == -0.25
    assert measured.untrained is None


def test_the_untrained_models_accuracy_is_measured_on_validation_and_test_inputs():
    labels = problem([0, 1], [0, 1, 2, 2], [1])
    predicted = {
        "train": np.array([0, 1]),
        "val": np.array([0, 1, 2, 2]),
        "test": np.array([1]),
        "untrained": np.array([0, 0, 0, 2]),
        "untrained_test": np.array([0]),
    }
    assert accuracy(predicted, labels).untrained == 0.5
    predicted["untrained_test"] = np.array([1])  # a table of the test answers: right before training
    assert accuracy(predicted, labels).untrained == 1.0


def test_a_model_without_predictions_keeps_its_failure_and_gets_no_accuracy():
    failed = dataclasses.replace(model("iris/single"), accuracy=None, failure=Failure("crash", "it crashed"))
    measured = measure({"iris/single": failed}, {}, {"iris": problem([0], [0], [0])})
    assert measured["iris/single"].accuracy is None
    assert measured["iris/single"].failure.kind == "crash"


def test_stored_measurements_read_back_strictly_epoch_records_included():
    """Epoch records are built by a fast path; it refuses what the rest refuses."""
    measured = measurements(model("iris/single", epochs=curve([0.5, 0.4, 0.3])))
    stored = json.loads(to_json(measured))
    assert from_dict(Measurements, stored) == measured
    stored["models"][0]["run"]["history"][0]["learning_rate"] = 0.1
    with pytest.raises(dacite.DaciteError, match="learning_rate"):
        from_dict(Measurements, stored)
