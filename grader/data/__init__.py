"""The data the grader trains and tests on: Iris from scikit-learn, MNIST from IDX files."""

from grader.data.private_test import read_private_test
from grader.data.problems import PROBLEMS, SPLIT_SEED, ProblemData, load_problem

__all__ = [
    "PROBLEMS",
    "SPLIT_SEED",
    "ProblemData",
    "load_problem",
    "read_private_test",
]
