"""Iris comes from the copy inside scikit-learn, never the network, and is kept in the cache after the first
read so that a later grade need not import scikit-learn at all."""

from __future__ import annotations

import sys

import numpy as np

from grader.data.iris import load_iris_arrays


def test_the_150_flowers_raw_and_unshuffled():
    x, y = load_iris_arrays()
    assert (x.shape, x.dtype, y.shape, y.dtype) == ((150, 4), np.float64, (150,), np.int64)
    assert x.flags.c_contiguous
    assert list(np.bincount(y)) == [50, 50, 50]
    assert list(y[:3]) == [0, 0, 0] and x[0].tolist() == [5.1, 3.5, 1.4, 0.2]  # load_iris()'s first flower


def test_a_second_read_comes_from_the_cache_without_scikit_learn(monkeypatch):
    first = load_iris_arrays()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # importing it now fails
    again = load_iris_arrays()
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
