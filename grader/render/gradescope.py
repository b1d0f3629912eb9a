"""Gradescope's ``results.json``, written to its autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/).

The report's points are the top-level ``score`` (which overrides the sum of the tests); each check of
each model is one test. Every text is declared ``"text"``: Gradescope's default for the top-level output
renders HTML, and a student's error message (``<class 'torch.nn.ReLU'>``) must show as written.

Choices the specification leaves open:

- checks that were not measured (status "skipped", 0/0) are left out: a 0/0 test shows as passed or
  failed, and neither is true;
- an ungradable submission scores 0, with one test carrying its failure;
- the leaderboard's one entry, MNIST multi-layer test accuracy, is 0 when that model has no accuracy,
  so that it ranks last.

This module also holds what the three CI renderers (this one, JUnit and GitHub) share: each check of
each model with its display name, the verdict line, and the path of the student's file.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from grader.records import Failure, SourceLocation
from grader.report import Check, Report

LEADERBOARD_MODEL = "mnist/multi"
LEADERBOARD_NAME = "MNIST multi-layer test accuracy (%)"
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


def render_gradescope(report: Report) -> str:
    failure = report.measurements.failure
    results: dict[str, Any] = {
        "score": 0.0 if failure else report.points,
        "execution_time": round(report.measurements.seconds),
        "output": _summary(report),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",  # the grader's log: for the instructor, who sees it anyway
        "extra_data": _extra_data(report),
        "tests": [_failure_test(report, failure)] if failure else _tests(report),
        "leaderboard": [_leaderboard(report)],
    }
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def _summary(report: Report) -> str:
    settings = report.measurements.settings
    mode = "quick mode (a subset of the data: a rougher grade)" if settings.mode == "quick" else "full mode"
    version = report.measurements.grader_version
    lines = [verdict(report), f"Graded in {mode}, seed {settings.seed}, by nn-grader {version}."]
    if report.measurements.failure is not None:  # its hint is the next step
        lines += ["", failure_text(report.measurements.failure, hint=False)]
    if report.next_steps:
        lines += ["", "Next steps:", *(f"{n}. {step}" for n, step in enumerate(report.next_steps, 1))]
    if report.warnings:
        lines += ["", "Warnings:", *(f"- {warning}" for warning in report.warnings)]
    return "\n".join(lines)


def _extra_data(report: Report) -> dict[str, Any]:
    """What an instructor exporting the results may want beside the score."""
    return {
        "grader_version": report.measurements.grader_version,
        "mode": report.measurements.settings.mode,
        "seed": report.measurements.settings.seed,
        "rubric": report.rubric,
        "max_points": report.max_points,
        "pass_mark": report.pass_mark,
        "passed": report.passed,
    }


def _tests(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "name": row.name,
            "score": row.check.points,
            "max_score": row.check.max_points,
            "status": "failed" if row.lost_points else "passed",
            "output": row.feedback,
            "visibility": "visible",
        }
        for row in check_rows(report)
        if row.check.status != "skipped"
    ]


def _failure_test(report: Report, failure: Failure) -> dict[str, Any]:
    """The one test of a submission that could not be graded: why, where, what to do, the traceback."""
    output = failure_text(failure) + (f"\n\n{failure.traceback}" if failure.traceback else "")
    return {
        "name": "Submission · loads and runs",
        "score": 0.0,
        "max_score": report.max_points,
        "status": "failed",
        "output": output,
        "visibility": "visible",
    }


def _leaderboard(report: Report) -> dict[str, Any]:
    model = report.measurements.model(LEADERBOARD_MODEL)
    accuracy = model.accuracy.test if model is not None and model.accuracy is not None else 0.0
    return {"name": LEADERBOARD_NAME, "value": round(100 * accuracy, 2), "order": "desc"}
