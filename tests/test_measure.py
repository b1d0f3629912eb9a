"""Accuracies are computed by the grader from predictions, and only from well-formed ones."""

from __future__ import annotations

import json

import dacite
import numpy as np
import pytest
from measurements_factory import measurements, model
from report_factory import curve

from grader.measure import Measurements, accuracy
from grader.records import from_dict, to_json

LABELS = {"train": np.array([0, 1, 2, 1]), "val": np.array([0, 1]), "test": np.array([2, 2, 1])}


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_accuracy_per_split_from_class_indices(tmp_path):
    path = save(tmp_path / "p.npz", train=np.array([0, 1, 2, 0]), val=np.array([0, 1]), test=np.array([2, 0, 0]))
    measured = accuracy(path, LABELS)
    assert (measured.train, measured.val, measured.test) == (0.75, 1.0, pytest.approx(1 / 3))
    assert measured.gap == -0.25


def test_predictions_of_the_wrong_length_are_refused(tmp_path):
    path = save(tmp_path / "p.npz", train=np.zeros(4, int), val=np.zeros(2, int), test=np.zeros(10, int))
    with pytest.raises(ValueError, match=r"test predictions have shape \(10,\)"):
        accuracy(path, LABELS)


def test_probabilities_instead_of_class_indices_are_refused(tmp_path):
    path = save(tmp_path / "p.npz", train=np.zeros(4), val=np.zeros(2, int), test=np.zeros(3, int))
    with pytest.raises(ValueError, match="type float64"):
        accuracy(path, LABELS)


def test_a_missing_split_is_refused(tmp_path):
    path = save(tmp_path / "p.npz", train=np.zeros(4, int), val=np.zeros(2, int))
    with pytest.raises(ValueError, match="no 'test' predictions"):
        accuracy(path, LABELS)


def test_pickled_objects_are_never_loaded(tmp_path):
    path = save(tmp_path / "p.npz", train=np.array([object()] * 4), val=np.zeros(2, int), test=np.zeros(3, int))
    with pytest.raises(ValueError, match="allow_pickle"):
        accuracy(path, LABELS)


def test_stored_measurements_read_back_strictly_epoch_records_included():
    """Epoch records are built by a fast path; it refuses what the rest refuses."""
    measured = measurements(model("iris/single", epochs=curve([0.5, 0.4, 0.3])))
    stored = json.loads(to_json(measured))
    assert from_dict(Measurements, stored) == measured
    stored["models"][0]["run"]["history"][0]["learning_rate"] = 0.1
    with pytest.raises(dacite.DaciteError, match="learning_rate"):
        from_dict(Measurements, stored)
