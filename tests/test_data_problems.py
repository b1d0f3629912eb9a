"""The problems' splits: sizes, stratification, no overlap, determinism, fingerprints, no leaks."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from idx_fixtures import isolate, make_fake_mnist
from sklearn.datasets import load_iris

from grader.data import PROBLEMS, SPLIT_SEED, ProblemData, load_problem

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "35b8096325f99d89a1c9901d77e4d93a81f19d4eef8af8a06865ab74b3a4e116",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def fake_dir(tmp_path: Path) -> Path:
    return make_fake_mnist(tmp_path / "fake", n_train=600, n_test=100)


def _splits(data: ProblemData) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)]


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1)}


def test_the_problems_and_the_split_seed_are_fixed() -> None:
    assert PROBLEMS == ("iris", "mnist")
    assert SPLIT_SEED == 20240513


def test_an_unknown_problem_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown problem 'cifar'"):
        load_problem("cifar")


# --- Iris ------------------------------------------------------------------------------------------------


def test_iris_is_a_stratified_90_30_30_split_of_float32_features_and_int64_labels() -> None:
    data = load_problem("iris")
    assert [len(y) for _, y in _splits(data)] == [90, 30, 30]
    for x, y in _splits(data):
        assert x.dtype == np.float32 and x.shape[1:] == (4,)
        assert y.dtype == np.int64
        assert np.bincount(y).tolist() == [len(y) // 3] * 3
    info = data.info
    assert (info.n_train, info.n_val, info.n_test, info.n_classes) == (90, 30, 30, 3)
    assert info.input_shape == [4] and info.files == {} and info.subset == ""
    assert info.source.startswith("scikit-learn ") and info.source.endswith("load_iris()")


def test_iris_is_standardised_with_the_training_splits_statistics_only() -> None:
    data = load_problem("iris")
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-5)
    # Validation was not standardised with its own statistics, nor the whole set with everyone's.
    assert np.abs(data.x_val.mean(axis=0)).max() > 0.01
    everything = np.concatenate([data.x_train, data.x_val, data.x_test])
    assert np.abs(everything.mean(axis=0)).max() > 0.01
    # One affine map per feature took the raw flowers to all three splits.
    raw = load_iris().data
    for feature in range(4):
        scaled, original = np.sort(everything[:, feature]), np.sort(raw[:, feature])
        slope, intercept = np.polyfit(scaled, original, 1)
        np.testing.assert_allclose(slope * scaled + intercept, original, atol=1e-4)


def test_iris_quick_mode_uses_all_the_data_but_records_quick() -> None:
    full, quick = load_problem("iris"), load_problem("iris", quick=True)
    np.testing.assert_array_equal(full.x_train, quick.x_train)
    assert quick.info.quick and not full.info.quick
    assert quick.info.subset.startswith("quick mode")
    assert quick.info.fingerprint != full.info.fingerprint


# --- MNIST on a fixture ------------------------------------------------------------------------------------


def test_mnist_validation_is_a_sixth_of_the_training_file_and_test_is_the_test_file(fake_dir: Path) -> None:
    data = load_problem("mnist", data_dir=fake_dir)
    assert [len(y) for _, y in _splits(data)] == [500, 100, 100]
    for x, y in _splits(data):
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int64
    info = data.info
    assert (info.n_train, info.n_val, info.n_test, info.n_classes) == (500, 100, 100, 10)
    assert info.input_shape == [28, 28]
    assert info.source == f"MNIST IDX files in {fake_dir}"
    assert set(info.files) == set(REAL_MNIST_FILES)


def test_mnist_train_and_validation_are_stratified_disjoint_and_cover_the_file(fake_dir: Path) -> None:
    data = load_problem("mnist", data_dir=fake_dir)
    assert np.bincount(data.y_train).tolist() == [50] * 10
    assert np.bincount(data.y_val).tolist() == [10] * 10
    train, val = _rows(data.x_train), _rows(data.x_val)
    assert not train & val
    assert len(train | val) == 600


def test_mnist_test_set_is_the_official_test_file_in_order(fake_dir: Path) -> None:
    from grader.data.mnist import mnist_files, read_mnist

    arrays = read_mnist(mnist_files(fake_dir))
    data = load_problem("mnist", data_dir=fake_dir)
    np.testing.assert_array_equal(data.x_test, arrays.test_images)
    np.testing.assert_array_equal(data.y_test, arrays.test_labels)


def test_mnist_quick_mode_is_a_stratified_fifth_of_each_split(fake_dir: Path) -> None:
    full = load_problem("mnist", data_dir=fake_dir)
    quick = load_problem("mnist", data_dir=fake_dir, quick=True)
    assert [len(y) for _, y in _splits(quick)] == [100, 20, 20]
    for (x_full, _), (x_quick, y_quick) in zip(_splits(full), _splits(quick), strict=True):
        assert _rows(x_quick) <= _rows(x_full)
        assert np.bincount(y_quick).tolist() == [len(y_quick) // 10] * 10
    assert quick.info.quick and not full.info.quick
    assert quick.info.subset == (
        "quick mode: 100 of 500 training, 20 of 100 validation and 20 of 100 test digits (stratified, fixed seed)"
    )
    assert full.info.subset == ""


def test_mnist_splits_are_deterministic(fake_dir: Path) -> None:
    first, second = load_problem("mnist", data_dir=fake_dir), load_problem("mnist", data_dir=fake_dir)
    for (x1, y1), (x2, y2) in zip(_splits(first), _splits(second), strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert first.info == second.info


def test_tiny_fixtures_too_small_to_stratify_still_load(tmp_path: Path) -> None:
    tiny = make_fake_mnist(tmp_path / "tiny", n_train=60, n_test=20)
    data = load_problem("mnist", data_dir=tiny, quick=True)
    assert [len(y) for _, y in _splits(data)] == [10, 2, 4]


# --- fingerprints and the recorded info ------------------------------------------------------------------


def test_the_fingerprint_is_16_hex_chars_and_stable_across_loads_and_copies(fake_dir: Path, tmp_path: Path) -> None:
    copy = make_fake_mnist(tmp_path / "copy", n_train=600, n_test=100)
    fingerprints = {load_problem("mnist", data_dir=d).info.fingerprint for d in (fake_dir, fake_dir, copy)}
    assert len(fingerprints) == 1
    (fingerprint,) = fingerprints
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)


def test_the_fingerprint_differs_for_quick_mode_and_different_files(fake_dir: Path, tmp_path: Path) -> None:
    other = make_fake_mnist(tmp_path / "other", n_train=600, n_test=100, seed=1)
    fingerprints = {
        load_problem("mnist", data_dir=fake_dir).info.fingerprint,
        load_problem("mnist", data_dir=fake_dir, quick=True).info.fingerprint,
        load_problem("mnist", data_dir=other).info.fingerprint,
        load_problem("iris").info.fingerprint,
    }
    assert len(fingerprints) == 4


@pytest.mark.parametrize("problem", PROBLEMS)
def test_the_data_info_is_json_serialisable(problem: str, fake_dir: Path) -> None:
    info = load_problem(problem, data_dir=fake_dir, quick=True).info
    assert json.loads(json.dumps(dataclasses.asdict(info)))["problem"] == problem


# --- the real MNIST ------------------------------------------------------------------------------------


@pytest.mark.mnist
@pytest.mark.skipif(not (REAL_DATA / "mnist").is_dir(), reason=f"no real MNIST files in {REAL_DATA}/mnist")
@pytest.mark.parametrize(("quick", "sizes"), [(False, [50000, 10000, 10000]), (True, [10000, 2000, 2000])])
def test_real_mnist_splits(quick: bool, sizes: list[int]) -> None:
    data = load_problem("mnist", data_dir=REAL_DATA, quick=quick)
    assert [len(y) for _, y in _splits(data)] == sizes
    assert data.info.files == REAL_MNIST_FILES
    assert data.info.source == f"MNIST IDX files in {REAL_DATA / 'mnist'}"
    expected_share = np.bincount(data.y_train) / len(data.y_train)
    np.testing.assert_allclose(np.bincount(data.y_val) / len(data.y_val), expected_share, atol=0.002)
    if quick:
        assert data.info.subset == (
            "quick mode: 10,000 of 50,000 training, 2,000 of 10,000 validation "
            "and 2,000 of 10,000 test digits (stratified, fixed seed)"
        )
