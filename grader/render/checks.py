"""What the CI renderers (Gradescope, JUnit, GitHub) share: each check of each model under one display
name, the models that did not train, the verdict line, a failure in a few lines, and the path of the
student's file as seen from where ``grade`` ran."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from grader.records import Failure, SourceLocation
from grader.report import Check, Report

_SOURCE_SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class CheckRow:
    """One check of one model, named the same way in every CI format."""

    model: str
    check: Check

    @property
    def name(self) -> str:
        return f"{self.model} · {self.check.title}"

    @property
    def lost_points(self) -> bool:
        return self.check.status in ("partial", "fail")

    @property
    def points(self) -> str:
        return f"{self.check.points:g}/{self.check.max_points:g}"

    @property
    def feedback(self) -> str:
        """What was found and, where points were lost, what to do about it."""
        return self.check.message + (f"\n→ {self.check.hint}" if self.check.hint else "")


def check_rows(report: Report) -> list[CheckRow]:
    """Every check of every model, in the report's order."""
    return [CheckRow(score.key, check) for score in report.scores for check in score.checks]


def failed_models(report: Report) -> dict[str, Failure]:
    """The models that did not train, by key: one failure stands for all their checks."""
    return {m.key: m.failure for m in report.measurements.models if m.failure is not None}


def verdict(report: Report) -> str:
    if report.status != "graded":
        return "Not graded: the submission could not be run"
    if report.max_points == 0:
        return "Not scored: there is no reference baseline for these models"
    outcome = "PASS" if report.passed else "BELOW THE PASS MARK"
    return f"Total {report.points:g} / {report.max_points:g} · {outcome} (pass mark {report.pass_mark:g})"


def student_file(report: Report, location: SourceLocation) -> str:
    """The path of the file a location is in, as seen from where ``grade`` ran.

    A location's file is relative to the submission's folder; the submission's path is that folder, or
    the notebook or module itself.
    """
    given = report.measurements.submission.path
    folder = posixpath.dirname(given) if given.endswith(_SOURCE_SUFFIXES) else given
    return posixpath.normpath(posixpath.join(folder, location.file))


def failure_text(failure: Failure, *, hint: bool = True) -> str:
    """A failure in a few lines: what happened, where, and (unless said elsewhere) what to do."""
    lines = [failure.message]
    if failure.location is not None:
        lines.append(f"at {failure.location}")
    if hint and failure.hint:
        lines.append(f"→ {failure.hint}")
    return "\n".join(lines)
