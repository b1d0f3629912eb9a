"""A class handed in the way each LMS hands it out (Canvas, Moodle, Gradescope, GitHub Classroom, and a zip of
one) is matched to one roster, graded into one gradebook, and exported so that each LMS's importer, as its
documentation describes it, takes the file: every roster student present, entries on no roster named.

Nothing trains: a stub backend hands every job a stored report from ``report_factory``, so the whole path
from the download to the LMS file runs in well under a second per layout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_factory import passing_report, sample_report

from grader.batch import commands, layouts
from grader.batch.gradebook import Gradebook
from grader.batch.run_one import Outcome
from grader.batch.submissions import gather, read_roster
from grader.cli import main
from grader.errors import SubmissionError

ROSTER = """id,name,email,login,canvas_id,moodle_id,github
s01,Alice Smith,alice@uni.edu,smithalice,101,201,alice-s
s02,Bob Jones,bob@uni.edu,jonesbob,102,202,bobj
s03,Carla Díaz,carla@uni.edu,diazcarla,103,203,carlad
s04,Dan Wu,dan@uni.edu,wudan,104,204,danw
s05,Eve Park,eve@uni.edu,parkeve,105,205,evep
"""
ROSTER_IDS = ["s01", "s02", "s03", "s04", "s05"]
HANDED_IN = {"s01", "s02", "s03"}  # s04 and s05 handed in nothing; one more entry is on no roster
CODE = "HYPERPARAMS = {{}}\n# {who}\n"


def canvas(folder: Path) -> str:
    """Canvas' download: login[_late]_userid_submissionid_file; Carla handed in two files."""
    for name in (
        "smithalice_101_9001_hw.py",
        "jonesbob_late_102_9002_hw.py",
        "diazcarla_103_9003_submission.py",
        "diazcarla_103_9003_helpers.py",
        "zedzed_999_9009_hw.py",
    ):
        (folder / name).write_text(CODE.format(who=name))
    return "zedzed"


def moodle(folder: Path) -> str:
    """Moodle's download in folders: Full Name_participantid_assignsubmission_file_/, online text beside."""
    for name, participant in (("Alice Smith", 201), ("Bob Jones", 202), ("Carla Díaz", 203), ("Zed Zed", 999)):
        entry = folder / f"{name}_{participant}_assignsubmission_file_"
        entry.mkdir()
        (entry / "hw.py").write_text(CODE.format(who=name))
    online = folder / "Carla Díaz_203_assignsubmission_onlinetext_"
    online.mkdir()
    (online / "onlinetext.html").write_text("<p>see my file</p>")
    return "Zed Zed"


def gradescope(folder: Path) -> str:
    """Gradescope's export: a folder per submission, submission_metadata.yml naming its submitters (Bob by
    e-mail alone)."""
    submitters = {
        "submission_1": ("Alice Smith", "s01", "alice@uni.edu"),
        "submission_2": ("Bob Jones", "", "BOB@uni.edu"),
        "submission_3": ("Carla Diaz", "s03", ""),
        "submission_9": ("Zed Zed", "z99", "zed@elsewhere.org"),
    }
    lines = []
    for submission, (name, sid, email) in submitters.items():
        (folder / submission).mkdir()
        (folder / submission / "submission.py").write_text(CODE.format(who=name))
        lines += [
            f"{submission}:",
            "  :submitters:",
            f"  - :name: {name}",
            f"    :sid: '{sid}'",
            f"    :email: '{email}'",
        ]
        lines += ["  :created_at: 2026-03-01 10:00:00.000000000 -08:00"]
    (folder / "submission_metadata.yml").write_text("\n".join(lines) + "\n")
    return "z99"


def classroom(folder: Path) -> str:
    """GitHub Classroom's clones: assignment-login, each a git repository."""
    for login in ("alice-s", "bobj", "carlad", "zed"):
        clone = folder / f"nn-lab-{login}"
        (clone / ".git").mkdir(parents=True)
        (clone / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (clone / "submission.py").write_text(CODE.format(who=login))
    return "zed"


def zipped_canvas(folder: Path) -> str:
    """Canvas' download as the zip Canvas gives, wrapped in one folder."""
    inner = folder.parent / "unzipped"
    inner.mkdir()
    stranger = canvas(inner)
    with zipfile.ZipFile(folder.parent / "submissions.zip", "w") as archive:
        for path in sorted(inner.iterdir()):
            archive.write(path, f"submissions/{path.name}")
    return stranger


LAYOUTS = {"canvas": canvas, "moodle": moodle, "gradescope": gradescope, "classroom": classroom, "zip": zipped_canvas}


def build(layout: str, tmp_path: Path) -> tuple[Path, str]:
    """The class in ``layout``: the path to hand grade batch, and the id its stranger is graded under."""
    folder = tmp_path / "download"
    folder.mkdir()
    stranger = LAYOUTS[layout](folder)
    return (tmp_path / "submissions.zip" if layout == "zip" else folder), stranger


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    return path


class StubBackend:
    """Grades nothing: every job gets a stored report at once (``passing_report``; ``sample_report`` for an
    entry whose files say ``jonesbob``), as a real backend hands outcomes back."""

    def run(self, jobs, on_result) -> None:
        for job in jobs:
            text = (
                "".join(p.read_text() for p in sorted(job.entry.path.rglob("*.py"))) if job.entry.path.is_dir() else ""
            )
            report = sample_report() if "jonesbob" in text else passing_report()
            on_result(job, Outcome("graded", report.to_json(), "", "", 1.0))


@pytest.fixture
def stub_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "_backend", lambda *args: StubBackend())
    monkeypatch.setattr(commands, "_keep_students_apart", lambda allowed: None)


def grade(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


# What each LMS's importer does with a file, written from its documentation.


def canvas_import(text: str, roster: dict[str, dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Canvas' Gradebook import (Grades > Import): the header names Student, ID, SIS User ID, SIS Login ID and
    Section, then one column per assignment; a row whose Student cell is "Points Possible" is read as the
    assignments' points, not a student; each student row is matched by ID, SIS User ID or SIS Login ID; a
    score is a number, "EX" (excused) or empty (left unchanged). Unknown students are listed and skipped.
    Returns the scores by roster id, and the rows it could not match."""
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] and len(header) > 5
    scores, unknown = {}, []
    for line in lines[1:]:
        assert len(line) == len(header), f"a row of {len(line)} cells under a header of {len(header)}: {line}"
        if line[0].strip() == "Points Possible":
            assert float(line[5]) > 0
            continue
        cell = line[5]
        assert cell in ("", "EX") or float(cell) >= 0, f"Canvas takes no score {cell!r}"
        logins = {row["email"]: sid for sid, row in roster.items()}
        student = line[2] if line[2] in roster else logins.get(line[3])
        if student is None:
            unknown.append(line[2])
        else:
            scores[student] = cell
    return scores, unknown


def moodle_import(text: str, roster: dict[str, dict[str, str]], grade_max: float) -> dict[str, tuple[str, str]]:
    """Moodle's CSV grade import (Grades > Import > CSV file): the first line names the columns; one column is
    mapped to a user field ("email" to Email address, "idnumber" to ID number), one to the grade item, one to
    its feedback. A row whose user cannot be found stops the whole import, as does a grade that is not a
    number or lies outside the item's range (0 to its maximum); an empty grade is skipped. Returns grade
    and feedback by roster id."""
    lines = list(csv.reader(io.StringIO(text)))
    identifier, *_ = lines[0]
    assert lines[0] == [identifier, "grade", "feedback"] and identifier in ("email", "idnumber")
    users = {(row["email"] if identifier == "email" else sid): sid for sid, row in roster.items()}
    imported = {}
    for user, grade_cell, feedback in lines[1:]:
        if user not in users:
            raise AssertionError(f"Moodle stops the import: no user with {identifier} {user!r}")
        if grade_cell:
            assert 0 <= float(grade_cell) <= grade_max, f"Moodle refuses grade {grade_cell} of {grade_max}"
        imported[users[user]] = (grade_cell, feedback)
    return imported


def roster_table(path: Path) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))}


# Each layout, one roster


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_class_from_each_layout_maps_to_the_roster_and_every_roster_student_is_in_every_export(
    layout, tmp_path, roster, stub_grading
):
    submissions, stranger = build(layout, tmp_path)
    db = tmp_path / "gradebook.sqlite"
    grade("batch", str(submissions), "--db", str(db), "--roster", str(roster), "--no-progress")
    with Gradebook(db) as book:
        stored = {row.student.id: row for row in book.rows()}
    assert set(stored) == HANDED_IN | {stranger}

    def export(form: str, *extra: str) -> str:
        return grade("export", "--db", str(db), "--format", form, *extra)

    plain = {line["student_id"]: line for line in csv.DictReader(io.StringIO(export("csv")))}
    assert set(plain) == set(ROSTER_IDS) | {stranger}
    assert [plain[s]["status"] for s in ("s04", "s05")] == ["missing", "missing"]
    assert plain["s04"]["error"] == "nothing was handed in" and plain["s04"]["on_roster"] == "yes"
    assert plain[stranger]["on_roster"] == "no" and plain["s01"]["status"] == "graded"

    table = roster_table(roster)
    canvas_scores, unknown = canvas_import(export("canvas", "--points-possible", "20"), table)
    assert set(canvas_scores) == set(ROSTER_IDS) and unknown == [stranger]
    assert canvas_scores["s01"] == "20" and canvas_scores["s04"] == ""

    moodle_scores = moodle_import(export("moodle", "--points-possible", "10"), table, grade_max=10)
    assert set(moodle_scores) == set(ROSTER_IDS)  # the stranger left out: Moodle would stop at them
    assert moodle_scores["s01"][0] == "10" and moodle_scores["s05"] == ("", "Nothing handed in: nothing was handed in.")

    students = {s["student"]["id"]: s for s in json.loads(export("json"))["students"]}
    assert set(students) == set(ROSTER_IDS) | {stranger}
    assert students["s01"]["settings"]["problems"] == []  # an object, not JSON in a string
    assert (students["s04"]["status"], students[stranger]["on_roster"]) == ("missing", False)

    summary = export("summary")
    assert all(f"<td>{sid}</td>" in summary for sid in ROSTER_IDS)
    assert "<h2>Not on the roster</h2>" in summary and f"<td>{stranger}</td>" in summary


@pytest.mark.parametrize(
    ("layout", "keys"),
    [
        ("canvas", {"s01": "canvas_id", "s02": "canvas_id", "s03": "canvas_id"}),
        ("moodle", {"s01": "moodle_id", "s02": "moodle_id", "s03": "moodle_id"}),
        ("gradescope", {"s01": "id", "s02": "email", "s03": "id"}),
        ("classroom", {"s01": "github", "s02": "github", "s03": "github"}),
    ],
)
def test_each_layout_matches_by_the_most_telling_key_it_carries(layout, keys, tmp_path, roster):
    submissions, _stranger = build(layout, tmp_path)
    gathered = gather(submissions, tmp_path / "staging", read_roster(roster))
    assert gathered.layout == layout
    matched = {m.student.id: m.matched_by for m in gathered.mappings if m.on_roster}
    assert matched == keys
    assert [student.id for student in gathered.missing] == ["s04", "s05"]


def test_a_roster_name_matches_in_either_order_without_accents_and_never_when_two_students_share_it(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text('id,name\ns1,Carla Díaz\ns2,"Smith, Alice"\ns3,Sam Lee\ns4,Sam Lee\n', encoding="utf-8")
    students = read_roster(path)
    assert students.find("name", "diazcarla") == students.find("name", "Carla Diaz") == "s1"
    assert students.find("name", "smithalice") == students.find("name", "Alice Smith") == "s2"
    assert students.find("name", "Sam Lee") is None


def test_canvas_gathers_a_students_files_under_their_own_names_and_keeps_the_late_flag(tmp_path, roster):
    submissions, _stranger = build("canvas", tmp_path)
    gathered = gather(submissions, tmp_path / "staging", read_roster(roster))
    by_id = {entry.student.id: entry for entry in gathered.entries}
    assert sorted(p.name for p in by_id["s03"].path.iterdir()) == ["helpers.py", "submission.py"]
    assert [sid for sid, entry in sorted(by_id.items()) if entry.late] == ["s02"]


def test_the_late_flag_is_kept_in_the_gradebook_and_the_exports(tmp_path, roster, stub_grading):
    submissions, _stranger = build("canvas", tmp_path)
    db = tmp_path / "gradebook.sqlite"
    grade("batch", str(submissions), "--db", str(db), "--roster", str(roster), "--no-progress")
    with sqlite3.connect(db) as connection:
        late = dict(connection.execute("SELECT student_id, late FROM results"))
    connection.close()
    assert late == {"s01": 0, "s02": 1, "s03": 0, "zedzed": 0}
    exported = grade("export", "--db", str(db), "--format", "csv")
    plain = {line["student_id"]: line for line in csv.DictReader(io.StringIO(exported))}
    assert [sid for sid, line in plain.items() if line["late"] == "yes"] == ["s02"]
    assert plain["s02"]["entry"] == "jonesbob_late_102_9002_hw.py"
    assert "1 handed in late" in grade("export", "--db", str(db), "--format", "summary")


# The plan, and the instructor's map


def test_plan_shows_each_entry_its_student_and_how_it_matched_and_grades_nothing(tmp_path, roster):
    submissions, _stranger = build("canvas", tmp_path)
    db = tmp_path / "gradebook.sqlite"
    output = grade("batch", str(submissions), "--db", str(db), "--roster", str(roster), "--plan")
    lines = output.splitlines()
    assert lines[0] == f"{submissions}: canvas layout, 4 entries"
    assert lines[1].split() == ["entry", "student", "name", "matched", "by", "late"]
    assert lines[2].split() == ["smithalice_101_9001_hw.py", "s01", "Alice", "Smith", "canvas_id"]
    assert lines[3].split() == ["jonesbob_late_102_9002_hw.py", "s02", "Bob", "Jones", "canvas_id", "late"]
    assert lines[4].split()[-2:] == ["Díaz", "canvas_id"]
    assert "not on the roster (1): graded under the id their name gives; --map FILE.csv maps them" in output
    assert "  zedzed_999_9009_hw.py -> zedzed" in lines
    assert "missing (2): roster students with nothing handed in" in output and "  s04 Dan Wu" in lines
    assert not db.exists()


def test_a_map_file_overrides_the_matching_and_names_what_it_cannot_map(tmp_path, roster):
    submissions, _stranger = build("canvas", tmp_path)
    mapping = tmp_path / "map.csv"
    mapping.write_text("entry,student_id\nzedzed_999_9009_hw.py,s04\nsmithalice_101_9001_hw.py,\n")
    output = grade("batch", str(submissions), "--roster", str(roster), "--map", str(mapping), "--plan")
    zed = next(line.split() for line in output.splitlines() if line.startswith("zedzed_999_9009_hw.py"))
    assert zed == ["zedzed_999_9009_hw.py", "s04", "Dan", "Wu", "map", "file"]
    assert "missing (2)" in output and "  s01 Alice Smith" in output.splitlines()  # left out by the map
    mapping.write_text("entry,student_id\nzedzed_999_9009_hw.py,s99\n")
    db = tmp_path / "g.sqlite"
    refused = CliRunner().invoke(
        main, ["batch", str(submissions), "--db", str(db), "--roster", str(roster), "--map", str(mapping)]
    )
    assert refused.exit_code == 2 and not db.exists()
    assert f"{mapping}: 'zedzed_999_9009_hw.py' is mapped to 's99', who is not on the roster" in " ".join(
        refused.output.split()
    )


def test_two_entries_for_one_student_grade_the_first_and_refuse_the_second_without_stopping(tmp_path, roster):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "s01.py").write_text("a = 1\n")
    (folder / "smithalice.py").write_text("a = 2\n")  # s01's login
    gathered = gather(folder, tmp_path / "staging", read_roster(roster))
    assert [entry.student.id for entry in gathered.entries] == ["s01"]
    assert [r.reason for r in gathered.refused] == ["s01 also handed in s01.py: choose one with --map FILE.csv"]


# Zips, read safely


def make_zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ({"../evil.py": b"x"}, (), "member '../evil.py' would be written outside the folder"),
        ({"/abs/evil.py": b"x"}, (), "member '/abs/evil.py' would be written outside the folder"),
        ({"ok.py": b"x"}, ("ada.py",), "member 'ada.py' is a link"),
        ({"big.py": b"0" * 4096}, (), "member 'big.py' unpacks to more than"),
    ],
)
def test_a_zip_that_would_write_outside_link_or_overflow_is_refused_naming_the_member(
    tmp_path, monkeypatch, members, links, message
):
    monkeypatch.setattr(layouts, "MAX_ZIP_MEMBER_BYTES", 1024)
    archive = make_zip(tmp_path / "class.zip", members, links)
    with pytest.raises(SubmissionError) as raised:
        gather(archive, tmp_path / "staging")
    assert raised.value.message.startswith(f"{archive}: {message}")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "staging" / "evil.py").exists()


def test_grade_batch_on_a_bad_zip_exits_2_with_what_to_do(tmp_path):
    archive = make_zip(tmp_path / "class.zip", {"../../evil.py": b"x"})
    result = CliRunner().invoke(main, ["batch", str(archive), "--db", str(tmp_path / "g.sqlite"), "--plan"])
    assert result.exit_code == 2 and "extract it yourself" in " ".join(result.output.split())


def test_an_unreadable_gradescope_metadata_file_is_named_with_what_to_do(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "submission_metadata.yml").write_text("submission_1: [unclosed\n")
    with pytest.raises(
        SubmissionError, match=r"submission_metadata\.yml: cannot read Gradescope's submission metadata"
    ):
        gather(folder, tmp_path / "staging")


# Regrades, progress lines, and students without a score


def test_regrade_prints_and_stores_what_changed_per_student(tmp_path, roster, stub_grading):
    submissions, _stranger = build("canvas", tmp_path)
    db = tmp_path / "gradebook.sqlite"
    grade("batch", str(submissions), "--db", str(db), "--roster", str(roster), "--no-progress")
    strict = tmp_path / "strict.toml"
    strict.write_text('name = "strict"\npass_mark = 99.0\n')
    result = CliRunner().invoke(main, ["regrade", "--db", str(db), "--rubric", str(strict)])
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.stdout.splitlines()]
    assert table[0] == ["student", "before", "after", "change", "verdict"]
    changed = {line[0]: line for line in table[1:]}
    assert "s02" in changed  # sample_report: 65.75 passed the default pass mark, not 99
    assert changed["s02"][-5:] == ["passed", "->", "below", "pass", "mark"]
    with Gradebook(db) as book:
        log = book.regrade_log()
    assert {entry["student_id"] for entry in log} == set(changed)
    s02 = next(entry for entry in log if entry["student_id"] == "s02")
    assert (s02["rubric_name"], s02["passed_before"], s02["passed_after"]) == ("strict", 1, 0)
    students = {
        s["student"]["id"]: s for s in json.loads(grade("export", "--db", str(db), "--format", "json"))["students"]
    }
    assert students["s02"]["regrades"][0]["passed_after"] is False
    assert "changed" in " ".join(result.output.split())


def test_a_batch_line_gives_the_points_out_of_the_total():
    report = json.dumps({"points": 46.5, "max_points": 100.0})
    assert commands._detail(Outcome("graded", report, "", "", 12.0)) == "46.5 / 100 points, 12 s"
    zero = json.dumps({"points": 0.0, "max_points": 100.0})
    assert commands._detail(Outcome("ungradable", zero, "SyntaxError", "", 1.0)) == "0 / 100 points: SyntaxError"


def test_students_without_a_score_get_what_ungraded_says_and_moodle_refuses_excused(tmp_path, roster, stub_grading):
    submissions, _stranger = build("classroom", tmp_path)
    db = tmp_path / "gradebook.sqlite"
    grade("batch", str(submissions), "--db", str(db), "--roster", str(roster), "--no-progress")
    canvas_text = grade("export", "--db", str(db), "--format", "canvas", "--ungraded", "EX")
    scores, _unknown = canvas_import(canvas_text, roster_table(roster))
    assert scores["s04"] == scores["s05"] == "EX"
    moodle_text = grade("export", "--db", str(db), "--format", "moodle", "--ungraded", "0")
    assert moodle_import(moodle_text, roster_table(roster), 100)["s04"][0] == "0"
    refused = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "moodle", "--ungraded", "EX"])
    assert refused.exit_code == 2 and "Moodle has no excused grade" in refused.output
    left_out = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "moodle"])
    assert "left out of the Moodle file, not on the roster (1): zed" in " ".join(left_out.stderr.split())


def test_a_schema_1_gradebook_is_upgraded_in_place_and_keeps_its_results(tmp_path):
    db = tmp_path / "old.sqlite"
    with Gradebook(db):
        pass
    with sqlite3.connect(db) as connection:  # as schema 1 left it: no late, no entry
        connection.execute("DROP TABLE results")
        connection.execute(
            "CREATE TABLE results (student_id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', "
            "email TEXT NOT NULL DEFAULT '', path TEXT NOT NULL, content_hash TEXT NOT NULL, "
            "rubric_name TEXT NOT NULL, rubric_digest TEXT NOT NULL, settings TEXT NOT NULL, "
            "grader_version TEXT NOT NULL, status TEXT NOT NULL, points REAL, max_points REAL, "
            "passed INTEGER, error TEXT NOT NULL DEFAULT '', log TEXT NOT NULL DEFAULT '', "
            "device TEXT NOT NULL DEFAULT '', seconds REAL NOT NULL, graded_at TEXT NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 1, report_json TEXT)"
        )
        connection.execute(
            "INSERT INTO results VALUES ('ada', '', '', 'ada.py', 'h', 'default', 'd', '{}', 't', "
            "'error', NULL, NULL, NULL, 'boom', '', '', 1.0, '2026-01-01', 1, NULL)"
        )
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.close()
    with Gradebook(db) as book:
        [ada] = book.rows()
    assert (ada.student.id, ada.error, ada.late, ada.entry) == ("ada", "boom", False, "")
    assert os.path.getsize(db) > 0
