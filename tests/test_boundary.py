"""What the worker leaves behind is read as hostile input: never through a link, never from anything but
a regular file, never past a bound, and predictions only as integer arrays of the expected length."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest

from grader.boundary import OutputFolder, UnsafeResult
from grader.records import Failure
from grader.worker.job import WorkerEnvironment

LENGTHS = {"train": 4, "val": 2, "test": 3}


@pytest.fixture
def folder(tmp_path):
    opened = OutputFolder.open(tmp_path)
    yield opened
    opened.close()


def save(folder: OutputFolder, name: str = "p.npz", **arrays) -> str:
    np.savez(folder.path / name, **arrays)
    return name


def good_predictions() -> dict[str, np.ndarray]:
    return {"train": np.array([0, 1, 2, 0]), "val": np.array([0, 1]), "test": np.array([2, 0, 0])}


def test_predictions_of_the_right_shape_are_read_as_int64(folder):
    read = folder.read_predictions(save(folder, **good_predictions()), LENGTHS)
    assert {split: array.tolist() for split, array in read.items()} == {
        "train": [0, 1, 2, 0],
        "val": [0, 1],
        "test": [2, 0, 0],
    }
    assert all(array.dtype == np.int64 for array in read.values())


def test_smaller_integer_types_are_accepted(folder):
    arrays = {split: array.astype(np.uint8) for split, array in good_predictions().items()}
    assert folder.read_predictions(save(folder, **arrays), LENGTHS)["test"].tolist() == [2, 0, 0]


def test_predictions_of_the_wrong_length_are_refused(folder):
    name = save(folder, **{**good_predictions(), "test": np.zeros(10, int)})
    with pytest.raises(UnsafeResult, match=r"test.npy holds int64 of shape \(10,\), expected 3 class indices"):
        folder.read_predictions(name, LENGTHS)


def test_probabilities_instead_of_class_indices_are_refused(folder):
    name = save(folder, **{**good_predictions(), "train": np.zeros(4)})
    with pytest.raises(UnsafeResult, match=r"train\.npy holds float64"):
        folder.read_predictions(name, LENGTHS)


def test_a_missing_or_extra_split_is_refused(folder):
    with pytest.raises(UnsafeResult, match=r"holds \['train.npy', 'val.npy'\], expected"):
        folder.read_predictions(save(folder, train=np.zeros(4, int), val=np.zeros(2, int)), LENGTHS)
    with pytest.raises(UnsafeResult, match="expected"):
        folder.read_predictions(save(folder, **good_predictions(), extra=np.zeros(1, int)), LENGTHS)


def test_pickled_objects_are_never_loaded(folder):
    name = save(folder, **{**good_predictions(), "train": np.array([object()] * 4)})
    with pytest.raises(UnsafeResult, match=r"train\.npy"):
        folder.read_predictions(name, LENGTHS)


def test_a_header_claiming_a_huge_array_is_refused_before_anything_is_allocated(folder):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(folder.path / "p.npz", "w") as archive:
        for split in LENGTHS:
            archive.writestr(f"{split}.npy", header.getvalue())
    with pytest.raises(UnsafeResult, match=r"shape \(1000000000000,\)"):
        folder.read_predictions("p.npz", LENGTHS)


def test_compressed_members_are_refused(folder):
    np.savez_compressed(folder.path / "p.npz", **good_predictions())
    with pytest.raises(UnsafeResult, match="compressed"):
        folder.read_predictions("p.npz", LENGTHS)


def test_a_file_larger_than_the_predictions_take_is_refused_unread(folder):
    (folder.path / "p.npz").write_bytes(b"\0" * 100_000)
    with pytest.raises(UnsafeResult, match="holds 100,000 bytes, more than the"):
        folder.read_predictions("p.npz", LENGTHS)


def test_a_link_is_never_followed(folder, tmp_path_factory):
    secret = tmp_path_factory.mktemp("grader") / "secret.txt"
    secret.write_text("the grader's own")
    os.symlink(secret, folder.path / "report.json")
    with pytest.raises(UnsafeResult, match=r"cannot be opened .*a link is never followed"):
        folder.read_bytes("report.json", 1000)


def test_a_fifo_is_refused_without_waiting_for_a_writer(folder):
    os.mkfifo(folder.path / "report.json")
    with pytest.raises(UnsafeResult, match=r"report\.json is not a regular file"):
        folder.read_bytes("report.json", 1000)


@dataclass
class Small:
    kind: str


def test_records_are_read_strictly_and_within_their_bound(folder):
    (folder.path / "ok.json").write_text('{"kind": "crash", "message": "it crashed"}')
    assert folder.read_record("ok.json", Failure, 1000) == Failure("crash", "it crashed")
    (folder.path / "forged.json").write_text('{"kind": "crash", "accuracy": 1.0}')
    with pytest.raises(UnsafeResult, match=r"forged\.json is not a valid Small"):
        folder.read_record("forged.json", Small, 1000)
    (folder.path / "big.json").write_text('{"kind": "' + "x" * 2000 + '"}')
    with pytest.raises(UnsafeResult, match="holds 2,012 bytes, more than the 1,000 allowed"):
        folder.read_record("big.json", Small, 1000)


def test_a_forged_environment_is_refused_not_converted(folder):
    (folder.path / "environment.json").write_text(
        '{"python": "3.11", "platform": "x", "libraries": ["torch"], "peak_memory_mb": "a lot"}'
    )
    with pytest.raises(UnsafeResult, match=r"environment\.json is not a valid WorkerEnvironment"):
        folder.read_record("environment.json", WorkerEnvironment, 1000)
