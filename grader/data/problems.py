"""The two problems' data, split the same way for every submission so their scores are comparable."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.data import iris, mnist
from grader.data.private_test import HeldOut, read_private_test
from grader.data.store import save_atomically
from grader.locations import cache_dir
from grader.records import N_CLASSES, DataInfo

PROBLEMS = ("iris", "mnist")
SPLIT_SEED = 20240513  # fixes the data splits, independent of the training seed

_IRIS_HOLDOUT = 30  # each of validation and test: a 60/20/20 split of 150 flowers
_MNIST_VALIDATION_SHARE = 6  # validation = 1/6 of the training file: 10,000 of 60,000
_QUICK_SHARE = 5  # quick mode keeps 1/5 of each split


@dataclass(frozen=True)
class ProblemData:
    """The splits: iris features float32 standardised, mnist images uint8 (N, 28, 28) unscaled (maybe
    read-only memory maps); labels int64."""

    info: DataInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    hidden: tuple[Path, ...] = ()  # the folders and files holding its test labels, kept from the worker
    # Iris only: the rows of scikit-learn's load_iris() in the training and validation splits, in the data
    # set's own order. A free-form notebook's load_iris() is served these rows and no test flower.
    served_rows: np.ndarray | None = None


def load_problem(
    problem: str,
    *,
    quick: bool = False,
    data_dir: Path | None = None,
    progress: bool = False,
    test_data: Path | None = None,
) -> ProblemData:
    """Load a problem's train/validation/test split (see DataInfo for what is recorded about it).

    ``test_data``, an instructor's own held-out set (see grader.data.private_test), replaces the public
    test split; training and validation stay as they are.
    """
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; expected one of {', '.join(PROBLEMS)}")
    held_out = read_private_test(problem, test_data) if test_data is not None else None
    if problem == "iris":
        return _load_iris(quick, held_out)
    return _load_mnist(quick, data_dir, progress, held_out)


def _load_iris(quick: bool, held_out: HeldOut | None) -> ProblemData:
    """Stratified 90/30/30, standardised with the training split's statistics only (no leak from val/test)."""
    x, y = iris.load_iris_arrays()
    rest, test = _split(np.arange(len(y)), y, _IRIS_HOLDOUT)
    train, val = _split(rest, y, _IRIS_HOLDOUT)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    x_test, y_test = (held_out.x, held_out.y) if held_out else (x[test], y[test])

    def standardised(features: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = ((features - mean) / std).astype(np.float32)
        return scaled

    info = _info(
        "iris",
        source=iris.IRIS_SOURCE,
        content=[hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()],
        sizes=(len(train), len(val), len(y_test)),
        quick=quick,
        subset=f"quick mode: all {len(y)} Iris flowers (the data set is already small)" if quick else "",
        files={},
        input_shape=list(x.shape[1:]),
        held_out=held_out,
    )
    return ProblemData(
        info,
        standardised(x[train]),
        y[train],
        standardised(x[val]),
        y[val],
        standardised(x_test),
        y_test,
        hidden=held_out.hidden if held_out else (),
        served_rows=np.sort(np.concatenate([train, val])),
    )


def _load_mnist(quick: bool, data_dir: Path | None, progress: bool, held_out: HeldOut | None) -> ProblemData:
    """Train/validation from the training file; the official test file (or the private set) is the hidden
    test set."""
    paths = mnist.mnist_files(data_dir, progress=progress)
    arrays = mnist.read_mnist(paths)
    y_file = arrays.train_labels.astype(np.int64)
    x_test, y_test = (held_out.x, held_out.y) if held_out else (arrays.test_images, arrays.test_labels.astype(np.int64))
    train, val = _split(np.arange(len(y_file)), y_file, len(y_file) // _MNIST_VALIDATION_SHARE)
    test = np.arange(len(y_test))
    subset = ""
    if quick:
        full = (len(train), len(val), len(test))
        train, val = (_quick_subset(part, y_file) for part in (train, val))
        if held_out is None:  # a private test set is used whole: predicting it costs next to nothing
            test = _quick_subset(test, y_test)
        subset = (
            f"quick mode: {len(train):,} of {full[0]:,} training, {len(val):,} of {full[1]:,} validation "
            f"and {len(test):,} of {full[2]:,} test digits (stratified, fixed seed)"
        )
    info = _info(
        "mnist",
        source=f"MNIST IDX files in {paths[mnist.TRAIN_IMAGES].parent}",
        content=[f"{name}:{digest}" for name, digest in sorted(arrays.sha256.items())],
        sizes=(len(train), len(val), len(test)),
        quick=quick,
        subset=subset,
        files=dict(arrays.sha256),
        input_shape=list(mnist.IMAGE_SHAPE),
        held_out=held_out,
    )
    return ProblemData(
        info,
        arrays.train_images[train],
        y_file[train],
        arrays.train_images[val],
        y_file[val],
        x_test[test],
        y_test[test],
        hidden=(paths[mnist.TEST_LABELS].parent, *(held_out.hidden if held_out else ())),
    )


def _split(indices: np.ndarray, labels: np.ndarray, n_holdout: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, holdout of ``n_holdout``), stratified by label wherever the counts allow.
    Splits are stored in the cache: computing one needs scikit-learn, whose import alone takes a second.

    Tiny fixture sets may not allow it (a class with one sample, fewer holdout places than classes);
    they get a plain seeded split instead of an error.
    """
    part_labels = labels[indices]
    stored = _split_path(indices, part_labels, n_holdout)
    with contextlib.suppress(OSError, ValueError):
        both = np.load(stored, allow_pickle=False)
        if len(both) == len(indices):
            return both[: len(indices) - n_holdout], both[len(indices) - n_holdout :]
    from sklearn.model_selection import train_test_split  # a second of imports: only when not stored

    _, counts = np.unique(part_labels, return_counts=True)
    stratifiable = counts.min() >= 2 and len(counts) <= n_holdout <= len(indices) - len(counts)
    rest, holdout = train_test_split(
        indices,
        test_size=n_holdout,
        stratify=part_labels if stratifiable else None,
        random_state=SPLIT_SEED,
    )
    save_atomically(stored, np.concatenate([rest, holdout]))
    return rest, holdout


def _split_path(indices: np.ndarray, part_labels: np.ndarray, n_holdout: int) -> Path:
    """Where a split is stored: named by everything that decides it, scikit-learn's version included."""
    digest = hashlib.sha256(indices.tobytes() + part_labels.tobytes())
    digest.update(f"{n_holdout}:{SPLIT_SEED}:{iris.SKLEARN_VERSION}".encode())
    return cache_dir() / "splits" / f"{digest.hexdigest()[:32]}.npy"


def _quick_subset(indices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return _split(indices, labels, len(indices) // _QUICK_SHARE)[1]


def _info(
    problem: str,
    *,
    source: str,
    content: list[str],
    sizes: tuple[int, int, int],
    quick: bool,
    subset: str,
    files: dict[str, str],
    input_shape: list[int],
    held_out: HeldOut | None,
) -> DataInfo:
    """Describe the data, with a fingerprint over everything that decides which samples land where (a
    private test set too: measurements on one are never taken for measurements on another)."""
    private = held_out.record if held_out else None
    if private is not None:
        content = [*content, f"private test set:{private.sha256}"]
        source = f"{source}; test set: {private.source}"
    payload = json.dumps(
        {"problem": problem, "content": content, "split_seed": SPLIT_SEED, "sizes": sizes, "quick": quick},
        sort_keys=True,
    )
    return DataInfo(
        problem=problem,
        source=source,
        n_train=sizes[0],
        n_val=sizes[1],
        n_test=sizes[2],
        n_classes=N_CLASSES[problem],
        input_shape=input_shape,
        quick=quick,
        subset=subset,
        fingerprint=hashlib.sha256(payload.encode()).hexdigest()[:16],
        files=files,
        private_test=private,
    )
