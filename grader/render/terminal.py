"""The report for a person at a terminal: one table of the models, what cost points, what to do next.

Plain enough to read without colour and within 80 columns. Every line is a ``Text`` made by ``_line`` (or
a table cell by ``_cell``): a student's message, code or printed output is shown, never acted on, neither
as Rich markup nor as control characters (see ``terminal_text``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from grader.figures import percent, pp
from grader.records import Measurements, ModelMeasurement
from grader.render.parts import failed_models, findings
from grader.render.text import prose, terminal_text, workflow_commands_stopped
from grader.render.view import ReportView, freeform_view, measurement, model_figures, report_view
from grader.report import Check, ModelScore, Report


def render_text(report: Report) -> str:
    """The same summary as plain text, 100 columns wide, for a file."""
    console = Console(file=io.StringIO(), width=100, no_color=True, highlight=False, force_terminal=False)
    _print_report(report, console)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in text.splitlines())  # no padding to the console's width


def render_terminal(report: Report, console: Console) -> None:
    """The report on a console; under GitHub Actions with workflow commands stopped, since the runner reads
    this output too and it quotes what the submission printed."""
    with workflow_commands_stopped(lambda line: console.print(Text(line), soft_wrap=True)):
        _print_report(report, console)


def _print_report(report: Report, console: Console) -> None:
    content = report_view(report)
    console.print(_heading(report, content.mode))
    for line in _freeform_lines(report.measurements):
        console.print(line)
    if report.measurements.failure is not None:
        console.print(_submission_failure(report))
    else:
        console.print(_models_table(report))
        for part in [*_diagnoses(report, content), *_deductions(report)]:
            console.print(part)
    console.print(_line(content.verdict, "bold green" if content.outcome == "pass" else "bold red"))
    if content.next_steps:
        console.print(_line("Next steps", "bold"))
        for number, step in enumerate(content.next_steps, 1):
            console.print(_hanging(f"  {number}. ", prose(step)))
    for warning in content.all_warnings:
        console.print(_hanging("warning: ", prose(warning), "yellow"))
    if content.log_tail:
        lines = content.log_tail
        console.print(_line(f"Last {len(lines)} lines the submission printed:", "bold"))
        console.print(_line("\n".join(lines), "dim"))


def _heading(report: Report, mode: str) -> RenderableType:
    m = report.measurements
    line = Text()
    line.append(f"nn-grader {m.grader_version}", style="bold")
    line.append(
        terminal_text(f" · {m.submission.path} · {mode} · seed {m.settings.seed} · {m.seconds:.0f} s", one_line=True)
    )
    if m.reused:
        line.append("\nmeasurements reused: this code was graded before (--no-cache retrains)", style="dim")
    return line


def render_found(measurements: Measurements, console: Console) -> None:
    """``grade models``: what a free-form run built and which models grading would take, before any training."""
    with workflow_commands_stopped(lambda line: console.print(Text(line), soft_wrap=True)):
        if measurements.freeform is None and measurements.failure is None:
            console.print(_line(f"{measurements.submission.entry} defines build_model: it is graded by the contract"))
            return
        for line in _freeform_lines(measurements):
            console.print(line)
        for finding in measurements.freeform.findings if measurements.freeform else []:
            where = f" ({finding.location})" if finding.location else ""
            console.print(_line(f"  mistake: {finding.message}{where}", "yellow"))
            console.print(_line(f"      -> {finding.hint}", "dim"))
        if measurements.failure is not None:
            console.print(_line(f"error: {measurements.failure.message}", "red"))
            if measurements.failure.hint:
                console.print(_line(f"  -> {measurements.failure.hint}"))


def _freeform_lines(measurements: Measurements) -> list[Text]:
    """For a free-form submission: that it was run rather than imported, what it built, what failed."""
    run = measurements.freeform
    if run is None:
        return []
    view = freeform_view(run)
    lines = [_line(view.intro, "bold")]
    if run.models:
        lines.append(_line("Models found"))
    for found in run.models:
        shape = "x".join(map(str, found.inputs)) or "?"
        kind = f"{found.problem} {found.variant}" if found.problem and found.variant else "neither problem"
        chosen = f" -> graded as {found.chosen_for} ({found.why})" if found.chosen_for else ""
        trained = "trained" if found.trained else "not trained"
        lines.append(
            _line(f"  {found.name} [{found.framework}], {shape} -> {found.classes}, {kind}, {trained}{chosen}")
        )
        if found.location is not None:
            lines.append(_line(f"      {found.location}", "dim"))
    lines += [_line(f"  {problem}", "yellow") for problem in view.problems]
    return lines


def _models_table(report: Report) -> Table:
    """One row per model, within 80 columns: how good it is against the reference, how much it overfits,
    what regularization it uses, and what it earned."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, collapse_padding=True)
    for header, justify in COLUMNS:
        # Where 80 columns are too few (100.0%, "10 early"), the regularization wraps: points are never cut.
        wraps = header == "Regularization"
        table.add_column(header, justify=justify, no_wrap=not wraps, max_width=16 if wraps else None)
    for score in report.scores:
        model = measurement(report, score)
        table.add_row(*(_cell(text) for text in _model_row(model, score)))
    return table


COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    ("Model", "left"),
    ("Test", "right"),
    ("Reference", "right"),
    ("Gap", "right"),  # percentage points
    ("Epochs", "right"),
    ("Regularization", "left"),
    ("Points", "right"),
)
STOPS = {"early_stopping": " early", "time_budget": " timed"}  # why fewer epochs ran than planned


def _model_row(model: ModelMeasurement, score: ModelScore) -> list[str]:
    """The model's figures as every format words them; the reference's spread is in the accuracy check's
    message, and why fewer epochs ran than planned in a word."""
    f = model_figures(model, score)
    regularization = ", ".join(_counted(_short(found) for found in score.regularization)) or "-"
    epochs = f"{model.run.epochs_run}{STOPS.get(model.run.stop_reason, '')}" if f.trained and model.run else "-"
    return [f.key, f.test, f.reference, f.gap_number, epochs, regularization, f.points]


def _counted(items: Iterable[str]) -> list[str]:
    """Each item once, counted where it repeats: two Dropout(0.9) are "2×Dropout(0.9)"."""
    counts = Counter(items)
    return [f"{n}×{item}" if n > 1 else item for item, n in counts.items()]


def _short(found: str) -> str:
    """A regularization in a few letters: "Dropout(0.2)" stays, "early stopping on val_loss" is "early stop"."""
    if found.startswith("early stopping"):
        return "early stop"
    return found.replace("weight decay ", "wd ").replace("kernel ", "")


def _diagnoses(report: Report, content: ReportView) -> list[RenderableType]:
    """Each model's state in the lesson's words and what explains it, said once for the models that share
    it; under it the evidence and what each what-if measured, model by model, unless a next step already
    says it. The models that are fine on one line. A model without a diagnosis still shows what its
    ablation measured and where it started overfitting."""
    views = {view.model: view for view in content.diagnoses}
    failed = failed_models(report)
    fine = [key for key, view in views.items() if view.fine and not view.what_ifs and key not in failed]
    groups: dict[str, list[tuple[str, list[str]]]] = {}
    for score in report.scores:
        view = views.get(score.key)
        if score.key in fine or score.key in failed:
            continue
        details = [line for line in view.lines() if not _said(line, report)] if view else []
        if view and view.advice and not _said(view.advice, report):
            details.append(f"→ {view.advice}")
        details += _ablation_lines(score) if view is None or view.state != "over-regularized" else []
        if view is None and score.overfitting_onset is not None:
            details.append(f"validation loss rising from epoch {score.overfitting_onset} on")
        if view is not None or details:
            groups.setdefault(view.headline if view else "", []).append((score.key, details))
    lines: list[RenderableType] = []
    for headline, models in groups.items():
        keys = ", ".join(key for key, _ in models)
        style = "yellow" if headline else ""
        lines.append(_hanging(f"  {keys}: ", headline or "how it trained", style))
        if len(models) > 1:  # a long list of models: the headline wraps under the list, not beside it
            lines[-1] = _indented(f"{keys}: {headline}", 2, style)
        for key, details in models:
            named = len(models) > 1 and details
            lines += [_indented(f"{key}: {'; '.join(details)}" if named else detail, 6) for detail in details][
                : 1 if named else None
            ]
    if fine:
        lines.append(_hanging("  fine: ", ", ".join(fine), "green"))
    return [_line("Diagnosis", "bold"), *lines] if lines else []


def _ablation_lines(score: ModelScore) -> list[str]:
    ablation = score.ablation
    if ablation is None or ablation.ablated is None:
        return []
    with_, without = ablation.regularized, ablation.ablated
    return [
        f"without its regularization: gap {pp(without.gap)} (with: {pp(with_.gap)}), "
        f"validation {percent(without.val)} (with: {percent(with_.val)})"
    ]


def _deductions(report: Report) -> list[RenderableType]:
    """What cost points: a model that did not train is one entry, not one per check, and a check that lost
    points in several models with the same words is one entry with the models' list. A hint already among
    the next steps is not said twice."""
    lines: list[RenderableType] = []
    for key, failure in failed_models(report).items():
        score = report.score(key)
        lost = sum(check.lost for check in score.checks) if score else 0
        lines.append(_hanging("  ", f"{key}: not trained, {lost:g} points lost", "red"))
        if not _said(failure.message, report):
            lines.append(_indented(prose(failure.message), 6))
        if failure.location:
            lines.append(_indented(f"at {failure.location}", 6))
        if failure.hint and not _said(failure.hint, report):
            lines.append(_indented(f"→ {prose(failure.hint)}", 6, "cyan"))
    explained: dict[tuple[str, int], list[str]] = {}  # (title, step): "12/15 in iris/single", ...
    for finding in findings(report):
        check, style = finding.check, "red" if finding.check.status == "fail" else "yellow"
        steps = {n for key in finding.models if (n := _step_explaining(report, key, check))}
        if len(steps) == 1:  # the step says what was measured and what to do
            explained.setdefault((check.title, steps.pop()), []).append(f"{finding.points} in {finding.where}")
            continue
        lines.append(_hanging("  ", finding.headline, style))
        lines.append(_indented(prose(check.message), 6))
        if check.hint and not _said(check.hint, report):
            lines.append(_indented(f"→ {prose(check.hint)}", 6, "cyan"))
    for (title, step), where in explained.items():
        lines.append(_hanging("  ", f"{title}: {', '.join(where)} (next step {step})", "yellow"))
    return [_line("What cost points", "bold"), *lines] if lines else []


def _said(text: str, report: Report) -> bool:
    """Whether a next step already says this (the scorer's steps quote the evidence and the advice)."""
    return any(text in step for step in report.next_steps)


def _step_explaining(report: Report, key: str, check: Check) -> int | None:
    """The number of the next step that says what this check measured, or the cause of its lost points
    with the evidence."""
    score = report.score(key)
    diagnosis = score.diagnosis if score else None
    if diagnosis is not None and diagnosis.advice and check.id in diagnosis.explains:
        return next((n for n, step in enumerate(report.next_steps, 1) if diagnosis.advice in step), None)
    return next((n for n, step in enumerate(report.next_steps, 1) if check.message in step), None)


def _submission_failure(report: Report) -> RenderableType:
    failure = report.measurements.failure
    assert failure is not None
    parts: list[RenderableType] = [_line(f"The submission could not be graded: {failure.message}", "bold red")]
    if failure.location:
        parts.append(_line(f"  at {failure.location}"))
    if failure.traceback:
        parts.append(_line(failure.traceback, "dim"))
    return Group(*parts)


def _line(text: str, style: str = "") -> Text:
    """Report text as a terminal shows it and nothing more: a ``Text`` is never read as markup, and
    ``terminal_text`` leaves no control character to act on."""
    return Text(terminal_text(text), style=style)


def _hanging(prefix: str, text: str, style: str = "") -> Table:
    """``prefix`` then ``text``, whose wrapped lines stay indented under its first word, not under the
    prefix: a numbered step, a warning, a model's heading."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(_line(prefix, style), _line(text, style))
    return grid


def _indented(text: str, indent: int, style: str = "") -> Padding:
    """Text indented by ``indent`` columns, its wrapped lines too."""
    return Padding(_line(text, style), (0, 0, 0, indent))


def _cell(text: str) -> Text:
    """A table cell: on one line, since a student's newline would break the row apart."""
    return Text(terminal_text(text, one_line=True))
