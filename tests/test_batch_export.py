"""Exports of a gradebook (plain, Canvas and Moodle CSVs, JSON, feedback pages) and the class summary, from a
gradebook of stored reports: graded, ungradable, timed out, a grader error, a copied pair and a hostile id.

Nothing trains: the reports come from ``report_factory``. Each CSV is read back with ``csv``, as an LMS would.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
from golden_files import matches_golden
from report_factory import hostile_report, passing_report, sample_report, ungradable_report

from grader.batch.export import (
    CANVAS_POINTS_POSSIBLE,
    export_canvas,
    export_csv,
    export_json,
    export_moodle,
    safe_name,
    write_feedback,
)
from grader.batch.gradebook import Gradebook, GradingKey, Row
from grader.batch.run_one import Outcome
from grader.batch.submissions import Entry, Student
from grader.batch.summary import class_view
from grader.render.class_summary import render_class_summary
from grader.report import Report

KEY = GradingKey("default", "d1g3st", "{}", "test")
GRADED_AT = "2026-12-01T09:00:00+00:00"  # recorded rows carry the time they were stored: fixed for golden files
HOSTILE_ID = "../../etc"
SCRIPT_ERROR = '=HYPERLINK("http://x", "<script>alert(1)</script>") grade exited with signal SIGKILL'
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
PNG_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
TIMEOUT = "grading took longer than 1800 s and was stopped"


def record(
    book: Gradebook,
    who: Student,
    status: str,
    report: Report | None = None,
    *,
    error: str = "",
    log: str = "",
    content: str = "",
) -> None:
    """Store a result as a batch would, the entry's files standing for themselves unless ``content`` is given."""
    outcome = Outcome(status, report.to_json() if report else "", error, log, 42.0)
    book.record(Entry(who, Path("submissions") / who.id, content or f"files-of-{who.id}"), outcome, KEY)


@pytest.fixture
def rows(tmp_path: Path) -> list[Row]:
    syntax_error = ungradable_report()
    with Gradebook(tmp_path / "g.sqlite") as book:
        record(book, Student("alice", "Alice Adams", "alice@example.org"), "graded", sample_report())
        record(book, Student("bob", 'Bob "Bobby" Brown, Jr.', "bob@example.org"), "graded", passing_report())
        failure = syntax_error.measurements.failure.message
        record(book, Student("carol", "Carol Chen"), "ungradable", syntax_error, error=failure)
        record(book, Student("dave"), "timed_out", error=TIMEOUT, log="epoch 1/40\nepoch 2/40\n")
        record(book, Student("erin", HOSTILE_NAME), "error", error=SCRIPT_ERROR, log="Traceback ...\nMemoryError\n")
        for copier in (
            Student("frank", "Frank Fox", "frank@example.org"),
            Student("grace", "Grace Gray", "grace@example.org"),
        ):
            record(book, copier, "graded", passing_report(), content="same-files")
        record(book, Student(HOSTILE_ID), "graded", hostile_report())
        return [dataclasses.replace(row, graded_at=GRADED_AT) for row in book.rows()]


def by_id(rows: list[Row], *ids: str) -> list[Row]:
    return [row for row in rows if row.student.id in ids]


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def records(text: str) -> dict[str, dict[str, str]]:
    return {line["student_id"]: line for line in csv.DictReader(io.StringIO(text))}


# The plain CSV


def test_the_plain_csv_has_a_line_per_student_in_id_order_with_each_models_points(rows):
    text = export_csv(rows)
    header = read_csv(text)[0]
    assert header[:7] == ["student_id", "name", "email", "status", "points", "max_points", "passed"]
    assert header[7:11] == ["iris/single", "iris/multi", "mnist/single", "mnist/multi"]
    assert header[11:] == ["error", "graded_at", "content_hash", "late", "on_roster", "entry"]
    lines = records(text)
    assert list(lines) == sorted(row.student.id for row in rows)
    alice = lines["alice"]
    assert (alice["status"], alice["points"], alice["max_points"], alice["passed"]) == ("graded", "65.75", "100", "yes")
    assert (alice["iris/single"], alice["iris/multi"], alice["mnist/multi"]) == ("19.25", "0", "30.25")
    dave = lines["dave"]
    assert (dave["status"], dave["points"], dave["passed"], dave["iris/single"]) == ("timed_out", "", "", "")
    assert dave["error"] == TIMEOUT
    carol = lines["carol"]  # ungradable: 0 out of the full total, and why
    assert (carol["status"], carol["points"], carol["max_points"], carol["passed"]) == ("ungradable", "0", "100", "no")
    assert "SyntaxError" in carol["error"]
    assert lines["bob"]["name"] == 'Bob "Bobby" Brown, Jr.'  # quotes and a comma, quoted, read back whole


def test_no_csv_cell_of_free_text_reads_as_a_spreadsheet_formula(rows):
    for text in (export_csv(rows), export_moodle(rows)):
        cells = [cell for line in read_csv(text) for cell in line]
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert records(export_csv(rows))["erin"]["error"] == "'" + SCRIPT_ERROR


# A student id is the name of a folder the student chose, and a roster can hold anything: every text cell of
# every CSV is neutralised (OWASP: a formula's first character behind a '), numbers left numbers.
HYPERLINK = '=HYPERLINK("http://evil","x")'
FORMULA_STUDENTS = [
    Student(HYPERLINK, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"),
    Student("-1+1", "\t=1+1", "\r=1+1"),
    Student("ada", "Ada Lovelace", "ada@example.org"),
]


@pytest.fixture
def formula_rows(tmp_path: Path) -> list[Row]:
    with Gradebook(tmp_path / "g.sqlite") as book:
        record(book, FORMULA_STUDENTS[0], "graded", passing_report())
        record(book, FORMULA_STUDENTS[1], "timed_out", error="-2+3\r=4+5 " + TIMEOUT)
        record(book, FORMULA_STUDENTS[2], "graded", passing_report(), content="other-files")
        return book.rows()


def test_every_text_cell_of_the_plain_csv_is_neutralised_and_points_stay_numbers(formula_rows):
    lines = read_csv(export_csv(formula_rows))
    cells = {line[0]: line for line in lines[1:]}
    assert list(cells) == ["'-1+1", "'" + HYPERLINK, "ada"]  # in id order; a carriage return started no row
    assert cells["'" + HYPERLINK][1:7] == [
        "'+cmd|' /C calc'!A0",
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "graded",
        "100",
        "100",
        "yes",
    ]
    assert cells["'-1+1"][1:3] == ["'\t=1+1", "'\n=1+1"] and cells["'-1+1"][11] == "'-2+3\n=4+5 " + TIMEOUT
    assert cells["ada"][1:5] == ["Ada Lovelace", "ada@example.org", "graded", "100"]


def test_every_text_cell_of_the_canvas_csv_is_neutralised_and_points_stay_numbers(formula_rows):
    lines = read_csv(export_canvas(formula_rows, "=Homework 3 (12345)", 20))
    assert lines[0][-1] == "'=Homework 3 (12345)" and lines[1] == [CANVAS_POINTS_POSSIBLE, "", "", "", "", "20"]
    assert lines[2:] == [
        ["'\t=1+1", "", "'-1+1", "'\n=1+1", "", ""],
        ["'+cmd|' /C calc'!A0", "", "'" + HYPERLINK, "'@SUM(1+1)*cmd|' /C calc'!A0", "", "20"],
        ["Ada Lovelace", "", "ada", "ada@example.org", "", "20"],
    ]


def test_every_text_cell_of_the_moodle_csv_is_neutralised_and_grades_stay_numbers(formula_rows):
    lines = read_csv(export_moodle(formula_rows))
    assert [line[:2] for line in lines] == [
        ["email", "grade"],
        ["'\n=1+1", ""],
        ["'@SUM(1+1)*cmd|' /C calc'!A0", "100"],
        ["ada@example.org", "100"],
    ]
    no_emails = [dataclasses.replace(row, student=Student(row.student.id)) for row in formula_rows]
    assert [line[0] for line in read_csv(export_moodle(no_emails))] == ["idnumber", "'-1+1", "'" + HYPERLINK, "ada"]


# Canvas


def test_the_canvas_csv_has_canvas_columns_its_points_possible_line_and_a_line_per_student(rows):
    lines = read_csv(export_canvas(rows, "Homework 3 (12345)", 100))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 3 (12345)"]
    assert lines[1] == ["    Points Possible", "", "", "", "", "100"]
    assert [line[2] for line in lines[2:]] == sorted(row.student.id for row in rows)
    students = {line[2]: line for line in lines[2:]}
    assert students["alice"] == ["Alice Adams", "", "alice", "alice@example.org", "", "65.75"]
    assert students["bob"][0] == 'Bob "Bobby" Brown, Jr.'
    assert students["dave"] == ["dave", "", "dave", "", "", ""]  # no roster name or e-mail: the id, nothing else


def test_canvas_gets_points_scaled_to_its_points_possible_zero_if_ungradable_and_no_score_for_the_rest(rows):
    scores = {line[2]: line[5] for line in read_csv(export_canvas(rows, "HW3", 20))[2:]}
    assert scores["alice"] == "13.15"  # 65.75 of 100
    assert scores["bob"] == "20"
    assert scores[HOSTILE_ID] == "4.55"  # 22.75 of 100: the models it did not build count too
    assert scores["carol"] == "0"  # ungradable: 0 out of the total
    assert scores["dave"] == scores["erin"] == ""  # timed out, grader error: no score, rather than a zero


def test_canvas_gives_students_not_graded_what_it_is_told_to(rows):
    scores = {line[2]: line[5] for line in read_csv(export_canvas(rows, "HW3", 20, ungraded="EX"))[2:]}
    assert scores["dave"] == scores["erin"] == "EX" and scores["carol"] == "0"
    assert scores["alice"] == "13.15"


def test_canvas_refuses_an_assignment_worth_nothing(rows):
    with pytest.raises(ValueError, match="points possible"):
        export_canvas(rows, "HW3", 0)


# Moodle


def test_moodle_identifies_students_by_id_number_unless_every_student_has_an_email(rows):
    lines = read_csv(export_moodle(rows))
    assert lines[0] == ["idnumber", "grade", "feedback"]
    assert [line[0] for line in lines[1:]] == sorted(row.student.id for row in rows)
    with_emails = by_id(rows, "alice", "bob", "frank", "grace")
    lines = read_csv(export_moodle(with_emails))
    assert lines[0] == ["email", "grade", "feedback"]
    assert [line[0] for line in lines[1:]] == [f"{name}@example.org" for name in ("alice", "bob", "frank", "grace")]


def test_moodle_gets_the_points_and_one_line_of_feedback_with_the_first_next_steps(rows):
    lines = {line[0]: line for line in read_csv(export_moodle(rows))[1:]}
    _, grade, feedback = lines["alice"]
    assert grade == "65.75"
    assert feedback.startswith("Total 65.75 / 100 points · PASS (pass mark 60).")
    steps = sample_report().next_steps
    assert f"(1) {steps[0]}" in feedback and f"(3) {steps[2]}" in feedback and "(4)" not in feedback
    assert all("\n" not in line[2] for line in lines.values())


def test_moodle_gives_ungradable_zero_and_students_without_a_score_no_grade_with_feedback_saying_why(rows):
    lines = {line[0]: line for line in read_csv(export_moodle(rows))[1:]}
    assert [lines[i][1] for i in ("carol", "dave", "erin")] == ["0", "", ""]  # Moodle reads "" as no grade
    carol = lines["carol"][2]
    assert carol.startswith("0 / 100 points: could not be graded: hw.ipynb, cell 3, line 3: SyntaxError: '(' was")
    assert "Next steps: (1) fix the syntax there" in carol
    assert lines["dave"][2] == f"Not graded, out of time: {TIMEOUT}."
    assert lines["erin"][2].startswith("Not graded, grader error: =HYPERLINK(")


def test_moodle_feedback_shows_a_message_quoting_code_as_written_not_as_html(rows):
    feedback = {line[0]: line[2] for line in read_csv(export_moodle(rows))[1:]}[HOSTILE_ID]
    assert "<script>" not in feedback and "look at &lt;script&gt;alert('x')&lt;/script&gt;" in feedback
    assert "\x1b" not in feedback and "\x07" not in feedback


# JSON


def test_the_json_export_has_its_schema_version_and_every_student_without_the_reports(rows):
    data = json.loads(export_json(rows))
    assert data["schema_version"] == 1
    students = data["students"]
    assert [s["student"]["id"] for s in students] == sorted(row.student.id for row in rows)
    alice = next(s for s in students if s["student"]["id"] == "alice")
    assert alice["student"] == {"id": "alice", "name": "Alice Adams", "email": "alice@example.org"}
    assert (alice["status"], alice["points"], alice["passed"]) == ("graded", 65.75, True)
    assert (alice["content_hash"], alice["attempts"], alice["graded_at"]) == ("files-of-alice", 1, GRADED_AT)
    assert alice["models"]["mnist/multi"] == {"points": 30.25, "max_points": 34.25, "test_accuracy": 0.969}
    assert alice["models"]["iris/multi"]["test_accuracy"] is None  # it failed to build
    assert "report" not in alice and "report_json" not in alice
    dave = next(s for s in students if s["student"]["id"] == "dave")
    assert (dave["status"], dave["points"], dave["models"], dave["error"]) == ("timed_out", None, {}, TIMEOUT)


def test_the_json_export_holds_the_whole_reports_when_asked(rows):
    students = {s["student"]["id"]: s for s in json.loads(export_json(rows, reports=True))["students"]}
    assert Report.from_dict(students["alice"]["report"]) == by_id(rows, "alice")[0].report()
    assert students["dave"]["report"] is None


# Feedback pages


def test_every_student_gets_feedback_pages_in_a_folder_of_their_own(rows, tmp_path):
    out = tmp_path / "feedback"
    written = write_feedback(rows, out)
    assert len(written) == 2 * len(rows)
    for row in rows:
        folder = out / safe_name(row.student.id)
        assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
    alice = (out / "alice" / "report.html").read_text()
    assert "65.75 / 100 points" in alice and len(PNG_URI.findall(alice)) == 3  # the report's own page, plots in it


def test_a_student_without_a_report_gets_a_page_saying_what_happened_with_the_log_tail(rows, tmp_path):
    write_feedback(by_id(rows, "dave", "erin"), tmp_path / "out")
    html = (tmp_path / "out" / "dave" / "report.html").read_text()
    markdown = (tmp_path / "out" / "dave" / "report.md").read_text()
    for page in (html, markdown):
        assert "Not graded, out of time" in page and TIMEOUT in page and "epoch 2/40" in page
    erin = (tmp_path / "out" / "erin" / "report.html").read_text()
    assert "<script>" not in erin and "&lt;script&gt;" in erin


def test_a_hostile_student_id_cannot_put_feedback_outside_the_folder(rows, tmp_path):
    out = tmp_path / "deep" / "feedback"
    written = write_feedback(by_id(rows, HOSTILE_ID, "dave"), out, formats=("html",))
    assert len(written) == 2
    assert all(path.resolve().is_relative_to(out.resolve()) for path in written)
    assert all(path.parent.parent == out for path in written)  # one folder per student, right under out
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()
    assert not list(out.rglob("report.md"))  # only the formats asked for


@pytest.mark.parametrize("student_id", ["../../etc", "..", ".", ".hidden", "a/b", "a\\b", "", "C:x", "é" * 300])
def test_a_student_id_becomes_one_plain_folder_name(student_id):
    name = safe_name(student_id)
    assert re.fullmatch(r"[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*", name) and len(name) <= 100


def test_plain_student_ids_keep_their_names_and_ids_that_clean_alike_stay_apart():
    assert safe_name("s1234") == "s1234" and safe_name("jane.doe@uni.edu") == "jane.doe@uni.edu"
    assert len({safe_name(i) for i in ("a/b", "a_b", "a\\b", "a b")}) == 4


def test_an_unknown_feedback_format_is_refused_before_anything_is_written(rows, tmp_path):
    with pytest.raises(ValueError, match="pdf"):
        write_feedback(rows, tmp_path / "out", formats=("html", "pdf"))
    assert not (tmp_path / "out").exists()


# The class summary


def summary_page(rows: list[Row], *, plots: bool = True) -> str:
    """The class summary page of these rows, as ``grade export --format summary`` writes it."""
    return render_class_summary(class_view(rows), plots=plots)


def section(html: str, title: str) -> str:
    """The part of the page under one heading."""
    return html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def cells(html: str) -> list[list[str]]:
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html) if "<td" in row]


def test_the_class_summary_embeds_the_points_histogram_and_a_plot_per_trained_model(rows):
    html = summary_page(rows)
    assert len(PNG_URI.findall(section(html, "Points"))) == 1
    assert len(PNG_URI.findall(section(html, "Models"))) == 4  # every model was trained by some student
    assert all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in PNG_URI.findall(html))
    assert 'src="http' not in html and "<link" not in html  # nothing to fetch


def test_the_class_summary_draws_a_model_only_where_some_student_trained_it(rows):
    without_iris_multi = by_id(rows, "alice", HOSTILE_ID)  # both failed iris/multi
    html = summary_page(without_iris_multi)
    assert 'alt="test accuracy for iris/multi"' not in html and 'alt="test accuracy for iris/single"' in html
    assert ["iris/multi", "0", "2", "-", "-", "97.0%"] in cells(section(html, "Models"))


def test_the_class_view_holds_the_figures_the_page_draws_and_the_words_it_shows(rows):
    view = class_view(rows, similar=False)
    assert (view.students, view.graded) == (8, 5)
    assert sorted(view.scored_percents) == [22.75, 65.75, 100.0, 100.0, 100.0] and view.pass_mark_percent == 60
    spreads = {spread.key: spread for spread in view.spreads}
    assert spreads["iris/multi"].accuracies == [0.97, 0.97, 0.97] and spreads["iris/multi"].reference == 0.97
    assert ["dave", "", "timed out", "-", TIMEOUT] in view.not_graded
    assert view.similar is None  # no files read again unless asked


def test_the_class_summary_page_is_drawn_from_the_view_alone(rows):
    view = class_view(rows, similar=False)
    renamed = dataclasses.replace(view, every_student=[["zoe", "Zoe Z", "graded", "1 / 1", "", ""]])
    page = render_class_summary(renamed, plots=False)
    assert "<td>zoe</td>" in section(page, "Every student") and "<td>alice</td>" not in section(page, "Every student")


def test_the_class_summary_is_the_same_bytes_for_the_same_rows(rows):
    assert summary_page(rows) == summary_page(list(reversed(rows)))


def test_the_class_summary_counts_statuses_and_gives_the_points_and_pass_rate(rows):
    overview = section(summary_page(rows, plots=False), "Overview")
    assert cells(overview) == [["graded", "5"], ["could not be graded", "1"], ["timed out", "1"], ["grader error", "1"]]
    assert "4 of 8 students (50.0%); 80.0% of those graded" in overview
    assert "mean 77.7, median 100, out of 100" in overview


def test_the_class_summary_ranks_the_checks_that_cost_the_most_points(rows):
    ranked = cells(section(summary_page(rows, plots=False), "Checks that cost points"))
    # alice's and the hostile id's iris/multi failed: 15 points each
    assert ranked[0] == ["Test accuracy vs reference", "iris/multi", "2 of 5", "15.00", "30"]
    assert ranked[1] == ["Test accuracy vs reference", "mnist/single", "2 of 5", "9.00", "18"]  # 3 + 15 points


def test_the_class_summary_lists_the_students_not_graded_with_their_reasons(rows):
    not_graded = cells(section(summary_page(rows, plots=False), "Not graded"))
    assert [line[:3] for line in not_graded] == [
        ["carol", "Carol Chen", "could not be graded"],
        ["dave", "", "timed out"],
        ["erin", "&lt;img src=x onerror=alert(1)&gt;", "grader error"],
    ]
    assert not_graded[0][3:] == ["0 / 100", "hw.ipynb, cell 3, line 3: SyntaxError: &#x27;(&#x27; was never closed"]
    assert not_graded[1][3:] == ["-", TIMEOUT]
    assert "SIGKILL" in not_graded[2][4]


def test_the_class_summary_names_the_students_who_handed_in_the_same_files(rows):
    identical = cells(section(summary_page(rows, plots=False), "Identical submissions"))
    assert identical == [["frank (Frank Fox); grace (Grace Gray)", "100 / 100", "same-files"]]


def test_entries_too_large_to_hash_are_not_taken_for_copies(rows):
    too_large = [
        dataclasses.replace(row, content_hash="too-large-30000000") if row.student.id in ("frank", "grace") else row
        for row in rows
    ]
    identical = section(summary_page(too_large, plots=False), "Identical submissions")
    assert "frank" not in identical and "No two submissions are the same files" in identical


def test_student_text_cannot_inject_markup_into_the_class_summary(rows):
    html = summary_page(rows)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_student_id_with_markup_and_control_characters_is_shown_as_written_in_the_summary_and_feedback(tmp_path):
    """Escape sequences and control characters dropped, markup escaped: in the class summary's table of
    students not graded and in the student's own feedback pages."""
    student = Student("<b>eve</b>\x1b]0;owned\x07[x](http://evil)\x08", "<i>Eve</i>\x07")
    with Gradebook(tmp_path / "g.sqlite") as book:
        record(book, student, "error", error="[bold]crashed[/]\x1b[2J", log="\x1b[31m<script>x</script>\x1b[0m\n")
        rows = book.rows()
    summary = summary_page(rows, plots=False)
    write_feedback(rows, tmp_path / "out")
    folder = tmp_path / "out" / safe_name(student.id)
    html, markdown = (folder / "report.html").read_text(), (folder / "report.md").read_text()
    assert "<td>&lt;b&gt;eve&lt;/b&gt;[x](http://evil)</td><td>&lt;i&gt;Eve&lt;/i&gt;</td>" in summary
    assert "<h1>Feedback for &lt;b&gt;eve&lt;/b&gt;[x](http://evil)</h1>" in html
    assert "<dd>[bold]crashed[/]</dd>" in html and "<pre>&lt;script&gt;x&lt;/script&gt;</pre>" in html
    assert "# Feedback for &lt;b>eve&lt;/b>\\[x\\](http://evil)\n" in markdown
    assert "- **What happened:** \\[bold\\]crashed\\[/\\]\n" in markdown
    assert "```text\n<script>x</script>\n```\n" in markdown  # a fenced block: no Markdown read inside
    for page in (summary, html, markdown):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", page)


def test_an_empty_gradebook_gives_a_page_that_says_so():
    assert "The gradebook holds no results yet." in summary_page([])


# Golden files: the formats as a whole, reviewed as diffs


def test_the_canvas_csv_matches_its_golden_file(rows):
    matches_golden("class_canvas.csv", export_canvas(rows, "Homework 3 (12345)", 20))


def test_the_moodle_csv_matches_its_golden_file(rows):
    matches_golden("class_moodle.csv", export_moodle(rows))


def test_the_class_summary_matches_its_golden_file(rows):
    matches_golden("class_summary.html", summary_page(rows, plots=False))
