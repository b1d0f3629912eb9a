"""GitHub Actions: workflow-command annotations in the log, and a Markdown job summary.

Annotations (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):

- ``::error`` for what stopped grading (the submission, or a model that did not train), pointing at the
  student's file and line where the failure has one;
- ``::warning`` for each check that lost points, on the student's file;
- ``::notice`` with the total.

GitHub shows at most 10 annotations of each level per step, so each level is cut to ``MAX_PER_LEVEL``,
the last one saying how many more there are. A notebook gets its file but no line: a line of an
``.ipynb`` is a line of its JSON, so the cell and line are in the message instead.

Student text reaches an annotation only through ``workflow_data`` and ``workflow_property``: each annotation
is one line, which no message or file name can end early or add a command to. The terminal report, which
``grade`` prints after them on the same standard output, quotes what the submission printed, so under GitHub
Actions it is printed with workflow commands stopped (``render_terminal``).

The job summary is the short form of the feedback page: the verdict, the model table, what to do next
and what lost points. Plots stay in the HTML report, which the workflow uploads as an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.records import Failure, SourceLocation
from grader.render.checks import CheckRow, check_rows, failed_models, failure_text, student_file, verdict
from grader.render.markdown import md_list, md_table, page
from grader.render.text import md_text, workflow_data, workflow_property
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
        message = self.message if len(self.message) <= MAX_MESSAGE else self.message[: MAX_MESSAGE - 1] + "…"
        return f"::{self.level} {','.join(properties)}::{workflow_data(message)}"


def annotations(report: Report) -> list[Annotation]:
    """Every annotation the report calls for, at most ``MAX_PER_LEVEL`` per level."""
    found: list[Annotation] = []
    failure = report.measurements.failure
    if failure is not None:
        found.append(_failure_annotation(report, "submission", failure))
    for key, model_failure in failed_models(report).items():
        found.append(_failure_annotation(report, key, model_failure))
    main_file = _main_file(report)
    for row in _lost_points(report):
        message = f"{row.points} points. {row.feedback}"
        found.append(Annotation("warning", message, f"{TITLE}: {row.name}", main_file))
    found.append(Annotation("notice", verdict(report) + _next_step(report), f"{TITLE}: grade"))
    return _capped(found)


def render_annotations(report: Report) -> str:
    return "".join(annotation.command() + "\n" for annotation in annotations(report))


def job_summary(report: Report) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: what a student reads on the pull request's checks page."""
    content = page(report)
    parts = [f"## {md_text(verdict(report))}", md_text(content.about)]
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
    if content.summary:
        rows = [[md_text(cell) for cell in row] for row in content.summary.rows]
        parts += ["### Models", md_table(content.summary.header, rows)]
    not_trained = [[key, "Trained", "0", f.message, f.hint] for key, f in failed_models(report).items()]
    lost = [[r.model, r.check.title, r.points, r.check.message, r.check.hint] for r in _lost_points(report)]
    table = not_trained + lost
    if table:
        table = [[md_text(cell) for cell in row] for row in table]
        parts += ["### Checks that lost points", md_table(["Model", "Check", "Points", "Measured", "To do"], table)]
    parts.append("The full report, with learning curves, is in this run's artifacts (report.html).")
    return "\n\n".join(parts) + "\n\n"


def _lost_points(report: Report) -> list[CheckRow]:
    """The checks that lost points to something other than a failure, which is reported once on its own."""
    if report.measurements.failure is not None:
        return []
    failed = failed_models(report)
    return [row for row in check_rows(report) if row.lost_points and row.model not in failed]


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
