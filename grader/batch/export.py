"""Exports of a gradebook: a plain CSV, the CSVs Canvas and Moodle import, JSON, and per-student feedback pages.

Each export is a function of the gradebook's rows returning text (the caller writes the file), with the
students sorted by id, so that the same gradebook always gives the same bytes. CSV goes through the ``csv``
module: names and error messages hold commas, quotes and newlines. Every text cell, ids and e-mails included
(a student names their own folder, and a roster can hold anything), is cleaned of control characters and,
where a spreadsheet would run it as a formula (``=``, ``+``, ``-``, ``@``), prefixed with ``'``
(``spreadsheet_cell``); a real id or e-mail never starts so, and comes out as it is. Points stay numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from grader.batch.gradebook import Row
from grader.records import MODEL_KEYS, model_key
from grader.render.html import STYLE, render_html
from grader.render.markdown import render_markdown
from grader.render.plots import learning_curves
from grader.render.text import clean, html_text, md_text, spreadsheet_cell
from grader.report import Report

JSON_SCHEMA_VERSION = 1
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # Canvas' own export spells it so; its importer skips the row
FEEDBACK_STEPS = 3  # next steps quoted in a one-line LMS feedback
LOG_LINES_SHOWN = 15
FEEDBACK_FILES = {"html": "report.html", "md": "report.md"}
NOT_GRADED = {"ungradable": "Not graded", "timed_out": "Not graded, out of time", "error": "Not graded, grader error"}
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")
SAFE_NAME_CHARS = 80
Cell: TypeAlias = str | float | None  # text, a number, or nothing


def export_csv(rows: Iterable[Row]) -> str:
    """The gradebook for a spreadsheet: one line per student, each model's points beside the total."""
    ordered = _sorted(rows)
    reports = [row.report() for row in ordered]
    keys = model_keys(reports)
    header = ["student_id", "name", "email", "status", "points", "max_points", "passed", *keys]
    lines: list[list[Cell]] = [[*header, "error", "graded_at", "content_hash"]]
    for row, report in zip(ordered, reports, strict=True):
        by_model = {score.key: score.points for score in report.scores} if report else {}
        lines.append(
            [
                row.student.id,
                row.student.name,
                row.student.email,
                row.status,
                row.points,
                row.max_points,
                "" if row.passed is None else "yes" if row.passed else "no",
                *(by_model.get(key) for key in keys),
                row.error,
                row.graded_at,
                row.content_hash,
            ]
        )
    return _csv(lines)


def export_canvas(rows: Iterable[Row], assignment: str, points_possible: float, *, ungraded: str = "") -> str:
    """A CSV for Canvas' Grades > Import: its identity columns, then one column named ``assignment`` (give it
    as Canvas' export names it, ``"Name (id)"``, to fill an existing assignment; a new name creates one), and
    Canvas' "Points Possible" line. Points are scaled from the rubric's maximum to ``points_possible``. A
    student without a graded result gets ``ungraded``: empty (no score, rather than a zero) unless told "0",
    or "EX" to excuse. Canvas' own user id is unknown here, so students are matched by SIS User ID (the
    student id) and SIS Login ID (the e-mail, where the roster has one)."""
    if points_possible <= 0:
        raise ValueError(f"points possible must be above 0, not {points_possible:g}")
    lines: list[list[Cell]] = [
        [*CANVAS_IDENTITY, assignment],
        [CANVAS_POINTS_POSSIBLE, "", "", "", "", points_possible],
    ]
    for row in _sorted(rows):
        score = _scaled(row, points_possible)
        name = row.student.name or row.student.id
        lines.append([name, "", row.student.id, row.student.email, "", ungraded if score is None else score])
    return _csv(lines)


def export_moodle(rows: Iterable[Row]) -> str:
    """A CSV for Moodle's Grades > Import > CSV file: an identifier, a grade and a one-line feedback column.

    Students are identified by e-mail when the roster gives every student one (map the column to "Email
    address"), else by student id (map it to "ID number"). Grades are in the rubric's points: set the grade
    item's maximum to the rubric's. A student without a graded result gets an empty grade, which Moodle reads
    as "no grade", and feedback that says why. Moodle shows imported feedback as HTML, so ``&``, ``<`` and
    ``>`` are escaped: a message quoting the student's code shows as written."""
    ordered = _sorted(rows)
    by_email = bool(ordered) and all(row.student.email for row in ordered)
    lines: list[list[Cell]] = [["email" if by_email else "idnumber", "grade", "feedback"]]
    for row in ordered:
        report = row.report()
        grade = row.points if row.status == "graded" else None
        feedback = html.escape(_feedback_line(row, report), quote=False)
        lines.append([row.student.email if by_email else row.student.id, grade, feedback])
    return _csv(lines)


def export_json(rows: Iterable[Row], *, reports: bool = False) -> str:
    """Every row as an object, each model's points and test accuracy with it; ``reports=True`` adds each
    whole report (large: every epoch of every model) as an object."""
    students = [_json_row(row, reports) for row in _sorted(rows)]
    return json.dumps({"schema_version": JSON_SCHEMA_VERSION, "students": students}, indent=2, sort_keys=True) + "\n"


def write_feedback(rows: Iterable[Row], out_dir: Path, formats: Sequence[str] = ("html", "md")) -> list[Path]:
    """Each student's feedback pages, ``out_dir/<safe_name(id)>/report.html`` and ``report.md``: the stored
    report's, or for a student without one (timed out, grader error) a short page saying what happened. The
    folder is the id made safe (``safe_name``): an id never reaches outside ``out_dir``."""
    unknown = sorted(set(formats) - set(FEEDBACK_FILES))
    if unknown:
        raise ValueError(f"unknown feedback format {', '.join(unknown)}: choose from {', '.join(FEEDBACK_FILES)}")
    written = []
    for row in _sorted(rows):
        folder = out_dir / safe_name(row.student.id)
        folder.mkdir(parents=True, exist_ok=True)
        report = row.report()
        images = learning_curves(report) if report is not None else {}  # drawn once for both pages
        for name in dict.fromkeys(formats):
            path = folder / FEEDBACK_FILES[name]
            path.write_text(_feedback_page(row, report, name, images), encoding="utf-8")
            written.append(path)
    return written


def safe_name(student_id: str) -> str:
    """A student id as one plain folder name: a student id is often an uploaded file's name, so it could
    hold ``/``, ``..`` or anything else. Letters, digits and ``_.@+-`` are kept (an id made of just those,
    not starting with a dot, is its own name); other characters become ``_`` and a leading dot ``_``, and an
    id so changed, or too long, gets a hash of itself appended, so two ids never share a folder (ids that
    differ only in case excepted, on a file system that ignores case)."""
    name = _UNSAFE_IN_NAME.sub("_", student_id)[:SAFE_NAME_CHARS]
    name = re.sub(r"^\.", "_", name)
    if name == student_id and name:
        return name
    return f"{name}-{hashlib.sha256(student_id.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def model_keys(reports: Sequence[Report | None]) -> list[str]:
    """Every model key a report scored, the assignment's four in their usual order first."""
    seen = {score.key for report in reports if report for score in report.scores}
    usual = [model_key(*key) for key in MODEL_KEYS]
    return [key for key in usual if key in seen] + sorted(seen - set(usual))


def _sorted(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: row.student.id)


def _scaled(row: Row, points_possible: float) -> float | None:
    if row.status != "graded" or row.points is None or not row.max_points:
        return None
    return row.points / row.max_points * points_possible


def _feedback_line(row: Row, report: Report | None) -> str:
    """What a student reads beside their grade in the LMS: the verdict, then what to do first."""
    if row.status == "graded" and report is not None:
        verdict = "passed" if report.passed else "below the pass mark"
        head = f"{report.points:g} / {report.max_points:g} points, {verdict} (pass mark {report.pass_mark:g})."
    else:
        head = NOT_GRADED.get(row.status, row.status) + (f": {row.error.rstrip()}" if row.error.strip() else "")
        head += "" if head.endswith((".", "!", "?")) else "."
    steps = report.next_steps[:FEEDBACK_STEPS] if report else []
    if steps:
        head += " Next steps: " + " ".join(f"({n}) {step}" for n, step in enumerate(steps, 1))
    if report is not None and report.warnings:  # a typo in HYPERPARAMS explains much: never dropped
        head += " Warnings: " + "; ".join(report.warnings)
    return " ".join(head.splitlines())


def _json_row(row: Row, with_report: bool) -> dict[str, Any]:
    fields = {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}
    data = {**fields, "student": dataclasses.asdict(row.student)}
    del data["report_json"]
    report = row.report()
    data["models"] = {score.key: _json_model(report, score.key) for score in report.scores} if report else {}
    if with_report:
        data["report"] = json.loads(row.report_json) if row.report_json else None
    return data


def _json_model(report: Report, key: str) -> dict[str, float | None]:
    score, model = report.score(key), report.measurements.model(key)
    accuracy = model.accuracy if model else None
    return {
        "points": score.points if score else None,
        "max_points": score.max_points if score else None,
        "test_accuracy": accuracy.test if accuracy else None,
    }


def _feedback_page(row: Row, report: Report | None, name: str, images: dict[str, bytes]) -> str:
    if report is not None:
        return render_html(report, images=images) if name == "html" else render_markdown(report, images=images)
    return _unreported_html(row) if name == "html" else _unreported_markdown(row)


def _unreported_facts(row: Row) -> list[tuple[str, str]]:
    return [
        ("What happened", row.error or "no reason was recorded"),
        ("Graded", f"{row.graded_at}, after {row.seconds:.0f} s, by nn-grader {row.grader_version}"),
        ("Rubric", f"{row.rubric_name} {row.rubric_digest}".strip()),
    ]


def _log_tail(row: Row) -> list[str]:
    return [clean(line) for line in row.log.rstrip().splitlines()[-LOG_LINES_SHOWN:]]


def _unreported_html(row: Row) -> str:
    """The page for a student whose grading left no report, laid out like the report pages."""
    verdict = NOT_GRADED.get(row.status, row.status)
    facts = "".join(
        f"<dt>{html_text(label)}</dt><dd>{html_text(value)}</dd>" for label, value in _unreported_facts(row)
    )
    log = _log_tail(row)
    body = [
        f"<h1>Feedback for {html_text(row.student.id)}</h1>",
        f'<p class="verdict ungraded">{html_text(verdict)}</p>',
        f'<dl class="facts">{facts}</dl>',
        "<h2>Last lines of the grader's log</h2>",
        f"<pre>{html_text(chr(10).join(log))}</pre>" if log else "<p>Nothing was logged.</p>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_text(verdict)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _unreported_markdown(row: Row) -> str:
    facts = "\n".join(f"- **{md_text(label)}:** {md_text(value)}" for label, value in _unreported_facts(row))
    log = _log_tail(row)
    # An indented code block: no fence for a log line to close.
    code = "\n".join("    " + line for line in log) if log else "Nothing was logged."
    parts = [
        f"# Feedback for {md_text(row.student.id)}",
        f"**{md_text(NOT_GRADED.get(row.status, row.status))}**",
        facts,
        "## Last lines of the grader's log",
        code,
    ]
    return "\n\n".join(parts) + "\n"


def _cell(value: Cell) -> str:
    """Text neutralised, a number rounded to hundredths and left a number, nothing empty."""
    if isinstance(value, str):
        return spreadsheet_cell(value)
    return "" if value is None else f"{round(value, 2):g}"


def _csv(lines: list[list[Cell]]) -> str:
    """The one way out for every CSV export: no cell skips the neutralising."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[_cell(value) for value in line] for line in lines])
    return buffer.getvalue()
