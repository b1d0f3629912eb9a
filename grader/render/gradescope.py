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
"""

from __future__ import annotations

import json
from typing import Any

from grader.records import Failure
from grader.render.parts import check_rows, failure_text
from grader.render.text import prose
from grader.render.view import ReportView, report_view
from grader.report import Report

LEADERBOARD_MODEL = "mnist/multi"
LEADERBOARD_NAME = "MNIST multi-layer test accuracy (%)"


def render_gradescope(report: Report) -> str:
    content = report_view(report)
    failure = report.measurements.failure
    results: dict[str, Any] = {
        "score": 0.0 if failure else report.points,
        "execution_time": round(report.measurements.seconds),
        "output": prose(_summary(report, content)),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",  # the grader's log: for the instructor, who sees it anyway
        "extra_data": _extra_data(report),
        "tests": [_failure_test(report, failure)] if failure else _tests(report, content),
        "leaderboard": [_leaderboard(report)],
    }
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def _summary(report: Report, content: ReportView) -> str:
    seed, version = report.measurements.settings.seed, report.measurements.grader_version
    lines = [content.verdict, f"Graded in {content.mode}, seed {seed}, by nn-grader {version}."]
    freeform = content.freeform
    if freeform is not None:
        lines += ["", freeform.intro, *(f"- {problem}" for problem in freeform.problems)]
    if report.measurements.failure is not None:  # its hint is the next step
        lines += ["", failure_text(report.measurements.failure, hint=False)]
    shown = [view for view in content.diagnoses if not view.fine or view.what_ifs]
    if shown:
        lines += ["", "Diagnosis:", *(view.text(advice=False) for view in shown)]
    if content.next_steps:
        lines += ["", "Next steps:", *(f"{n}. {step}" for n, step in enumerate(content.next_steps, 1))]
    if content.warnings:
        lines += ["", "Warnings:", *(f"- {warning}" for warning in content.warnings)]
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


def _tests(report: Report, content: ReportView) -> list[dict[str, Any]]:
    """A test per check; one that lost points to what its model's diagnosis explains says the diagnosis."""
    views = {view.model: view for view in content.diagnoses}
    tests = []
    for row in check_rows(report):
        if row.check.status == "skipped":
            continue
        view = views.get(row.model)
        explained = view is not None and row.lost_points and row.check.id in view.explains
        said = view is not None and view.advice == row.check.hint  # the hint is already above
        output = row.feedback + (
            f"\n\nDiagnosis: {view.text(advice=not said)}" if view is not None and explained else ""
        )
        tests.append(
            {
                "name": row.name,
                "score": row.check.points,
                "max_score": row.check.max_points,
                "status": "failed" if row.lost_points else "passed",
                "output": prose(output),
                "visibility": "visible",
            }
        )
    return tests


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
