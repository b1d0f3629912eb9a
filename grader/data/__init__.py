"""The data the grader trains and tests on: Iris from scikit-learn, MNIST from IDX files."""

from grader.data.problems import PROBLEMS, SPLIT_SEED, DataInfo, ProblemData, load_problem

__all__ = ["PROBLEMS", "SPLIT_SEED", "DataInfo", "ProblemData", "load_problem"]
