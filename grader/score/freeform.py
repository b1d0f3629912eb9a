"""Deductions for a free-form submission: cells that fail when run top to bottom, and classic mistakes.

They are checks worth 0 points that take points off (never more than the model they land on earned), so a
clean notebook and a contract submission are scored out of the same total. Each is charged once, to the
model it concerns with the most points (a model built in the cell it points at, else one of its problem's,
else any): a notebook-wide mistake is not charged four times.
"""

from __future__ import annotations

from grader.mistake_catalogue import MISTAKES
from grader.records import Finding, FreeformRun
from grader.report import Check, ModelScore
from grader.rubric import Rubric

# The problem a mistake is about, where it is about one; the others concern the notebook as a whole.
PROBLEM_OF = {
    "unscaled_pixels": "mnist",
    "not_mnist": "mnist",
    "unshuffled_split": "iris",
    "scaler_fitted_before_split": "iris",
}


def deduct(run: FreeformRun, scores: list[ModelScore], rubric: Rubric) -> None:
    """Append the run's deductions to ``scores``, in place."""
    failed = run.failed_cells()
    if failed and rubric.freeform.failed_cell_points > 0:
        counted = failed[: rubric.freeform.failed_cells_counted]
        where = "; ".join(f"cell {c.cell}" + (f", line {c.line}" if c.line else "") + f": {c.error}" for c in counted)
        more = f" (and {len(failed) - len(counted)} more)" if len(failed) > len(counted) else ""
        _charge(
            scores,
            "cells_fail",
            "Runs top to bottom",
            rubric.freeform.failed_cell_points * len(counted),
            f"{len(failed)} cell(s) raised when the notebook ran top to bottom: {where}{more}",
            "fix the first failing cell, then Restart & Run All and check that every cell runs",
        )
    seen: set[str] = set()
    for finding in run.findings:
        points = rubric.mistakes.get(finding.kind, 0.0)
        if finding.kind in seen or points <= 0:
            continue
        seen.add(finding.kind)
        _charge(
            _concerned(finding, run, scores),
            f"mistake:{finding.kind}",
            _title(finding),
            points,
            f"{finding.message} ({finding.location})" if finding.location else finding.message,
            finding.hint,
        )


def _title(finding: Finding) -> str:
    mistake = MISTAKES.get(finding.kind)
    return mistake.title if mistake else finding.kind.replace("_", " ")


def _concerned(finding: Finding, run: FreeformRun, scores: list[ModelScore]) -> list[ModelScore]:
    """The models a finding is about: those built on the line (or in the cell) it points at, else the models
    of its problem, else all."""
    cell = finding.location.cell if finding.location else None
    built_there = {m.chosen_for for m in run.models if m.chosen_for and m.location and m.location.cell == cell}
    problem = PROBLEM_OF.get(finding.kind)
    return (
        [s for s in scores if s.key in built_there]
        or [s for s in scores if problem is not None and s.key.startswith(f"{problem}/")]
        or scores
    )


def _charge(candidates: list[ModelScore], check_id: str, title: str, points: float, message: str, hint: str) -> None:
    if not candidates:
        return
    target = max(candidates, key=lambda s: s.points)
    taken = round(min(points, max(target.points, 0.0)), 2)
    target.checks.append(Check(check_id, title, -taken, 0.0, "fail", message, hint))
