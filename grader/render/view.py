"""The one view of a report that every format reads: the verdict, the points, what to do next, each model's
diagnosis and figures, the warnings, the isolation note and the log excerpt, each worded and formatted once.

``report_view`` builds it once per rendering; a format only lays it out (and escapes it: every piece is
unescaped report text, since messages quote the student's code). Each format therefore says the same facts
in the same words, and a wording changes in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from grader.figures import percent, pp
from grader.records import Failure, FreeformRun, ModelMeasurement, TrainingRun
from grader.render.parts import DiagnosisView, diagnosis_view
from grader.report import ModelScore, Report, RunSummary

LOG_LINES_SHOWN = 15  # of what the submission printed, when something failed: often the best clue
ISOLATED_PARTS = ("network", "processes", "files")  # what the worker is walled off from where it can be
STATUS_WORDS = {
    "pass": "pass",
    "partial": "partial",
    "fail": "fail",
    "n/a": "n/a (full points)",
    "skipped": "skipped (not measured)",
}
QUIET = ("n/a", "skipped")  # nothing to check: shown, but quieter
STOP_REASONS = {
    "completed": "ran every epoch",
    "early_stopping": "stopped early",
    "time_budget": "stopped by the time limit",
    "custom_loop": "its own training loop",
}
STOPPED = {"early_stopping": " (stopped early)", "time_budget": " (stopped at the time budget)"}


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class CheckLine:
    title: str
    points: str
    status: str  # the report's: pass | partial | fail | n/a | skipped
    message: str
    hint: str

    @property
    def words(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)

    @property
    def quiet(self) -> bool:
        return self.status in QUIET


@dataclass(frozen=True)
class FailureView:
    headline: str
    message: str
    location: str
    hint: str
    traceback: str


@dataclass(frozen=True)
class ModelFigures:
    """A model's numbers as every table shows them: accuracies in percent, the gap in percentage points."""

    key: str
    trained: bool
    test: str  # "96.9%", or "failed"
    reference: str  # "97.8%", or "-" without one
    spread: str  # the reference's: "± 0.3%", or ""
    train_val: str  # "99.9% / 97.0%"
    gap: str  # "2.9 pp"
    gap_number: str  # "2.9": the gap in a column headed in percentage points
    epochs: str  # "14", "8 (stopped early)"
    points: str  # "30.25/34.25", or "unscored"


@dataclass(frozen=True)
class ModelView:
    key: str
    points: str
    outcome: str  # pass | partial | fail: the colour of its heading
    facts: list[tuple[str, str]]
    checks: list[CheckLine]
    failure: FailureView | None
    regularization: str  # "" where there is nothing to say
    ablation: Table | None
    ablation_note: str
    diagnosis: DiagnosisView | None = None

    @property
    def anchor(self) -> str:
        return "model-" + re.sub(r"[^a-z0-9]+", "-", self.key.lower())


@dataclass(frozen=True)
class FreeformView:
    """A free-form submission's run: how it was graded, the models it built, what failed in it."""

    intro: str
    models: Table
    problems: list[str]  # failed cells, data sets not served, notes


@dataclass(frozen=True)
class ReportView:
    """What every format shows of a report, in the order a feedback page shows it."""

    title: str
    verdict: str
    outcome: str  # pass | fail | ungraded
    mode: str  # "full mode", or "QUICK mode (a subset of the data)": a quick grade is a preview
    about: str
    quick: list[str]  # [] in full mode
    submission_failure: FailureView | None
    next_steps: list[str]
    figures: list[ModelFigures]  # [] when the submission did not run
    models: list[ModelView]
    warnings: list[str]  # the report's, about the data and the run
    isolation: str  # the warning about this machine, "" where the worker was walled off from everything
    data: Table | None
    environment: list[tuple[str, str]]
    log_tail: list[str]
    freeform: FreeformView | None = None

    @property
    def summary(self) -> Table | None:
        """The models side by side; None when no model ran."""
        if not self.figures:
            return None
        header = ["Model", "Test", "Reference", "Train / Val", "Gap", "Epochs", "Points"]
        rows = [
            [f.key, f.test, f"{f.reference} {f.spread}".strip(), f.train_val, f.gap, f.epochs, f.points]
            for f in self.figures
        ]
        return Table(header, rows)

    @property
    def diagnoses(self) -> list[DiagnosisView]:
        """Each diagnosed model's diagnosis, in the report's order (``parts.diagnoses``): none for a model that
        did not train or a submission that did not run, whose failure says it all."""
        return [model.diagnosis for model in self.models if model.diagnosis is not None]

    @property
    def all_warnings(self) -> list[str]:
        """The report's warnings and the machine's: what a person reading the whole report is warned of."""
        return [*self.warnings, *([self.isolation] if self.isolation else [])]


@dataclass(frozen=True)
class UnreportedView:
    """A student whose grading left no report (it timed out, the grader failed): what happened, and the end of
    the grader's log."""

    title: str
    verdict: str
    facts: list[tuple[str, str]]
    log_tail: list[str]


def report_view(report: Report) -> ReportView:
    """The view of a report, built once for a rendering."""
    m = report.measurements
    ran = m.failure is None
    return ReportView(
        title=f"Feedback for {m.submission.path}",
        verdict=verdict(report),
        outcome="ungraded" if report.status != "graded" else "pass" if report.passed else "fail",
        mode=_mode_words(report.measurements.settings.mode),
        about=_about(report),
        quick=_quick_note(report),
        submission_failure=_failure_view("The submission could not be graded", m.failure) if m.failure else None,
        next_steps=list(report.next_steps),
        figures=[model_figures(measurement(report, score), score) for score in report.scores] if ran else [],
        models=[_model_view(report, score) for score in report.scores] if ran else [],
        warnings=list(report.warnings),
        isolation=isolation_warning(m.environment.isolated),
        data=_data_table(report),
        environment=_environment(report),
        log_tail=_log_tail(report),
        freeform=freeform_view(m.freeform) if m.freeform else None,
    )


def verdict(report: Report) -> str:
    """The grade in one line, the same in every format."""
    if report.status != "graded":
        return "Not graded: the submission could not be run"
    if report.max_points == 0:
        return "Not scored: there is no reference baseline for these models (see the warnings)"
    outcome = "PASS" if report.passed else "BELOW THE PASS MARK"
    return f"Total {report.points:g} / {report.max_points:g} points · {outcome} (pass mark {report.pass_mark:g})"


def isolation_warning(isolated: list[str]) -> str:
    """The one warning about this machine rather than the submission, "" where isolation was whole."""
    missing = [part for part in ISOLATED_PARTS if part not in isolated]
    if not missing:
        return ""
    return (
        f"isolation is partial on this machine: the submission's code was not walled off from "
        f"{', '.join(missing)} (see the README's security model)"
    )


def log_excerpt(text: str) -> list[str]:
    """The last lines of a log, the few a page or a terminal shows."""
    return text.rstrip().splitlines()[-LOG_LINES_SHOWN:]


def _mode_words(mode: str) -> str:
    return "QUICK mode (a subset of the data)" if mode == "quick" else "full mode"


def _about(report: Report) -> str:
    m = report.measurements
    return (
        f"nn-grader {m.grader_version} · {_mode_words(m.settings.mode)} · "
        f"seed {m.settings.seed} · {m.seconds:.0f} s · rubric {report.rubric.get('name', '?')} "
        f"{report.rubric.get('digest', '')} · {report.created}"
        + (" · measurements reused from an earlier run of the same code" if m.reused else "")
    )


def freeform_view(run: FreeformRun) -> FreeformView:
    ran = sum(cell.status != "not run" for cell in run.cells)
    rows = [
        [
            found.name,
            found.framework,
            str(found.location or "-"),
            f"{'x'.join(map(str, found.inputs)) or '?'} -> {found.classes}",
            f"{found.problem} {found.variant}" if found.problem and found.variant else "neither problem",
            "yes" if found.trained else "no",
            f"{found.chosen_for} ({found.why})" if found.chosen_for else "-",
        ]
        for found in run.models
    ]
    problems = [
        (f"cell {cell.cell}" if cell.cell else "the script")
        + (f", line {cell.line}" if cell.line else "")
        + f" failed: {cell.error}"
        for cell in run.failed_cells()
    ]
    problems += [f"not served: {unserved}" for unserved in run.unserved] + run.notes
    return FreeformView(
        f"Graded free-form: the submission defines no build_model, so the grader ran its {ran} code cell(s) top to "
        f"bottom ({run.seconds:.0f} s, offline, with the data served) and graded the models they built.",
        Table(["Model", "Framework", "Built at", "Shape", "Fits", "Trained", "Graded as"], rows),
        problems,
    )


def _quick_note(report: Report) -> list[str]:
    if report.measurements.settings.mode != "quick":
        return []
    note = "Quick mode: the models trained on a subset of the data, so these points are a preview, not the grade."
    return [note, *(f"{info.problem}: {info.subset}" for info in report.measurements.data.values() if info.subset)]


def measurement(report: Report, score: ModelScore) -> ModelMeasurement:
    """What was measured of a scored model; nothing but its name for one that never ran."""
    problem, variant = score.key.split("/")
    return report.measurements.model(score.key) or ModelMeasurement(problem, variant)


def model_figures(model: ModelMeasurement, score: ModelScore) -> ModelFigures:
    ref = score.reference
    reference = percent(ref.test_accuracy) if ref else "-"
    spread = f"± {percent(ref.test_spread)}" if ref else ""
    points = _points(score)
    a, run = model.accuracy, model.run
    if a is None or run is None:
        return ModelFigures(model.key, False, "failed", reference, spread, "-", "-", "-", "-", points)
    epochs = f"{run.epochs_run}{STOPPED.get(run.stop_reason, '')}"
    train_val = f"{percent(a.train)} / {percent(a.val)}"
    gap = (pp(a.gap), pp(a.gap, unit=False))
    return ModelFigures(model.key, True, percent(a.test), reference, spread, train_val, *gap, epochs, points)


def _model_view(report: Report, score: ModelScore) -> ModelView:
    model = measurement(report, score)
    failure = model.failure
    lost = sum(check.lost for check in score.checks)
    return ModelView(
        key=score.key,
        points=_points(score) + (" points" if score.max_points else ""),
        outcome="fail" if failure or score.points == 0 else "pass" if score.points >= score.max_points else "partial",
        facts=list(_facts(model, score)),
        checks=[
            CheckLine(c.title, f"{c.points:g}/{c.max_points:g}", c.status, c.message, c.hint) for c in score.checks
        ],
        failure=_failure_view(f"Not trained, {lost:g} points lost", failure) if failure else None,
        regularization=_regularization(model, score),
        ablation=_ablation_table(score),
        ablation_note=_ablation_note(score),
        diagnosis=None if failure else diagnosis_view(report, score),
    )


def _facts(model: ModelMeasurement, score: ModelScore) -> Iterator[tuple[str, str]]:
    """The model's numbers in a few labelled lines, to read beside its learning curves."""
    a, run = model.accuracy, model.run
    if a is None or run is None:
        return
    reference = score.reference
    yield "Test accuracy", percent(a.test) + (f" (reference {percent(reference.test_accuracy)})" if reference else "")
    yield "Train / validation", f"{percent(a.train)} / {percent(a.val)}"
    yield "Gap", pp(a.gap) + (f" (reference {pp(reference.gap)})" if reference else "")
    yield "Epochs", f"{run.epochs_run}, {STOP_REASONS.get(run.stop_reason, run.stop_reason)} in {run.seconds:.1f} s"
    best = RunSummary.of(a, run).best_epoch
    if best is not None:
        yield "Lowest validation loss", f"epoch {best}"
    if score.overfitting_onset is not None:
        yield "Overfitting", f"validation loss rising from epoch {score.overfitting_onset} on"
    if _early_stopping(run):
        yield "Early stopping", f"best epoch {run.best_epoch}"


def _early_stopping(run: TrainingRun) -> bool:
    return run.stop_reason == "early_stopping" and run.best_epoch is not None


def _regularization(model: ModelMeasurement, score: ModelScore) -> str:
    if model.failure or not (score.regularization or score.key.endswith("/multi")):
        return ""
    return ", ".join(score.regularization) or "none"


def _ablation_table(score: ModelScore) -> Table | None:
    """The model beside itself retrained with its regularization switched off."""
    ablation = score.ablation
    if ablation is None or ablation.ablated is None:
        return None
    runs = (ablation.regularized, ablation.ablated)
    return Table(
        ["", "With regularization", "Without"],
        [
            ["Train accuracy", *(percent(r.train) for r in runs)],
            ["Validation accuracy", *(percent(r.val) for r in runs)],
            ["Gap", *(pp(r.gap) for r in runs)],
            ["Epochs", *(str(r.epochs) for r in runs)],
            ["Lowest validation loss", *(f"epoch {r.best_epoch}" if r.best_epoch else "-" for r in runs)],
        ],
    )


def _ablation_note(score: ModelScore) -> str:
    ablation = score.ablation
    if ablation is None:
        return ""
    if ablation.ablated is None:
        return "Ablation: not run (nothing to switch off, or the retraining failed)."
    switched_off = "; ".join(ablation.switched_off) or "nothing"
    return f"Ablation: the same model retrained, same seed and data, with its regularization off ({switched_off})."


def _failure_view(headline: str, failure: Failure) -> FailureView:
    where = str(failure.location) if failure.location else ""
    return FailureView(headline, failure.message, where, failure.hint, failure.traceback)


def _data_table(report: Report) -> Table | None:
    data = report.measurements.data.values()
    if not data:
        return None
    return Table(
        ["Problem", "Train / val / test", "Fingerprint", "Source"],
        [[d.problem, f"{d.n_train} / {d.n_val} / {d.n_test}", d.fingerprint, d.source] for d in data],
    )


def _environment(report: Report) -> list[tuple[str, str]]:
    """The machine the grade was measured on; whether its isolation was partial is said among the warnings."""
    env = report.measurements.environment
    libraries = ", ".join(f"{name} {version}" for name, version in sorted(env.libraries.items()))
    return [
        ("Isolation", f"{env.isolation}: walled off from {', '.join(env.isolated)}" if env.isolated else env.isolation),
        ("Python", env.python or "unknown"),
        ("Platform", env.platform or "unknown"),
        ("Libraries", libraries or "none recorded"),
        ("Device", report.measurements.settings.device),
        ("Peak memory", f"{env.peak_memory_mb:.0f} MB" if env.peak_memory_mb else "not measured"),
    ]


def _log_tail(report: Report) -> list[str]:
    """What the submission printed last, when something failed."""
    m = report.measurements
    if m.failure is None and not any(model.failure for model in m.models):
        return []
    return log_excerpt(m.log.text)


def _points(score: ModelScore) -> str:
    return f"{score.points:g}/{score.max_points:g}" if score.max_points else "unscored"
