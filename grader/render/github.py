"""GitHub Actions: workflow-command annotations in the log, and a Markdown job summary.

Annotations (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):

- ``::error`` for what stopped grading (the submission, or a model that did not train), pointing at the
  student's file and line where the failure has one;
- ``::warning`` for each check that lost points, on the student's file, once for all the models it was
  found in with the same words, and one for each of the report's warnings;
- ``::notice`` with the total, and one with the diagnosis of each model that is not fine.

GitHub shows at most 10 annotations of each level per step, so each level is cut to ``MAX_PER_LEVEL``,
the last one saying how many more there are. A notebook gets its file but no line: a line of an
``.ipynb`` is a line of its JSON, so the cell and line are in the message instead.

Student text reaches an annotation only through ``workflow_data`` and ``workflow_property``: each annotation
is one line, which no message or file name can end early or add a command to. The terminal report, which
``grade`` prints after them on the same standard output, quotes what the submission printed, so under GitHub
Actions it is printed with workflow commands stopped (``render_terminal``).

The job summary is the short form of the feedback page: the verdict, what to do next, the warnings, the
model table, each model's diagnosis and what lost points. Plots stay in the HTML report, which the workflow
uploads as an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.records import Failure, SourceLocation
from grader.render.markdown import md_list, md_table
from grader.render.parts import diagnoses, failed_models, failure_text, findings, student_file
from grader.render.text import md_text, prose, workflow_data, workflow_property
from grader.render.view import report_view, verdict
from grader.report import Report

MAX_PER_LEVEL = 10  # GitHub's limit per step for each of error, warning, notice
MAX_MESSAGE = 4000  # characters; GitHub truncates long annotations anyway
TITLE = "nn-grader"


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    title: str = TITLE
    file: str | None = None
    line: int | None = None

    def command(self) -> str:
        properties = []
        if self.file:
            properties.append(f"file={workflow_property(self.file)}")
            if self.line:
                properties.append(f"line={self.line}")
        properties.append(f"title={workflow_property(self.title)}")
        message = prose(self.message)
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
        return f"::{self.level} {','.join(properties)}::{workflow_data(message)}"


def annotations_for(report: Report) -> list[Annotation]:
    """Every annotation the report calls for, at most ``MAX_PER_LEVEL`` per level."""
    found: list[Annotation] = []
    failure = report.measurements.failure
    if failure is not None:
        found.append(_failure_annotation(report, "submission", failure))
    for key, model_failure in failed_models(report).items():
        found.append(_failure_annotation(report, key, model_failure))
    main_file = _main_file(report)
    for finding in findings(report):
        check = finding.check
        message = f"{finding.points} points. {check.message}" + (f"\n→ {check.hint}" if check.hint else "")
        found.append(Annotation("warning", message, f"{TITLE}: {finding.where} · {check.title}", main_file))
    found += [Annotation("warning", warning, f"{TITLE}: warning", main_file) for warning in report.warnings]
    found.append(Annotation("notice", verdict(report) + _next_step(report), f"{TITLE}: grade"))
    for view in diagnoses(report):
        if not view.fine:
            found.append(Annotation("notice", view.text(), f"{TITLE}: {view.model} {view.state or 'what-ifs'}"))
    return _capped(found)


def render_annotations(report: Report) -> str:
    return "".join(annotation.command() + "\n" for annotation in annotations_for(report))


def job_summary(report: Report) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: what a student reads on the pull request's checks page."""
    content = report_view(report)
    parts = [f"## {md_text(content.verdict)}", md_text(content.about)]
    parts += [f"> {md_text(line)}" for line in content.quick]
    if content.freeform:  # how the notebook was read comes first: it explains everything below
        parts.append(md_text(content.freeform.intro))
        parts += [md_list(content.freeform.problems)] if content.freeform.problems else []
    if content.submission_failure:
        failure = content.submission_failure
        parts.append(f"**{md_text(failure.headline)}:** {md_text(failure.message)}")
        if failure.location:
            parts.append(f"At {md_text(failure.location)}")
    if content.next_steps:
        parts += ["### Next steps", "\n".join(f"{n}. {md_text(s)}" for n, s in enumerate(content.next_steps, 1))]
    if content.warnings:
        parts += ["### Warnings", md_list(content.warnings)]
    if content.summary:
        rows = [[md_text(cell) for cell in row] for row in content.summary.rows]
        parts += ["### Models", md_table(content.summary.header, rows)]
    shown = [view for view in content.diagnoses if not view.fine or view.what_ifs]
    if shown:
        rows = [[view.model, view.headline, "; ".join(view.lines())] for view in shown]
        rows = [[md_text(cell) for cell in row] for row in rows]
        parts += ["### Diagnosis", md_table(["Model", "State", "Evidence and what a fix measured"], rows)]
    not_trained = [[key, "Trained", "0", f.message, f.hint] for key, f in failed_models(report).items()]
    lost = [[f.where, f.check.title, f.points, f.check.message, f.check.hint] for f in findings(report)]
    table = not_trained + lost
    if table:
        table = [[md_text(cell) for cell in row] for row in table]
        parts += ["### Checks that lost points", md_table(["Model", "Check", "Points", "Measured", "To do"], table)]
    parts.append("The full report, with learning curves, is in this run's artifacts (report.html).")
    return "\n\n".join(parts) + "\n\n"


def _failure_annotation(report: Report, key: str, failure: Failure) -> Annotation:
    location = failure.location
    file = student_file(report, location) if location else _main_file(report)
    line = location.line if location and location.cell is None else None
    return Annotation("error", failure_text(failure), f"{TITLE}: {key} not graded", file, line)


def _main_file(report: Report) -> str:
    """The submission's notebook or module: where the warnings of checks are shown."""
    return student_file(report, SourceLocation(report.measurements.submission.entry))


def _next_step(report: Report) -> str:
    return f"\nNext: {report.next_steps[0]}" if report.next_steps else ""


def _capped(found: list[Annotation]) -> list[Annotation]:
    kept: list[Annotation] = []
    for level in ("error", "warning", "notice"):
        of_level = [a for a in found if a.level == level]
        if len(of_level) > MAX_PER_LEVEL:
            more = len(of_level) - MAX_PER_LEVEL + 1
            last = Annotation(level, f"… and {more} more: see the job summary or the report", f"{TITLE}: more")
            of_level = [*of_level[: MAX_PER_LEVEL - 1], last]
        kept += of_level
    return kept
