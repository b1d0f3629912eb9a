"""The report for a person at a terminal: one table of the models, what cost points, what to do next.

Plain enough to read without colour and within 80 columns. Every line is a ``Text`` made by ``_line`` (or
a table cell by ``_cell``): a student's message, code or printed output is shown, never acted on, neither
as Rich markup nor as control characters (see ``terminal_text``).
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from grader.measure import Measurements
from grader.records import ModelMeasurement
from grader.render.markdown import freeform_view
from grader.render.text import percent, terminal_text, workflow_commands_stopped
from grader.report import ModelScore, Report

LOG_LINES_SHOWN = 15
_EMPTY = ModelMeasurement("", "")


def render_text(report: Report) -> str:
    """The same summary as plain text, 100 columns wide, for a file."""
    console = Console(file=io.StringIO(), width=100, no_color=True, highlight=False, force_terminal=False)
    _print_report(report, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def render_terminal(report: Report, console: Console) -> None:
    """The report on a console; under GitHub Actions with workflow commands stopped, since the runner reads
    this output too and it quotes what the submission printed."""
    with workflow_commands_stopped(lambda line: console.print(Text(line), soft_wrap=True)):
        _print_report(report, console)


def _print_report(report: Report, console: Console) -> None:
    console.print(_heading(report))
    for line in _freeform_lines(report.measurements):
        console.print(line)
    if report.measurements.failure is not None:
        console.print(_submission_failure(report))
    else:
        console.print(_models_table(report))
        for line in [*_training(report), *_deductions(report)]:
            console.print(line)
    console.print(_total(report))
    if report.next_steps:
        console.print(_line("Next steps", "bold"))
        for number, step in enumerate(report.next_steps, 1):
            console.print(_line(f"  {number}. {step}"))
    for warning in [*report.warnings, *_run_warnings(report)]:
        console.print(_line(f"warning: {warning}", "yellow"))
    if _needs_log(report):
        console.print(_log_tail(report))


def _heading(report: Report) -> RenderableType:
    m = report.measurements
    mode = "QUICK mode (a subset of the data)" if m.settings.mode == "quick" else "full mode"
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
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    for header, justify in COLUMNS:
        wide = 20 if header == "Regularization" else None
        table.add_column(header, justify=justify, no_wrap=True, max_width=wide, overflow="ellipsis")
    for score in report.scores:
        model = report.measurements.model(score.key) or ModelMeasurement(*score.key.split("/"))
        table.add_row(*(_cell(text) for text in _model_row(model, score)))
    return table


COLUMNS = (
    ("Model", "left"),
    ("Test", "right"),
    ("Reference", "right"),
    ("Gap", "right"),
    ("Regularization", "left"),
    ("Points", "right"),
)


def _model_row(model: ModelMeasurement, score: ModelScore) -> list[str]:
    reference = "-"
    if score.reference:
        reference = f"{percent(score.reference.test_accuracy)} ±{100 * score.reference.test_spread:.1f}"
    points = f"{score.points:g}/{score.max_points:g}" if score.max_points else "unscored"
    regularization = ", ".join(_short(found) for found in score.regularization) or "-"
    if model.accuracy is None:
        return [model.key, "failed", reference, "-", regularization, points]
    gap = f"{100 * model.accuracy.gap:.1f}"
    return [model.key, percent(model.accuracy.test), reference, gap, regularization, points]


def _short(found: str) -> str:
    """A regularization in a few letters: "Dropout(0.2)" stays, "early stopping on val_loss" is "early stop"."""
    if found.startswith("early stopping"):
        return "early stop"
    return found.replace("weight decay ", "wd ").replace("kernel ", "")


def _training(report: Report) -> list[RenderableType]:
    """How each model trained, and for a multi-layer one what its regularization did (the ablation)."""
    stops = {"early_stopping": ", stopped early", "time_budget": ", stopped at the time budget"}
    lines: list[RenderableType] = []
    for score in report.scores:
        model = report.measurements.model(score.key) or _EMPTY
        if model.run is None or model.failure is not None:
            continue
        run = model.run
        lines.append(
            _line(f"{score.key}: {run.epochs_run} epochs{stops.get(run.stop_reason, '')} in {run.seconds:.1f} s")
        )
        ablation = score.ablation
        if ablation is not None and ablation.ablated is not None:
            with_, without = ablation.regularized, ablation.ablated
            lines.append(
                _line(
                    f"    without its regularization: gap {100 * without.gap:.1f} (with: {100 * with_.gap:.1f}), "
                    f"validation {100 * without.val:.1f}% (with: {100 * with_.val:.1f}%)"
                )
            )
        if score.overfitting_onset is not None:
            lines.append(_line(f"    validation loss rising from epoch {score.overfitting_onset} on", "yellow"))
    return lines


def _deductions(report: Report) -> list[RenderableType]:
    """What cost points, check by check; a model that did not train is one entry, not one per check."""
    lines: list[RenderableType] = []
    for score in report.scores:
        model = report.measurements.model(score.key)
        if model is not None and model.failure is not None:
            lost = sum(check.lost for check in score.checks)
            where = f" ({model.failure.location})" if model.failure.location else ""
            lines.append(_line(f"{score.key}: not trained, {lost:g} points lost", "red"))
            lines.append(_line(f"    {model.failure.message}{where}"))
            if model.failure.hint:
                lines.append(_line(f"    → {model.failure.hint}", "cyan"))
            continue
        for check in score.checks:
            if check.lost <= 0:
                continue
            style = "red" if check.status == "fail" else "yellow"
            lines.append(_line(f"{score.key} · {check.title}: {check.points:g}/{check.max_points:g}", style))
            lines.append(_line(f"    {check.message}"))
            if check.hint:
                lines.append(_line(f"    → {check.hint}", "cyan"))
    return [_line("What cost points", "bold"), *lines] if lines else []


def _total(report: Report) -> RenderableType:
    if report.status != "graded":
        return _line("Not graded: the submission could not be run (exit code 3)", "bold red")
    if report.max_points == 0:
        return _line("Not scored: there is no reference baseline for these models (see the warnings)", "bold red")
    verdict, style = ("PASS", "bold green") if report.passed else ("BELOW THE PASS MARK", "bold red")
    return _line(
        f"Total {report.points:g} / {report.max_points:g} · {verdict} (pass mark {report.pass_mark:g})", style=style
    )


def _submission_failure(report: Report) -> RenderableType:
    failure = report.measurements.failure
    assert failure is not None
    parts: list[RenderableType] = [_line(f"The submission could not be graded: {failure.message}", "bold red")]
    if failure.location:
        parts.append(_line(f"  at {failure.location}"))
    if failure.traceback:
        parts.append(_line(failure.traceback, "dim"))
    return Group(*parts)


def _run_warnings(report: Report) -> list[str]:
    warnings = [f"{m.key}: {w}" for m in report.measurements.models if m.run for w in m.run.warnings]
    missing = [f for f in ("network", "processes", "files") if f not in report.measurements.environment.isolated]
    if missing:
        warnings.append(
            f"isolation is partial on this machine: the submission's code was not walled off from "
            f"{', '.join(missing)} (see the README's security model)"
        )
    return warnings


def _needs_log(report: Report) -> bool:
    failed = report.measurements.failure is not None or any(m.failure for m in report.measurements.models)
    return failed and bool(report.measurements.log.text.strip())


def _log_tail(report: Report) -> RenderableType:
    lines = report.measurements.log.text.rstrip().splitlines()[-LOG_LINES_SHOWN:]
    return Group(_line(f"Last {len(lines)} lines the submission printed:", "bold"), _line("\n".join(lines), "dim"))


def _line(text: str, style: str = "") -> Text:
    """Report text as a terminal shows it and nothing more: a ``Text`` is never read as markup, and
    ``terminal_text`` leaves no control character to act on."""
    return Text(terminal_text(text), style=style)


def _cell(text: str) -> Text:
    """A table cell: on one line, since a student's newline would break the row apart."""
    return Text(terminal_text(text, one_line=True))
