"""``--test-data``: an instructor's own held-out test set replaces a problem's public one, and nothing else."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SUBMISSIONS
from idx_fixtures import make_fake_mnist, write_idx

from grader.baselines import load_baselines
from grader.batch.commands import BatchChoices
from grader.cli import main
from grader.data import load_problem, read_private_test
from grader.data.iris import load_iris_arrays
from grader.errors import DataError
from grader.pipeline import hidden_from_worker
from grader.records import DataInfo, from_dict


@pytest.fixture
def fake_dir(tmp_path: Path) -> Path:
    return make_fake_mnist(tmp_path / "fake", n_train=600, n_test=100)


def digits(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def idx_folder(folder: Path, images: np.ndarray, labels: np.ndarray, suffix: str = ".gz") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"exam-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"exam-labels-idx1-ubyte{suffix}", labels)
    return folder


def npz(path: Path, **arrays: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def rows(x: np.ndarray, y: np.ndarray) -> set[tuple[bytes, int]]:
    return {(row.tobytes(), int(label)) for row, label in zip(x, y, strict=True)}


# --- the data --------------------------------------------------------------------------------------------


def test_an_mnist_folder_of_idx_files_replaces_the_test_split_and_leaves_training_and_validation(fake_dir, tmp_path):
    images, labels = digits(40)
    folder = idx_folder(tmp_path / "exam", images, labels)
    public = load_problem("mnist", data_dir=fake_dir)
    private = load_problem("mnist", data_dir=fake_dir, test_data=folder)
    assert np.array_equal(private.x_test, images) and np.array_equal(private.y_test, labels)
    assert private.y_test.dtype == np.int64 and private.info.n_test == 40
    for split in ("x_train", "y_train", "x_val", "y_val"):
        assert np.array_equal(getattr(private, split), getattr(public, split))
    record = private.info.private_test
    assert record is not None and record.source.endswith(f"exam-labels-idx1-ubyte.gz in {folder}")
    assert len(record.sha256) == 64 and private.info.source.endswith(f"; test set: {record.source}")
    assert public.info.private_test is None


def test_iris_flowers_are_given_in_cm_and_standardised_like_the_training_split(tmp_path):
    x, y = load_iris_arrays()
    public = load_problem("iris")
    private = load_problem("iris", test_data=npz(tmp_path / "all.npz", x=x, y=y))  # all 150 flowers, in cm
    assert private.x_test.dtype == np.float32 and private.info.n_test == 150
    for split in ("train", "val", "test"):
        x_split, y_split = getattr(public, f"x_{split}"), getattr(public, f"y_{split}")
        assert rows(x_split, y_split) <= rows(private.x_test, private.y_test)


def test_the_record_of_a_private_test_set_survives_a_reports_round_trip(fake_dir, tmp_path):
    info = load_problem("mnist", data_dir=fake_dir, test_data=idx_folder(tmp_path / "exam", *digits(5))).info
    assert from_dict(DataInfo, json.loads(json.dumps(dataclasses.asdict(info)))) == info


def test_a_private_test_set_changes_the_data_fingerprint(fake_dir, tmp_path):
    fingerprints = {
        load_problem("mnist", data_dir=fake_dir).info.fingerprint,
        load_problem("mnist", data_dir=fake_dir, test_data=idx_folder(tmp_path / "a", *digits(40, 1))).info.fingerprint,
        load_problem("mnist", data_dir=fake_dir, test_data=idx_folder(tmp_path / "b", *digits(40, 2))).info.fingerprint,
    }
    assert len(fingerprints) == 3


def test_without_one_the_fingerprint_is_the_one_the_committed_baselines_were_measured_on():
    assert load_problem("iris").info.fingerprint == load_baselines().data["full"]["iris"]


def test_the_same_set_gzipped_or_not_idx_or_npz_has_the_same_digest(tmp_path):
    images, labels = digits(20)
    sets = [
        idx_folder(tmp_path / "gz", images, labels),
        idx_folder(tmp_path / "raw", images, labels, suffix=""),
        npz(tmp_path / "set.npz", x=images, y=labels.astype(np.int64)),
    ]
    assert len({read_private_test("mnist", path).record.sha256 for path in sets}) == 1


def test_quick_mode_keeps_a_private_test_set_whole(fake_dir, tmp_path):
    folder = idx_folder(tmp_path / "exam", *digits(50))
    data = load_problem("mnist", data_dir=fake_dir, quick=True, test_data=folder)
    assert len(data.y_test) == 50 and "50 of 50 test digits" in data.info.subset


def test_the_worker_is_not_shown_a_private_test_sets_folder_or_files(fake_dir, tmp_path):
    folder = idx_folder(tmp_path / "exam", *digits(10))
    iris_set = npz(tmp_path / "iris" / "test.npz", x=np.ones((3, 4)), y=np.array([0, 1, 2]))
    data = {
        "iris": load_problem("iris", test_data=iris_set),
        "mnist": load_problem("mnist", data_dir=fake_dir, test_data=folder),
    }
    assert {folder, *folder.iterdir(), iris_set.parent, iris_set} <= set(hidden_from_worker(data, None))


# --- what is refused, naming the file ----------------------------------------------------------------------

Maker = Callable[[Path], Path]


def _mnist_npz(**arrays: np.ndarray) -> Maker:
    return lambda tmp: npz(tmp / "exam.npz", **arrays)


def _iris_npz(**arrays: np.ndarray) -> Maker:
    return lambda tmp: npz(tmp / "flowers.npz", **arrays)


def _only_images(tmp: Path) -> Path:
    write_idx(tmp / "exam-images-idx3-ubyte.gz", digits(3)[0])
    return tmp


def _truncated_images(tmp: Path) -> Path:
    folder = idx_folder(tmp / "exam", *digits(3), suffix="")
    images = folder / "exam-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    return folder


def _pickled(tmp: Path) -> Path:
    return npz(tmp / "exam.npz", x=np.array([object()]), y=np.zeros(1, dtype=np.int64))


def _text(tmp: Path) -> Path:
    (tmp / "exam.npz").write_text("x,y\n")
    return tmp / "exam.npz"


GOOD_IMAGES, GOOD_LABELS = digits(5)
FLOWERS = np.full((3, 4), 5.0)


@pytest.mark.parametrize(
    ("problem", "make", "expected"),
    [
        ("mnist", _mnist_npz(x=GOOD_IMAGES / 255.0, y=GOOD_LABELS), "float64 pixels; MNIST's are uint8"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES.reshape(5, 784), y=GOOD_LABELS), "images of shape (5, 784)"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES, y=np.array([0, 1, 2, 3, 10])), "label 10; mnist labels are 0 to 9"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES, y=np.array([0, 1, -1, 3, 4])), "label -1; mnist labels are 0 to 9"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES, y=GOOD_LABELS[:4]), "holds 5 samples but"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES, y=GOOD_LABELS * 1.0), "float64 labels of shape (5,)"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES), "has no array named 'y' (its arrays: x)"),
        ("mnist", _mnist_npz(x=GOOD_IMAGES[:0], y=GOOD_LABELS[:0]), "holds no samples"),
        ("mnist", _pickled, "cannot be read as a .npz file"),
        ("mnist", _text, "cannot be read as a .npz file"),
        ("mnist", _only_images, "must hold exactly one file with 'images' in its name and one with 'labels'"),
        ("mnist", _truncated_images, "is truncated"),
        ("mnist", lambda tmp: tmp / "missing", "no such file or folder"),
        ("iris", lambda tmp: tmp, "is not a .npz file"),
        ("iris", _iris_npz(x=np.ones((3, 3)), y=np.zeros(3, dtype=int)), "Iris flowers are N x 4 measurements"),
        ("iris", _iris_npz(x=FLOWERS * np.nan, y=np.zeros(3, dtype=int)), "NaN or infinite measurements"),
        ("iris", _iris_npz(x=FLOWERS, y=np.array([0, 1, 3])), "label 3; iris labels are 0 to 2"),
        ("iris", _iris_npz(x=FLOWERS.astype(str), y=np.zeros(3, dtype=int)), "<U32 values"),
    ],
)
def test_a_malformed_test_set_is_refused_naming_the_file(problem, make, expected, tmp_path):
    path = make(tmp_path)
    with pytest.raises(DataError) as raised:
        read_private_test(problem, path)
    assert str(path) in raised.value.message and expected in raised.value.message
    assert raised.value.hint.startswith(f"--test-data {problem}=PATH takes ")


# --- the commands ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("iris={missing}", "no such file or folder"),
        ("cifar=x.npz", "is not PROBLEM=PATH with PROBLEM iris or mnist"),
        ("mnist", "is not PROBLEM=PATH"),
    ],
)
@pytest.mark.parametrize("command", [[], ["baselines"], ["batch", "{tmp}"]])
def test_every_command_that_trains_refuses_a_bad_test_set_with_exit_code_2(command, value, expected, tmp_path):
    given = value.format(missing=tmp_path / "missing.npz")
    args = [word.format(tmp=tmp_path) for word in command] or [str(SUBMISSIONS / "torch_small.py")]
    result = CliRunner().invoke(main, [*args, "--test-data", given])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--test-data'" in result.output and expected in " ".join(result.output.split())


def test_one_test_set_per_problem(tmp_path):
    flowers = str(npz(tmp_path / "f.npz", x=FLOWERS, y=np.array([0, 1, 2])))
    args = [str(SUBMISSIONS / "torch_small.py"), "--test-data", f"iris={flowers}", "--test-data", f"iris={flowers}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "two test sets for iris" in result.output


def test_a_batch_hands_each_grading_process_the_test_sets():
    defaults = dict(quick=False, device="cpu", data_dir=None, problems=("iris",), threads=1, rubric_path=None)
    defaults |= dict(seed=None, baselines_path=None, jobs=1, timeout=60.0, retry_failed=False, force=False)
    defaults |= dict(no_cache=False, backend="local", scheduler=None, scheduler_file=None, no_progress=True)
    choices = BatchChoices(test_data={"iris": Path("/exams/iris.npz")}, allow_partial_isolation=False, **defaults)
    options = choices.grade_args(jobs=1)
    assert options[options.index("--test-data") + 1] == "iris=/exams/iris.npz"


def test_a_grade_is_scored_against_the_given_labels(fake_mnist, fast_rubric_file, tmp_path):
    """Every Iris flower three times, once under each label: whatever a model predicts for a flower, one of
    its three copies is right. Scored against these labels, every model's test accuracy is exactly 1/3."""
    x, y = load_iris_arrays()
    exam = npz(
        tmp_path / "exam" / "iris.npz", x=np.concatenate([x] * 3), y=np.concatenate([y, (y + 1) % 3, (y + 2) % 3])
    )
    command = [str(SUBMISSIONS / "torch_small.py"), "--problem", "iris", "--rubric", str(fast_rubric_file)]
    command += ["--data-dir", str(fake_mnist), "--threads", "1", "--no-progress", "--format", "json"]
    result = CliRunner().invoke(main, [*command, "--test-data", f"iris={exam}"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    data = report["measurements"]["data"]["iris"]
    assert data["n_test"] == 450 and data["private_test"]["source"] == str(exam)
    assert data["private_test"]["sha256"] == read_private_test("iris", exam).record.sha256
    accuracies = [model["accuracy"] for model in report["measurements"]["models"]]
    assert [a["test"] for a in accuracies] == [pytest.approx(1 / 3)] * 2
    assert all(a["val"] > 0.6 for a in accuracies)  # validated on the public split, which they learned
