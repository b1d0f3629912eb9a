"""The data the grader trains and tests on: Iris from scikit-learn, MNIST from IDX files."""

from grader.data.private_test import PrivateTestSet, read_private_test
from grader.data.problems import N_CLASSES, PROBLEMS, SPLIT_SEED, DataInfo, ProblemData, load_problem

__all__ = [
    "N_CLASSES",
    "PROBLEMS",
    "SPLIT_SEED",
    "DataInfo",
    "PrivateTestSet",
    "ProblemData",
    "load_problem",
    "read_private_test",
]
