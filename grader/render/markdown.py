"""The feedback page as Markdown, and what a feedback page shows, whatever its format.

``page`` turns a report into plain-text pieces (a ``Page``); this module and ``html`` only lay them out,
so the Markdown and the HTML page always show the same things in the same words. Every piece is
unescaped report text: each format escapes it, since messages quote the student's code.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass

from grader.records import Failure, FreeformRun, ModelMeasurement, TrainingRun
from grader.render.checks import DiagnosisView, diagnosis_view
from grader.render.plots import learning_curves
from grader.render.text import clean, md_text, percent, pp
from grader.report import ModelScore, Report, RunSummary

LOG_LINES_SHOWN = 15
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
class Page:
    title: str
    verdict: str
    outcome: str  # pass | fail | ungraded
    about: str
    quick: list[str]  # [] in full mode
    submission_failure: FailureView | None
    next_steps: list[str]
    summary: Table | None  # None when no model ran
    models: list[ModelView]
    warnings: list[str]
    data: Table | None
    environment: list[tuple[str, str]]
    log_tail: list[str]
    freeform: FreeformView | None = None


def page(report: Report) -> Page:
    """What a feedback page shows, in the order it shows it."""
    m = report.measurements
    ran = m.failure is None
    return Page(
        title=f"Feedback for {m.submission.path}",
        verdict=_verdict(report),
        outcome="ungraded" if report.status != "graded" else "pass" if report.passed else "fail",
        about=(
            f"nn-grader {m.grader_version} · {'quick' if m.settings.mode == 'quick' else 'full'} mode · "
            f"seed {m.settings.seed} · {m.seconds:.0f} s · rubric {report.rubric.get('name', '?')} "
            f"{report.rubric.get('digest', '')} · {report.created}"
            + (" · measurements reused from an earlier run of the same code" if m.reused else "")
        ),
        quick=_quick_note(report),
        submission_failure=_failure_view("The submission could not be graded", m.failure) if m.failure else None,
        next_steps=report.next_steps,
        summary=Table(["Model", "Test", "Reference", "Train / Val", "Gap", "Epochs", "Points"], _summary_rows(report))
        if ran
        else None,
        models=[_model_view(report, score) for score in report.scores] if ran else [],
        warnings=report.warnings,
        data=_data_table(report),
        environment=_environment(report),
        log_tail=_log_tail(report),
        freeform=freeform_view(m.freeform) if m.freeform else None,
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


def _verdict(report: Report) -> str:
    if report.status != "graded":
        why = report.measurements.failure.message if report.measurements.failure else "the submission could not run"
        return f"Not graded: {why}"
    if report.max_points == 0:
        return "Not scored: there is no reference baseline for these models (see the warnings)"
    verdict = "PASS" if report.passed else "BELOW THE PASS MARK"
    return f"{report.points:g} / {report.max_points:g} points · {verdict} (pass mark {report.pass_mark:g})"


def _quick_note(report: Report) -> list[str]:
    if report.measurements.settings.mode != "quick":
        return []
    note = "Quick mode: the models trained on a subset of the data, so these points are a preview, not the grade."
    return [note, *(f"{info.problem}: {info.subset}" for info in report.measurements.data.values() if info.subset)]


def _measurement(report: Report, score: ModelScore) -> ModelMeasurement:
    return report.measurements.model(score.key) or ModelMeasurement(*score.key.split("/"))


def _summary_rows(report: Report) -> list[list[str]]:
    rows = []
    for score in report.scores:
        model = _measurement(report, score)
        ref = score.reference
        reference = f"{percent(ref.test_accuracy)} ± {percent(ref.test_spread)}" if ref else "-"
        if model.accuracy is None or model.run is None:
            rows.append([model.key, "failed", reference, "-", "-", "-", _points(score)])
            continue
        a = model.accuracy
        epochs = f"{model.run.epochs_run}{STOPPED.get(model.run.stop_reason, '')}"
        rows.append(
            [model.key, percent(a.test), reference, _train_val(a.train, a.val), _gap(a.gap), epochs, _points(score)]
        )
    return rows


def _model_view(report: Report, score: ModelScore) -> ModelView:
    model = _measurement(report, score)
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
    yield "Gap", _gap(a.gap) + (f" (reference {_gap(reference.gap)})" if reference else "")
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
            ["Gap", *(_gap(r.gap) for r in runs)],
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
    env = report.measurements.environment
    isolation = f"{env.isolation}: walled off from {', '.join(env.isolated)}" if env.isolated else env.isolation
    missing = [part for part in ("network", "processes", "files") if part not in env.isolated]
    if missing:
        isolation += f"; the submission's code could reach {', '.join(missing)} (see the README's security model)"
    libraries = ", ".join(f"{name} {version}" for name, version in sorted(env.libraries.items()))
    return [
        ("Isolation", isolation),
        ("Python", env.python or "unknown"),
        ("Platform", env.platform or "unknown"),
        ("Libraries", libraries or "none recorded"),
        ("Device", report.measurements.settings.device),
        ("Peak memory", f"{env.peak_memory_mb:.0f} MB" if env.peak_memory_mb else "not measured"),
    ]


def _log_tail(report: Report) -> list[str]:
    """What the submission printed last, when something failed: often the best clue."""
    m = report.measurements
    if m.failure is None and not any(model.failure for model in m.models):
        return []
    return m.log.text.rstrip().splitlines()[-LOG_LINES_SHOWN:]


def _points(score: ModelScore) -> str:
    return f"{score.points:g}/{score.max_points:g}" if score.max_points else "unscored"


def _train_val(train: float, val: float) -> str:
    return f"{100 * train:.1f} / {100 * val:.1f}"


def _gap(gap: float) -> str:
    return pp(gap)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# Markdown: every piece of report text goes through md_text (or into a code block) on its way out.


def render_markdown(report: Report, *, plots: bool = True, images: dict[str, bytes] | None = None) -> str:
    """The feedback page as Markdown; ``plots=False`` leaves the images out (for diffs and golden files)."""
    content = page(report)
    if images is None:  # drawn here unless the caller drew them once for several pages
        images = learning_curves(report) if plots else {}
    parts = [f"# {md_text(content.title)}", f"**{md_text(content.verdict)}**", md_text(content.about)]
    parts += ["\n".join(f"> {md_text(line)}" for line in content.quick)] if content.quick else []
    if content.freeform:
        parts += ["## What the run built", md_text(content.freeform.intro)]
        parts += [md_table(content.freeform.models.header, _md_rows(content.freeform.models.rows))]
        parts += [md_list(content.freeform.problems)] if content.freeform.problems else []
    if content.submission_failure:
        parts += _md_failure(content.submission_failure)
    if content.next_steps:
        parts += ["## Next steps", "\n".join(f"{n}. {md_text(step)}" for n, step in enumerate(content.next_steps, 1))]
    if content.warnings:
        parts += ["## Warnings", md_list(content.warnings)]
    if content.summary:
        parts += ["## Models", md_table(content.summary.header, _md_rows(content.summary.rows))]
    for model in content.models:
        parts += _md_model(model, images.get(model.key))
    if content.log_tail:
        parts += ["## Last lines the submission printed", _code(content.log_tail)]
    parts += [
        "## Data",
        md_table(content.data.header, _md_rows(content.data.rows)) if content.data else "No data recorded.",
    ]
    parts += ["## Environment", _md_facts(content.environment)]
    return "\n\n".join(parts) + "\n"


def _md_model(model: ModelView, png: bytes | None) -> list[str]:
    parts = [f"## {md_text(model.key)} · {md_text(model.points)}"]
    if model.facts:
        parts.append(_md_facts(model.facts))
    if png is not None:
        parts.append(f"![learning curves for {md_text(model.key)}]({png_data_uri(png)})")
    if model.failure:
        parts += _md_failure(model.failure)
    if model.diagnosis:
        parts += _md_diagnosis(model.diagnosis)
    if model.regularization:
        parts.append(f"**Regularization found:** {md_text(model.regularization)}")
    if model.ablation_note:
        parts.append(md_text(model.ablation_note))
    if model.ablation:
        parts.append(md_table(model.ablation.header, _md_rows(model.ablation.rows)))
    parts.append(md_table(["Check", "Points", "Status", "What was measured"], [_md_check(c) for c in model.checks]))
    return parts


def _md_diagnosis(diagnosis: DiagnosisView) -> list[str]:
    parts = [f"**Diagnosis:** {md_text(diagnosis.headline)}"]
    parts += [md_list(diagnosis.lines())] if diagnosis.lines() else []
    return parts + ([f"→ {md_text(diagnosis.advice)}"] if diagnosis.advice else [])


def _md_check(check: CheckLine) -> list[str]:
    """A check's row; one with nothing to check in italics, so the ones that matter stand out."""
    measured = md_text(check.message) + (f" → {md_text(check.hint)}" if check.hint else "")
    cells = [md_text(check.title), check.points, md_text(check.words), measured]
    return [f"_{cell}_" if check.quiet and cell else cell for cell in cells]


def _md_failure(failure: FailureView) -> list[str]:
    lines = [f"**{md_text(failure.headline)}:** {md_text(failure.message)}"]
    if failure.location:
        lines.append(f"At {md_text(failure.location)}")
    if failure.hint:
        lines.append(f"→ {md_text(failure.hint)}")
    return lines + ([_code(failure.traceback.splitlines())] if failure.traceback else [])


def _md_facts(facts: list[tuple[str, str]]) -> str:
    return "\n".join(f"- **{md_text(label)}:** {md_text(value)}" for label, value in facts)


def md_list(items: list[str]) -> str:
    return "\n".join(f"- {md_text(item)}" for item in items)


def _md_rows(rows: list[list[str]]) -> list[list[str]]:
    return [[md_text(cell) for cell in row] for row in rows]


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub table of cells already in Markdown."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cell or " " for cell in line) + " |" for line in lines)


def _code(lines: list[str]) -> str:
    """A fenced block whose fence no line of the text can close."""
    lines = [clean(line) for line in lines]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])
