"""What every renderer shares, so that each format says the same facts in the same words: each check of
each model under one display name, a finding that several models share said once with their list, each
model's diagnosis beside what its what-ifs measured, the models that did not train, a failure in a few
lines, and the path of the student's file as seen from where ``grade`` ran."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from grader.figures import percent
from grader.records import Failure, SourceLocation
from grader.report import Check, ModelScore, Report, WhatIf

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


@dataclass(frozen=True)
class Finding:
    """A check that lost points, said once for every model it was found in with the same words."""

    models: tuple[str, ...]
    check: Check

    @property
    def where(self) -> str:
        return ", ".join(self.models)

    @property
    def points(self) -> str:
        each = " each" if len(self.models) > 1 else ""
        return f"{self.check.points:g}/{self.check.max_points:g}{each}"

    @property
    def headline(self) -> str:
        """ "Final layer: 0/4 each in iris/single, iris/multi" """
        return f"{self.check.title}: {self.points} in {self.where}"


def findings(report: Report) -> list[Finding]:
    """The checks that lost points to something other than a failure (reported once on its own), one entry
    per title, message and hint however many models share them, in the order first found."""
    if report.measurements.failure is not None:
        return []
    failed = failed_models(report)
    grouped: dict[tuple[str, str, str, float, float], list[CheckRow]] = {}
    for row in check_rows(report):
        if row.lost_points and row.model not in failed:
            c = row.check
            grouped.setdefault((c.title, c.message, c.hint, c.points, c.max_points), []).append(row)
    return [Finding(tuple(row.model for row in rows), rows[0].check) for rows in grouped.values()]


WHAT_IF_WORDS = {
    "final_softmax": "without the final softmax",
    "dropout_rate": "with dropout 0.2",
    "weight_decay": "with weight decay 1e-4",
    "eval_mode": "evaluated in eval mode",
}


def what_if_text(what_if: WhatIf, test: float | None) -> str:
    """What one fix bought, measured: "without the final softmax: 96.9% instead of 83.3%"."""
    fix = WHAT_IF_WORDS.get(what_if.fix) or "with " + ("; ".join(what_if.changed) or what_if.fix)
    if what_if.test is None:
        return f"{fix}: the retrained model failed" + (f" ({what_if.failure})" if what_if.failure else "")
    instead = f" instead of {percent(test)}" if test is not None else ""
    return f"{fix}: {percent(what_if.test)} test accuracy{instead}"


@dataclass(frozen=True)
class DiagnosisView:
    """A model's diagnosis in the words every format shows: its state and cause on one line, the evidence,
    what each of its what-ifs measured, and the advice."""

    model: str
    state: str
    headline: str  # "over-regularized: Dropout(0.9) drops 90% of ..."
    evidence: str
    what_ifs: list[str]
    advice: str
    explains: tuple[str, ...] = ()  # the ids of the lost checks its cause accounts for

    @property
    def fine(self) -> bool:
        return self.state == "fine"

    def lines(self) -> list[str]:
        """The details under the headline, for a format that lists them."""
        return [line for line in (self.evidence, *self.what_ifs) if line]

    def text(self, *, advice: bool = True) -> str:
        """The diagnosis as plain text on a few lines, for a format with no layout of its own."""
        lines = [f"{self.model}: {self.headline}", *(f"- {line}" for line in self.lines())]
        return "\n".join(lines + ([f"→ {self.advice}"] if advice and self.advice else []))


def diagnoses(report: Report) -> list[DiagnosisView]:
    """Each diagnosed model's diagnosis, in the report's order; none for a model that did not train or a
    submission that did not run, whose failure says it all."""
    if report.measurements.failure is not None:
        return []
    failed = failed_models(report)
    views = [diagnosis_view(report, score) for score in report.scores if score.key not in failed]
    return [view for view in views if view is not None]


def diagnosis_view(report: Report, score: ModelScore) -> DiagnosisView | None:
    diagnosis = score.diagnosis
    what_ifs = [what_if_text(w, _test_accuracy(report, score.key)) for w in score.what_ifs]
    if diagnosis is None:  # what-ifs measured but no state named: still worth showing
        return DiagnosisView(score.key, "", "what a fix would buy", "", what_ifs, "") if what_ifs else None
    headline = diagnosis.state + (f": {diagnosis.cause}" if diagnosis.cause else "")
    return DiagnosisView(
        score.key, diagnosis.state, headline, diagnosis.evidence, what_ifs, diagnosis.advice, tuple(diagnosis.explains)
    )


def _test_accuracy(report: Report, key: str) -> float | None:
    model = report.measurements.model(key)
    return model.accuracy.test if model is not None and model.accuracy is not None else None


def failed_models(report: Report) -> dict[str, Failure]:
    """The models that did not train, by key: one failure stands for all their checks."""
    return {m.key: m.failure for m in report.measurements.models if m.failure is not None}


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
