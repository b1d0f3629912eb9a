"""An instructor's own held-out test set, graded against instead of a problem's public one.

MNIST's official test digits are published, and Iris's test split can be rebuilt from scikit-learn's copy
and the split seed, so a submission could carry their answers. A set no student has seen cannot be looked
up. It is checked as strictly as MNIST's own files: a wrong shape or label must not pass for a low grade.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.data import mnist
from grader.data.idx import read_idx
from grader.errors import DataError
from grader.records import N_CLASSES, PrivateTestSet

FORMS = {
    "iris": "a .npz file with arrays x (N x 4 measurements in cm, as load_iris() gives them) and y (labels 0-2)",
    "mnist": "a folder holding one images and one labels IDX file, gzipped or not (like t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz), or a .npz file with arrays x (N x 28 x 28 uint8 pixels) and y (labels 0-9)",
}


@dataclass(frozen=True)
class HeldOut:
    """A private test set, checked: MNIST images uint8 (N, 28, 28); Iris measurements float64 (N, 4), as
    given (not yet standardised); labels int64."""

    x: np.ndarray
    y: np.ndarray
    record: PrivateTestSet
    hidden: tuple[Path, ...]  # its folder and files, which the worker must not see


def read_private_test(problem: str, path: Path) -> HeldOut:
    """Read and check the test set at ``path`` for ``problem``; a DataError names the file and what is wrong."""
    path = Path(path).expanduser().absolute()
    files: tuple[Path, ...]  # what the arrays were read from
    if problem == "mnist" and path.is_dir():
        images_path, labels_path = _idx_pair(path)
        x, y = _decoded(images_path), _decoded(labels_path)
        where_x, where_y, files = str(images_path), str(labels_path), (images_path, labels_path)
        source, folder = f"IDX files {images_path.name} and {labels_path.name} in {path}", path
    elif path.is_file() and path.suffix == ".npz":
        x, y = _npz_arrays(path, problem)
        where_x, where_y, files = f"{path} (array x)", f"{path} (array y)", (path,)
        source, folder = str(path), path.parent
    elif not path.exists():
        raise _error(problem, f"{path}: no such file or folder")
    else:
        raise _error(problem, f"{path} is not {'a .npz file' if problem == 'iris' else 'a .npz file or a folder'}")
    x = _checked_inputs(problem, where_x, x)
    y = _checked_labels(problem, where_x, where_y, y, len(x))
    digest = hashlib.sha256(f"{problem}:{x.dtype}:{x.shape}:".encode() + x.tobytes() + y.tobytes()).hexdigest()
    return HeldOut(x, y, PrivateTestSet(source, digest), (folder, *files))


def _error(problem: str, message: str) -> DataError:
    return DataError(message, f"--test-data {problem}=PATH takes {FORMS[problem]}")


def _idx_pair(folder: Path) -> tuple[Path, Path]:
    """The folder's one images file and one labels file, whatever their exact names."""
    files = sorted(path for path in folder.iterdir() if path.is_file())
    images = [path for path in files if "images" in path.name]
    labels = [path for path in files if "labels" in path.name]
    if len(images) != 1 or len(labels) != 1:
        found = ", ".join(path.name for path in files[:6]) + (", ..." if len(files) > 6 else "") or "no files"
        raise _error(
            "mnist",
            f"{folder} must hold exactly one file with 'images' in its name and one with 'labels'; it holds {found}",
        )
    return images[0], labels[0]


def _decoded(path: Path) -> np.ndarray:
    try:
        return read_idx(path)
    except DataError as error:  # its hint is about MNIST's own downloads
        raise _error("mnist", error.message) from None


def _npz_arrays(path: Path, problem: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not named arrays")
        with loaded as archive:
            missing = [name for name in ("x", "y") if name not in archive.files]
            if missing:
                held = ", ".join(archive.files) or "none"
                raise _error(problem, f"{path} has no array named {missing[0]!r} (its arrays: {held})")
            return archive["x"], archive["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _error(problem, f"{path} cannot be read as a .npz file: {error}") from None


def _checked_inputs(problem: str, where: str, x: np.ndarray) -> np.ndarray:
    if problem == "mnist":
        if x.ndim != 3 or x.shape[1:] != mnist.IMAGE_SHAPE:
            raise _error(problem, f"{where} holds images of shape {x.shape}; MNIST images are N x 28 x 28")
        if x.dtype != np.uint8:
            raise _error(problem, f"{where} holds {x.dtype} pixels; MNIST's are uint8, 0 to 255, not scaled")
    else:
        if x.ndim != 2 or x.shape[1] != 4:
            raise _error(problem, f"{where} holds an array of shape {x.shape}; Iris flowers are N x 4 measurements")
        if x.dtype.kind not in "iuf":  # signed, unsigned, float: not bool, complex, text or objects
            raise _error(problem, f"{where} holds {x.dtype} values; Iris measurements are numbers")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise _error(problem, f"{where} holds NaN or infinite measurements")
    if len(x) == 0:
        raise _error(problem, f"{where} holds no samples")
    return np.ascontiguousarray(x)


def _checked_labels(problem: str, where_x: str, where: str, y: np.ndarray, count: int) -> np.ndarray:
    n_classes = N_CLASSES[problem]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise _error(problem, f"{where} holds {y.dtype} labels of shape {y.shape}; labels are one whole number each")
    if len(y) != count:
        raise _error(problem, f"{where_x} holds {count} samples but {where} holds {len(y)} labels")
    outside = y[(y < 0) | (y >= n_classes)]
    if outside.size:
        raise _error(problem, f"{where} holds label {outside[0]}; {problem} labels are 0 to {n_classes - 1}")
    return y.astype(np.int64)
