"""Arrays the grader derives from the data (decoded MNIST, splits, Iris) kept in the cache as .npy files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.locations import write_atomically


def save_atomically(target: Path, array: np.ndarray) -> None:
    """Best effort, atomic (see ``write_atomically``)."""
    write_atomically(target, lambda out: np.save(out, array, allow_pickle=False))
