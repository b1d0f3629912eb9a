"""Iris, from the copy that ships inside scikit-learn, so it never needs the network."""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.datasets import load_iris

IRIS_SOURCE = f"scikit-learn {sklearn.__version__} load_iris()"
N_CLASSES = 3


def load_iris_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 150 flowers as (float64 features of shape (150, 4), int64 labels 0..2), raw and unshuffled."""
    bunch = load_iris()
    return np.ascontiguousarray(bunch.data, dtype=np.float64), bunch.target.astype(np.int64)
