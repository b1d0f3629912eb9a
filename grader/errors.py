"""Errors the grader reports to a person: each says what went wrong and what to do about it."""

from __future__ import annotations


class GraderError(Exception):
    """A problem a user can fix. ``hint`` is the one concrete next step."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DataError(GraderError):
    """The data set is missing, corrupt or not what it claims to be."""


class SubmissionError(GraderError):
    """The submission path cannot be turned into something to grade."""


class RubricError(GraderError):
    """The rubric file is malformed."""


class BaselineError(GraderError):
    """The reference baselines file is missing or malformed."""
