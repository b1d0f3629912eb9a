"""Errors the grader reports to a person: each says what went wrong, what to do about it, and the exit code
``grade`` leaves with (the ``grade`` command group reports them all in one place: ``grader.cli.GradeGroup``).

Light on purpose: the worker imports it, so it imports nothing of the grader's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.records import Failure

# The exit codes of ``grade`` (stable, documented in the README's "Exit codes").
EXIT_PASSED = 0  # graded, at or above the pass mark
EXIT_BELOW_PASS_MARK = 1  # graded, below it
EXIT_USAGE = 2  # the user can fix the command: a bad option, path, rubric, baselines or gradebook
EXIT_UNGRADABLE = 3  # the submission could not be graded at all, or the data could not be loaded


class GraderError(Exception):
    """A problem a user can fix. ``hint`` is the one concrete next step; ``exit_code`` is what ``grade``
    exits with when it stops on it."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DataError(GraderError):
    """The data set is missing, corrupt or not what it claims to be: nothing can be graded."""

    exit_code = EXIT_UNGRADABLE


class SubmissionError(GraderError):
    """The submission path cannot be turned into something to grade (missing, empty, ambiguous)."""


class UngradableError(GraderError):
    """The submission cannot be graded as it is (a notebook that cannot be read, a broken contract);
    carries the ready-made Failure up to whoever records it in the report."""

    exit_code = EXIT_UNGRADABLE

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message, failure.hint)
        self.failure = failure


class RubricError(GraderError):
    """The rubric file is malformed."""


class BaselineError(GraderError):
    """The reference baselines file is missing or malformed."""
