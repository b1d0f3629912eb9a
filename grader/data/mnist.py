"""MNIST: find the four IDX files (given folder, environment, cache or download), read and validate them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.data.fetch import DownloadError, download
from grader.data.idx import REPAIR_HINT, decode_idx, read_file
from grader.data.store import save_atomically
from grader.errors import DataError
from grader.locations import cache_dir
from grader.records import N_CLASSES

MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES

DEFAULT_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class MnistArrays:
    """The decoded files; ``sha256`` maps each file name as read to the sha256 of its bytes."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: dict[str, str]


def mnist_files(
    data_dir: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    mirrors: list[str] | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """Locate the four files: ``data_dir``, then ``$GRADER_DATA_DIR``, then the cache, else download them.

    Local copies are taken as they are (instructors may hold re-encoded files) and only validated when
    read; downloads must match the official sha256.
    """
    env = os.environ if env is None else env
    places = _places(data_dir, env)
    for _origin, directory in places:
        found = _complete_set(directory)
        if found is not None:
            return found
    cache = places[-1][1]
    chosen_mirrors = mirrors if mirrors is not None else (_env_mirrors(env) or DEFAULT_MIRRORS)
    try:
        return {
            name: _find_file(cache, name) or download(name, sha, cache, chosen_mirrors, progress=progress)
            for name, sha in MNIST_FILES.items()
        }
    except DownloadError as exc:
        raise _not_found(places, exc) from exc


def read_mnist(paths: dict[str, Path]) -> MnistArrays:
    """Decode and validate the files found by :func:`mnist_files` (keyed by the names in MNIST_FILES)."""
    arrays: dict[str, np.ndarray] = {}
    hashes: dict[str, str] = {}
    for name, path in paths.items():
        raw = read_file(path)
        hashes[path.name] = hashlib.sha256(raw).hexdigest()
        arrays[name] = _decoded(raw, path, hashes[path.name])
    _check_split(paths[TRAIN_IMAGES], arrays[TRAIN_IMAGES], paths[TRAIN_LABELS], arrays[TRAIN_LABELS])
    _check_split(paths[TEST_IMAGES], arrays[TEST_IMAGES], paths[TEST_LABELS], arrays[TEST_LABELS])
    return MnistArrays(
        train_images=arrays[TRAIN_IMAGES],
        train_labels=arrays[TRAIN_LABELS],
        test_images=arrays[TEST_IMAGES],
        test_labels=arrays[TEST_LABELS],
        sha256=hashes,
    )


def _places(data_dir: Path | None, env: Mapping[str, str]) -> list[tuple[str, Path]]:
    """The directories to look in, each with where it came from; the cache is always last."""
    places = []
    if data_dir is not None:
        places.append(("--data-dir", Path(data_dir).expanduser()))
    if env.get("GRADER_DATA_DIR"):
        places.append(("GRADER_DATA_DIR", Path(env["GRADER_DATA_DIR"]).expanduser()))
    places.append(("cache", cache_dir() / "mnist"))
    return places


def _complete_set(directory: Path) -> dict[str, Path] | None:
    """All four files from ``directory`` or its ``mnist/`` subfolder, or None if neither holds all four."""
    for folder in (directory, directory / "mnist"):
        found = {name: _find_file(folder, name) for name in MNIST_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def _find_file(folder: Path, name: str) -> Path | None:
    """The file gzipped (its official name) or uncompressed (the name without .gz)."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _env_mirrors(env: Mapping[str, str]) -> list[str]:
    return [url for url in re.split(r"[,\s]+", env.get("GRADER_MNIST_MIRRORS", "")) if url]


def _not_found(places: list[tuple[str, Path]], failure: DownloadError) -> DataError:
    looked = "\n".join(f"  {origin}: {folder} ({_what_is_missing(folder)})" for origin, folder in places)
    tried = "\n".join(f"  {url}: {reason}" for url, reason in failure.failures) or "  (no mirrors configured)"
    names = ", ".join(MNIST_FILES)
    return DataError(
        "MNIST data not found, and downloading it failed.\n"
        f"Looked for {names} (gzipped or not, in each folder or its mnist/ subfolder) in:\n{looked}\n"
        f"Downloading {failure.name} failed from every mirror:\n{tried}",
        hint=f"copy the four files into {places[-1][1]}, or pass --data-dir DIR or set GRADER_DATA_DIR=DIR "
        "to a folder that holds them, or set GRADER_MNIST_MIRRORS to mirror URLs that serve them",
    )


def _what_is_missing(directory: Path) -> str:
    if not directory.is_dir():
        return "does not exist"
    folders = (directory, directory / "mnist")
    missing = min(([name for name in MNIST_FILES if not _find_file(f, name)] for f in folders), key=len)
    return "missing " + ", ".join(missing)


def _decoded(raw: bytes, path: Path, digest: str) -> np.ndarray:
    """The decoded array, from the .npy cache when this exact file was decoded before."""
    cached = _decoded_cache_path(digest)
    with contextlib.suppress(OSError, ValueError):
        decoded: np.ndarray = np.load(cached, mmap_mode="r", allow_pickle=False)
        return decoded
    array = decode_idx(raw, path)
    save_atomically(cached, array)
    return array


def _decoded_cache_path(digest: str) -> Path:
    return cache_dir() / "mnist-decoded" / f"{digest}.npy"


def _check_split(images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray) -> None:
    """Shapes, counts and label range: what decoding alone cannot tell about a pair of files."""
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{images_path} holds an array of shape {images.shape}; MNIST images are N x 28 x 28", REPAIR_HINT
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path} holds an array of shape {labels.shape}; MNIST labels are 1-D", REPAIR_HINT)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels",
            "delete both so they are downloaded again, or replace them with a matching pair",
        )
    if labels.size and labels.max() >= N_CLASSES["mnist"]:
        raise DataError(f"{labels_path} holds label {labels.max()}; MNIST labels are 0 to 9", REPAIR_HINT)
