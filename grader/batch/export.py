"""Exports of a gradebook: a plain CSV, the CSVs Canvas and Moodle import, JSON, and per-student feedback pages.

Each export is a function of the gradebook's rows returning text (the caller writes the file), with the
students sorted by id, so that the same gradebook always gives the same bytes. CSV goes through the ``csv``
module: names and error messages hold commas, quotes and newlines. Every text cell, ids and e-mails included
(a student names their own folder, and a roster can hold anything), is cleaned of control characters and,
where a spreadsheet would run it as a formula (``=``, ``+``, ``-``, ``@``), prefixed with ``'``
(``spreadsheet_cell``); a real id or e-mail never starts so, and comes out as it is. Points stay numbers.

The rows are the class (``gradebook.with_roster``): every roster student, ``missing`` where nothing was
handed in, and entries that match no roster student marked ``on_roster`` False. An ungradable submission
scores 0 out of the full total everywhere, its reason beside it. A student with no score at all (missing,
timed out, a grader error) is "ungraded": what an LMS gets for them is the caller's choice (``ungraded``).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from grader.batch.gradebook import MISSING, Row
from grader.records import MODEL_KEYS, model_key
from grader.render import file_of
from grader.render.html import render_html, render_unreported_html
from grader.render.markdown import render_markdown, render_unreported_markdown
from grader.render.plots import learning_curves
from grader.render.text import clean, spreadsheet_cell
from grader.render.view import UnreportedView, log_excerpt, verdict
from grader.report import Report

JSON_SCHEMA_VERSION = 1
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # Canvas' own export spells it so; its importer skips the row
FEEDBACK_STEPS = 3  # next steps quoted in a one-line LMS feedback
# A feedback page per format (its file the registry's): the report's own, or the page saying why there is none.
FEEDBACK_PAGES = {
    "html": (render_html, render_unreported_html),
    "markdown": (render_markdown, render_unreported_markdown),
}
NOT_GRADED = {
    "ungradable": "Could not be graded",
    "timed_out": "Not graded, out of time",
    "error": "Not graded, grader error",
    MISSING: "Nothing handed in",
}
UNGRADED_CHOICES = {"blank": "", "0": "0", "EX": "EX"}  # what a student without a score gets: see module doc
NOT_ON_ROSTER = "not on the roster"
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")
SAFE_NAME_CHARS = 80
Cell: TypeAlias = str | float | None  # text, a number, or nothing


def export_csv(rows: Iterable[Row]) -> str:
    """The gradebook for a spreadsheet: one line per student, each model's points beside the total."""
    ordered = _sorted(rows)
    reports = [row.report() for row in ordered]
    keys = model_keys(reports)
    header = ["student_id", "name", "email", "status", "points", "max_points", "passed", *keys]
    lines: list[list[Cell]] = [[*header, "error", "graded_at", "content_hash", "late", "on_roster", "entry"]]
    full = full_points(ordered)
    for row, report in zip(ordered, reports, strict=True):
        by_model = {score.key: score.points for score in report.scores} if report else {}
        points, max_points = points_of(row, full)
        lines.append(
            [
                row.student.id,
                row.student.name,
                row.student.email,
                row.status,
                points,
                max_points,
                "" if row.passed is None else "yes" if row.passed else "no",
                *(by_model.get(key) for key in keys),
                row.error,
                row.graded_at,
                row.content_hash,
                "yes" if row.late else "",
                "" if row.on_roster is None else "yes" if row.on_roster else "no",
                row.entry,
            ]
        )
    return _csv(lines)


def full_points(rows: Sequence[Row]) -> float | None:
    """The total a graded submission is out of, as most of the class's stored results say."""
    totals = Counter(row.max_points for row in rows if row.max_points)
    return totals.most_common(1)[0][0] if totals else None


def points_of(row: Row, full: float | None) -> tuple[float | None, float | None]:
    """A row's points and maximum: an ungradable entry stored without a report (never read, or stopped
    before a report) is 0 out of the class's full total, like one with a report."""
    if row.status == "ungradable" and row.points is None:
        return 0.0, row.max_points or full
    return row.points, row.max_points


def not_on_roster(rows: Iterable[Row]) -> list[Row]:
    """The entries that matched no roster student (none where the gradebook has no roster)."""
    return [row for row in rows if row.on_roster is False]


def export_canvas(rows: Iterable[Row], assignment: str, points_possible: float, *, ungraded: str = "") -> str:
    """A CSV for Canvas' Grades > Import: its identity columns, then one column named ``assignment`` (give it
    as Canvas' export names it, ``"Name (id)"``, to fill an existing assignment; a new name creates one), and
    Canvas' "Points Possible" line. Points are scaled from the rubric's maximum to ``points_possible``; an
    ungradable submission scores 0. A student without a score (missing, timed out, grader error) gets
    ``ungraded``: empty (no score, rather than a zero) unless told "0", or "EX" to excuse. Canvas' own user
    id is unknown here, so students are matched by SIS User ID (the student id) and SIS Login ID (the
    e-mail, where the roster has one); a line Canvas cannot match is listed by its importer and skipped."""
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


def export_moodle(rows: Iterable[Row], points_possible: float = 100.0, *, ungraded: str = "") -> str:
    """A CSV for Moodle's Grades > Import > CSV file: an identifier, a grade and a one-line feedback column.

    Students are identified by e-mail when every student exported has one (map the column to "Email
    address"), else by student id (map it to "ID number"). Grades are scaled to ``points_possible``, the
    grade item's maximum (Moodle refuses a grade above it). Only roster students are exported: Moodle's
    importer stops the whole import at one user it cannot find (``not_on_roster`` says who was left out).
    An ungradable submission gets 0; a student without a score gets ``ungraded`` (empty: Moodle leaves the
    grade as it is; "0") and feedback that says why. Moodle shows imported feedback as HTML, so ``&``,
    ``<`` and ``>`` are escaped: a message quoting the student's code shows as written."""
    if points_possible <= 0:
        raise ValueError(f"points possible must be above 0, not {points_possible:g}")
    if ungraded not in ("", "0"):
        raise ValueError(f"Moodle has no grade {ungraded!r} for a student without a score: leave it empty, or 0")
    ordered = [row for row in _sorted(rows) if row.on_roster is not False]
    by_email = bool(ordered) and all(row.student.email for row in ordered)
    lines: list[list[Cell]] = [["email" if by_email else "idnumber", "grade", "feedback"]]
    for row in ordered:
        report = row.report()
        score = _scaled(row, points_possible)
        feedback = html.escape(_feedback_line(row, report), quote=False)
        lines.append(
            [row.student.email if by_email else row.student.id, ungraded if score is None else score, feedback]
        )
    return _csv(lines)


def export_json(rows: Iterable[Row], *, reports: bool = False, regrades: Sequence[dict[str, Any]] = ()) -> str:
    """Every row as an object, each model's points and test accuracy with it, its settings an object (not
    JSON in a string), and each student's regrades (before and after); ``reports=True`` adds each whole
    report (large: every epoch of every model) as an object."""
    by_student: dict[str, list[dict[str, Any]]] = {}
    for change in regrades:
        by_student.setdefault(str(change["student_id"]), []).append(_json_regrade(change))
    students = [_json_row(row, reports, by_student.get(row.student.id, [])) for row in _sorted(rows)]
    return json.dumps({"schema_version": JSON_SCHEMA_VERSION, "students": students}, indent=2, sort_keys=True) + "\n"


def write_feedback(rows: Iterable[Row], out_dir: Path, formats: Sequence[str] = tuple(FEEDBACK_PAGES)) -> list[Path]:
    """Each student's feedback pages, ``out_dir/<safe_name(id)>/report.html`` and ``report.md``: the stored
    report's, or for a student without one (timed out, grader error) a short page saying what happened. The
    folder is the id made safe (``safe_name``): an id never reaches outside ``out_dir``."""
    unknown = sorted(set(formats) - set(FEEDBACK_PAGES))
    if unknown:
        raise ValueError(f"unknown feedback format {', '.join(unknown)}: choose from {', '.join(FEEDBACK_PAGES)}")
    written = []
    for row in _sorted(rows):
        folder = out_dir / safe_name(row.student.id)
        folder.mkdir(parents=True, exist_ok=True)
        report = row.report()
        images = learning_curves(report) if report is not None else {}  # drawn once for both pages
        for name in dict.fromkeys(formats):
            path = folder / file_of(name)
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
    """Points out of ``points_possible``: 0 for an ungradable submission, None for a student without a score."""
    if row.status == "ungradable":
        return 0.0 if not row.points or not row.max_points else row.points / row.max_points * points_possible
    if row.status != "graded" or row.points is None or not row.max_points:
        return None
    return row.points / row.max_points * points_possible


def _feedback_line(row: Row, report: Report | None) -> str:
    """What a student reads beside their grade in the LMS: the verdict, then what to do first."""
    if row.status == "graded" and report is not None:
        head = verdict(report) + "."
    elif row.status == "ungradable":
        out_of = f" / {row.max_points:g}" if row.max_points else ""
        head = f"{row.points or 0:g}{out_of} points: could not be graded: {row.error.rstrip() or 'no reason recorded'}"
        head += "" if head.endswith((".", "!", "?")) else "."
    else:
        head = NOT_GRADED.get(row.status, row.status) + (f": {row.error.rstrip()}" if row.error.strip() else "")
        head += "" if head.endswith((".", "!", "?")) else "."
    steps = report.next_steps[:FEEDBACK_STEPS] if report else []
    if steps:
        head += " Next steps: " + " ".join(f"({n}) {step}" for n, step in enumerate(steps, 1))
    if report is not None and report.warnings:  # a typo in HYPERPARAMS explains much: never dropped
        head += " Warnings: " + "; ".join(report.warnings)
    return " ".join(head.splitlines())


def _json_row(row: Row, with_report: bool, regrades: list[dict[str, Any]]) -> dict[str, Any]:
    fields = {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}
    data = {**fields, "student": dataclasses.asdict(row.student), "regrades": regrades}
    del data["report_json"]
    data["settings"] = _json_object(row.settings)
    report = row.report()
    data["models"] = {score.key: _json_model(report, score.key) for score in report.scores} if report else {}
    if with_report:
        data["report"] = json.loads(row.report_json) if row.report_json else None
    return data


def _json_object(text: str) -> Any:
    """A JSON string stored in a column, as the object it holds (the text itself if it holds none)."""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return text


def _json_regrade(change: dict[str, Any]) -> dict[str, Any]:
    passed = {key: None if change[key] is None else bool(change[key]) for key in ("passed_before", "passed_after")}
    return {key: value for key, value in change.items() if key != "student_id"} | passed


def _json_model(report: Report, key: str) -> dict[str, float | None]:
    score, model = report.score(key), report.measurements.model(key)
    accuracy = model.accuracy if model else None
    return {
        "points": score.points if score else None,
        "max_points": score.max_points if score else None,
        "test_accuracy": accuracy.test if accuracy else None,
    }


def _feedback_page(row: Row, report: Report | None, name: str, images: dict[str, bytes]) -> str:
    page, unreported = FEEDBACK_PAGES[name]
    return page(report, images=images) if report is not None else unreported(_unreported(row))


def _unreported(row: Row) -> UnreportedView:
    """What the page of a student whose grading left no report says."""
    facts = [
        ("What happened", row.error or "no reason was recorded"),
        ("Graded", f"{row.graded_at}, after {row.seconds:.0f} s, by nn-grader {row.grader_version}"),
        ("Rubric", f"{row.rubric_name} {row.rubric_digest}".strip()),
    ]
    lines = [clean(line) for line in log_excerpt(row.log)]
    return UnreportedView(f"Feedback for {row.student.id}", NOT_GRADED.get(row.status, row.status), facts, lines)


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
