"""``grade batch``, ``grade regrade``: a class graded into a gradebook, in parallel, resumable after any
kill, and re-scored under a new rubric without retraining."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SUBMISSIONS

from grader.batch.gradebook import Gradebook, GradebookError, GradingKey, Row
from grader.batch.jobs import GradingJob
from grader.batch.run_one import Outcome
from grader.batch.runner import NOT_STORED, plan_batch, run_batch
from grader.batch.submissions import OUTSIDE, content_hash, find_entries, read_roster
from grader.cli import main
from grader.errors import SubmissionError
from grader.rubric import load_rubric

pytest.importorskip("torch")

WEAK = """
from torch import nn

HYPERPARAMS = {"iris": {"learning_rate": 1e-6}}


def build_model(problem, variant):
    if variant == "single":
        return nn.Sequential(nn.Linear(4, 3))
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
"""
HANGS = "import time\ntime.sleep(3600)\n"
STATUS_OF_CLASS = {
    "ada": "graded",  # correct
    "bob": "graded",  # a copy of ada's files
    "cyd": "graded",  # weak: trains with a learning rate too small to learn
    "dan": "ungradable",  # a syntax error
    "eve": "timed_out",  # never finishes importing
}


def make_class(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "torch_small.py", folder / "ada.py")
    (folder / "bob").mkdir()
    shutil.copy(SUBMISSIONS / "torch_small.py", folder / "bob" / "submission.py")
    (folder / "cyd.py").write_text(WEAK)
    (folder / "dan.py").write_text("def build_model(problem, variant:\n    pass\n")
    (folder / "eve.py").write_text(HANGS)
    (folder / "notes.txt").write_text("not a submission")
    return folder


def batch_args(folder: Path, db: Path, rubric: Path, fake_mnist: Path, *extra: str) -> list[str]:
    return [
        "batch",
        str(folder),
        "--db",
        str(db),
        "--problem",
        "iris",
        "--rubric",
        str(rubric),
        "--data-dir",
        str(fake_mnist),
        "--timeout",
        "30",
        "--no-progress",
        *extra,
    ]


def said(output: str) -> str:
    """Output as one line: the console wraps long lines at its width."""
    return " ".join(output.split())


def stored(db: Path) -> dict[str, tuple]:
    """What the gradebook says of each student, without times: status, points, max points, passed."""
    with Gradebook(db) as gradebook:
        return {row.student.id: (row.status, row.points, row.max_points, row.passed) for row in gradebook.rows()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, fast_rubric_file, fake_mnist) -> tuple[Path, Path, str]:
    """A mixed class graded once, uninterrupted, two at a time."""
    root = tmp_path_factory.mktemp("class")
    folder, db = make_class(root / "submissions"), root / "gradebook.sqlite"
    result = CliRunner().invoke(main, batch_args(folder, db, fast_rubric_file, fake_mnist, "--jobs", "2"))
    assert result.exit_code == 0, result.output
    return folder, db, result.output


def test_every_entry_is_graded_under_its_student_id_with_its_status(graded_class):
    _folder, db, _output = graded_class
    statuses = {student: row[0] for student, row in stored(db).items()}
    assert statuses == STATUS_OF_CLASS  # notes.txt is not a submission


def test_the_good_submission_passes_the_weak_one_does_not_and_copies_get_the_same_grade(graded_class):
    _folder, db, _output = graded_class
    rows = stored(db)
    assert rows["ada"][3] is True and rows["cyd"][3] is False
    assert rows["cyd"][1] < rows["ada"][1]
    assert rows["bob"] == rows["ada"]
    with Gradebook(db) as gradebook:  # each report names its own student's files
        assert gradebook.get("bob").report().measurements.submission.path.endswith("bob")
        assert gradebook.get("ada").report().measurements.submission.path.endswith("ada.py")


def test_failures_are_stored_with_their_reason_and_never_stop_the_batch(graded_class):
    _folder, db, output = graded_class
    with Gradebook(db) as gradebook:
        dan, eve = gradebook.get("dan"), gradebook.get("eve")
    assert "SyntaxError" in dan.error and dan.report() is not None  # the report says where
    assert "longer than 30 s" in eve.error and eve.report() is None
    assert "1 timed_out" in said(output) and "1 ungradable" in said(output)


def test_each_row_holds_the_measurements_per_epoch_and_the_models_table(graded_class):
    _folder, db, _output = graded_class
    with Gradebook(db) as gradebook:
        ada = gradebook.get("ada")
    report = ada.report()
    assert report.measurements.model("iris/multi").run.history  # per epoch
    assert (ada.rubric_name, ada.grader_version, ada.device) == ("default", report.measurements.grader_version, "cpu")
    with sqlite3.connect(db) as connection:
        models = connection.execute("SELECT model, points FROM models WHERE student_id = 'ada'").fetchall()
    assert {model for model, _ in models} == {"iris/single", "iris/multi"}
    assert sum(points for _, points in models) == pytest.approx(ada.points)


def key_of(row: Row) -> GradingKey:
    """The grading key ``row`` was graded under."""
    return GradingKey(row.rubric_name, row.rubric_digest, row.settings, row.grader_version)


def test_rerunning_skips_what_is_graded_and_retries_failures_only_when_asked(
    graded_class, fast_rubric_file, fake_mnist
):
    folder, db, _output = graded_class
    again = CliRunner().invoke(main, batch_args(folder, db, fast_rubric_file, fake_mnist))
    assert "0 to grade, 5 already graded" in said(again.output)
    with Gradebook(db) as gradebook:
        key = key_of(gradebook.get("ada"))
        entries, _refused = find_entries(folder)
        retry = plan_batch(entries, gradebook, key, retry_failed=True)
        everything = plan_batch(entries, gradebook, key, force=True)
    assert sorted(e.student.id for e in retry.to_grade) == ["dan", "eve"]
    assert len(everything.to_grade) == 4 and everything.total == 5  # bob's copy is graded with ada's


def test_a_changed_submission_or_rubric_is_graded_again(graded_class, tmp_path):
    folder, db, _output = graded_class
    with Gradebook(db) as gradebook:
        row = gradebook.get("cyd")
        key = key_of(row)
        entries, _refused = find_entries(folder)
        changed = [e if e.student.id != "cyd" else e.__class__(e.student, e.path, "edited") for e in entries]
        assert [e.student.id for e in plan_batch(changed, gradebook, key).to_grade] == ["cyd"]
        other_rubric = GradingKey(row.rubric_name, "another", row.settings, row.grader_version)
        assert len(plan_batch(entries, gradebook, other_rubric).to_grade) == 4


def grading_processes(marker: str) -> list[int]:
    """PIDs of live processes whose command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "pytest" not in cmdline:
                found.append(int(entry.name))
    return found


def test_a_batch_killed_halfway_resumes_to_the_same_gradebook(graded_class, tmp_path, fast_rubric_file, fake_mnist):
    """SIGKILL the batch while it grades: nothing graded is lost, no grading process is left behind, and
    the rerun ends where an uninterrupted batch ends."""
    _folder, uninterrupted_db, _output = graded_class
    folder, db = make_class(tmp_path / "interrupted-class"), tmp_path / "gradebook.sqlite"
    command = [sys.executable, "-m", "grader.cli", *batch_args(folder, db, fast_rubric_file, fake_mnist, "--jobs", "1")]
    batch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(stored(db) if db.exists() else {}) < 2:
        time.sleep(0.2)
    os.kill(batch.pid, signal.SIGKILL)
    batch.wait()
    partial = stored(db)
    assert 2 <= len(partial) < 5
    time.sleep(2)  # the grading process sees its lifeline close and exits
    assert grading_processes(str(folder)) == []
    resumed = CliRunner().invoke(main, batch_args(folder, db, fast_rubric_file, fake_mnist, "--jobs", "2"))
    assert f"{len(partial)} already graded" in said(resumed.output)
    assert stored(db) == stored(uninterrupted_db)


def test_regrade_rescores_every_stored_submission_like_a_fresh_grade_under_the_new_rubric(
    graded_class, tmp_path, fast_rubric_file, fake_mnist
):
    folder, db, _output = graded_class
    copy = tmp_path / "gradebook.sqlite"
    shutil.copy(db, copy)
    rubric = tmp_path / "stricter.toml"
    top = 'name = "stricter"\npass_mark = 99.0\n'
    rubric.write_text(top + fast_rubric_file.read_text() + "\n[accuracy]\npoints = 30.0\n")
    result = CliRunner().invoke(main, ["regrade", "--db", str(copy), "--rubric", str(rubric)])
    assert result.exit_code == 0, result.output
    assert "rescored 4 submissions" in said(result.output)  # eve timed out: no measurements to re-score
    with Gradebook(copy) as gradebook:
        regraded = gradebook.get("cyd")
    fresh = CliRunner().invoke(
        main,
        [
            str(folder / "cyd.py"),
            "--format",
            "json",
            "--problem",
            "iris",
            "--rubric",
            str(rubric),
            "--data-dir",
            str(fake_mnist),
            "--threads",
            "1",  # as in the batch: the cores shared by two jobs
            "--no-progress",
        ],
    )
    report = json.loads(fresh.stdout)
    assert regraded.rubric_name == "stricter" and regraded.max_points == report["max_points"]
    assert regraded.points == pytest.approx(report["points"], abs=0.01)
    assert regraded.passed == report["passed"]
    # a batch under the new rubric finds the regraded class graded (eve, who timed out, left out)
    graded_folder = tmp_path / "graded"
    shutil.copytree(folder, graded_folder, ignore=shutil.ignore_patterns("eve.py"))
    again = CliRunner().invoke(main, batch_args(graded_folder, copy, rubric, fake_mnist))
    assert "0 to grade, 4 already graded" in said(again.output)


def test_regrade_refuses_a_rubric_that_changes_training_naming_what_and_leaves_the_gradebook_as_it_was(
    graded_class, tmp_path, fast_rubric_file
):
    _folder, db, _output = graded_class
    copy = tmp_path / "gradebook.sqlite"
    shutil.copy(db, copy)
    before = stored(copy)
    longer = tmp_path / "longer.toml"
    longer.write_text("pass_mark = 10.0\n" + fast_rubric_file.read_text().replace("max_epochs = 40", "max_epochs = 30"))
    result = CliRunner().invoke(main, ["regrade", "--db", str(copy), "--rubric", str(longer)])
    output = exited_cleanly(result, 2)
    assert f"error: --rubric {longer} changes what training measures (problems.iris.max_epochs)" in output
    assert f"hint: grade the class again under it: grade batch SUBMISSIONS --db {copy} --rubric {longer}" in output
    assert stored(copy) == before
    with Gradebook(copy) as gradebook:
        assert gradebook.regrade_log() == []
        assert {row.rubric_digest for row in gradebook.rows()} == {load_rubric(fast_rubric_file).digest}
        assert set(gradebook.trainings()) == {load_rubric(fast_rubric_file).digest}  # the refused one not kept
    default = exited_cleanly(CliRunner().invoke(main, ["regrade", "--db", str(copy)]), 2)
    assert "error: the default rubric changes what training measures (limits.grace_seconds, " in default


def test_regrade_of_a_gradebook_that_kept_no_training_part_says_it_cannot_check_it(graded_class, tmp_path):
    _folder, db, _output = graded_class
    copy = tmp_path / "gradebook.sqlite"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as connection:  # as schema 2 left it: no training parts
        connection.execute("DROP TABLE trainings")
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    connection.close()
    result = CliRunner().invoke(main, ["regrade", "--db", str(copy)])
    assert result.exit_code == 0, result.output
    assert f"warning: 4 results were graded before {copy} kept the rubric's training part" in said(result.output)
    with Gradebook(copy) as gradebook:
        assert set(gradebook.trainings()) == {load_rubric().digest}  # checked from now on


def test_a_roster_names_the_students_and_a_roster_without_ids_is_refused(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("ID,Name,Email\nada,Ada Lovelace,ada@example.org\n")
    assert read_roster(roster)["ada"].email == "ada@example.org"
    roster.write_text("student,name\nada,Ada\n")
    with pytest.raises(SubmissionError, match="no 'id' column"):
        read_roster(roster)


def test_the_content_hash_ignores_caches_and_sees_every_file(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "submission.py").write_text("x = 1\n")
    before = content_hash(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "submission.cpython-311.pyc").write_bytes(b"\0")
    assert content_hash(folder) == before
    (folder / "helpers.py").write_text("y = 2\n")
    assert content_hash(folder) != before


def test_a_result_is_one_transaction(tmp_path, monkeypatch):
    """A failure halfway through storing a result leaves the previous result whole."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.py").write_text("x = 1\n")
    [entry], _refused = find_entries(folder)
    key = GradingKey("default", "d", "{}", "test")
    with Gradebook(tmp_path / "g.sqlite") as gradebook:
        gradebook.record(entry, Outcome("error", "", "first", "", 1.0), key)
        write = Gradebook._write

        def write_then_fail(self, row, report):
            write(self, row, report)
            raise OSError("disk full")

        monkeypatch.setattr(Gradebook, "_write", write_then_fail)
        with pytest.raises(OSError):
            gradebook.record(entry, Outcome("error", "", "second", "", 1.0), key)
    with Gradebook(tmp_path / "g.sqlite") as reopened:
        assert reopened.get("ada").error == "first"


def test_export_writes_each_format_from_the_gradebook(graded_class, tmp_path):
    _folder, db, _output = graded_class

    def export(*args: str):
        result = CliRunner().invoke(main, ["export", "--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return result

    plain = list(csv.DictReader(io.StringIO(export("--format", "csv").stdout)))
    assert [row["student_id"] for row in plain] == sorted(STATUS_OF_CLASS)
    canvas = list(csv.reader(io.StringIO(export("--format", "canvas", "--points-possible", "10").stdout)))
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][-1] == "10"
    assert len(canvas) == 2 + len(STATUS_OF_CLASS)
    export("--format", "summary", "--out", str(tmp_path / "class.html"))
    assert "eve" in (tmp_path / "class.html").read_text()
    export("--format", "feedback", "--out", str(tmp_path / "feedback"))
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == sorted(STATUS_OF_CLASS)
    missing = CliRunner().invoke(main, ["export", "--db", str(tmp_path / "none.sqlite"), "--format", "csv"])
    assert missing.exit_code == 2 and "no such gradebook" in said(missing.output)


def exited_cleanly(result, code: int) -> str:
    """The command exited with ``code`` through the grader's own error path (no traceback); its output."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return said(result.output)


def a_class_of_one(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ada.py").write_text("x = 1\n")
    return folder


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,name\nada,Adèle\n".encode("latin-1"), "the roster is not UTF-8 text (byte 0xe8 on line 2)"),
        (
            b"id,name\nada,Ada\nbob,Bob\nada,Ada L.\nbob,Bo\n",
            "the roster lists the same id more than once: ada (lines 2, 4); bob (lines 3, 5)",
        ),
        (b"student,name\nada,Ada\n", "the roster has no 'id' column (it has: student, name)"),
    ],
)
def test_a_roster_that_cannot_be_read_stops_grade_batch_with_exit_2_naming_the_file(tmp_path, content, message):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(content)
    with pytest.raises(SubmissionError) as raised:
        read_roster(roster)
    assert raised.value.message == f"{roster}: {message}"
    folder, db = a_class_of_one(tmp_path / "class"), tmp_path / "g.sqlite"
    result = CliRunner().invoke(main, ["batch", str(folder), "--db", str(db), "--roster", str(roster), "--no-progress"])
    assert f"error: {roster}: {message}" in exited_cleanly(result, 2)
    assert not db.exists()  # nothing was started


@pytest.fixture(params=["garbage", "foreign"])
def not_a_gradebook(request, tmp_path) -> tuple[Path, str]:
    """A --db file that is no gradebook: random bytes, or another program's SQLite database."""
    db = tmp_path / "g.sqlite"
    if request.param == "garbage":
        db.write_bytes(b"\x93NUMPY not a database at all " * 200)
        return db, f"{db}: not a gradebook, or a damaged one (file is not a database)"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    connection.close()
    return db, f"{db}: not a gradebook (an SQLite database with other tables: customers, orders)"


@pytest.mark.parametrize("command", ["batch", "regrade", "export"])
def test_a_db_that_is_not_a_gradebook_exits_2_and_is_left_as_it_was(tmp_path, not_a_gradebook, command):
    db, message = not_a_gradebook
    before = db.read_bytes()
    args = {
        "batch": ["batch", str(a_class_of_one(tmp_path / "class")), "--no-progress"],
        "regrade": ["regrade"],
        "export": ["export", "--format", "csv"],
    }[command]
    output = exited_cleanly(CliRunner().invoke(main, [*args, "--db", str(db)]), 2)
    assert f"error: {message}" in output
    assert "hint: give --db" in output
    assert db.read_bytes() == before


def test_a_stored_result_that_cannot_be_read_stops_regrade_naming_the_student(tmp_path):
    db = tmp_path / "g.sqlite"
    [entry], _refused = find_entries(a_class_of_one(tmp_path / "class"))
    with Gradebook(db) as gradebook:
        gradebook.record(entry, Outcome("graded", "", "", "", 1.0), GradingKey("default", "d", "{}", "test"))
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE results SET report_json = '[1, 2' WHERE student_id = 'ada'")
    connection.close()
    output = exited_cleanly(CliRunner().invoke(main, ["regrade", "--db", str(db)]), 2)
    assert f"error: {db}: the stored result of ada cannot be read (JSONDecodeError:" in output


@contextmanager
def locked(db: Path, seconds: float | None = None) -> Iterator[None]:
    """Another program holds ``db`` locked (BEGIN EXCLUSIVE): for ``seconds`` from a thread of its own, or
    until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")
        holding.set()
        release.wait(seconds)
        connection.execute("COMMIT")
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        yield
    finally:
        release.set()
        holder.join()


KEY = GradingKey("default", "d", "{}", "test")


def test_a_result_waits_for_a_gradebook_another_program_holds_locked(tmp_path):
    [entry], _refused = find_entries(a_class_of_one(tmp_path / "class"))
    with Gradebook(tmp_path / "g.sqlite", busy_seconds=0.2, write_attempts=20) as gradebook:
        started = time.monotonic()
        with locked(gradebook.path, seconds=1.0):
            gradebook.record(entry, Outcome("graded", "", "", "", 1.0), KEY)
        assert time.monotonic() - started >= 1.0  # it waited out the lock
        assert gradebook.get("ada").status == "graded"


def test_a_result_the_gradebook_never_takes_is_reported_and_the_previous_one_stays_whole(tmp_path):
    [entry], _refused = find_entries(a_class_of_one(tmp_path / "class"))
    with Gradebook(tmp_path / "g.sqlite", busy_seconds=0.1, write_attempts=3) as gradebook:
        gradebook.record(entry, Outcome("error", "", "first", "", 1.0), KEY)
        with locked(gradebook.path), pytest.raises(GradebookError) as raised:
            gradebook.record(entry, Outcome("graded", "", "", "", 1.0), KEY)
        assert raised.value.message.startswith(
            f"{gradebook.path}: the result of ada could not be stored after waiting 0.3 s (database is locked)"
        )
        assert "run grade batch again" in raised.value.hint
        assert gradebook.get("ada").error == "first"


class LockingBackend:
    """Hands each job its outcome at once, with the gradebook locked by another program while ``locked_for``'s
    result is stored."""

    def __init__(self, db: Path, locked_for: str) -> None:
        self.db, self.locked_for = db, locked_for

    def run(self, jobs, on_result) -> None:
        for job in jobs:
            outcome = Outcome("error", "", f"graded {job.entry.student.id}", "", 0.1)
            if job.entry.student.id == self.locked_for:
                with locked(self.db):
                    on_result(job, outcome)
            else:
                on_result(job, outcome)


def test_a_batch_goes_on_past_a_result_it_could_not_store(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for student in ("ada", "bob", "cyd"):
        (folder / f"{student}.py").write_text(f"who = '{student}'\n")
    entries, _refused = find_entries(folder)
    not_stored = []
    with Gradebook(tmp_path / "g.sqlite", busy_seconds=0.1, write_attempts=2) as gradebook:
        result = run_batch(
            plan_batch(entries, gradebook, KEY),
            gradebook,
            LockingBackend(gradebook.path, locked_for="bob"),
            KEY,
            lambda entry: GradingJob(entry, (), None, None, 10.0, False),
            on_not_stored=lambda entry, error: not_stored.append((entry.student.id, error.message)),
        )
        assert sorted(row.student.id for row in gradebook.rows()) == ["ada", "cyd"]
    assert [student for student, _message in not_stored] == ["bob"]
    assert "the result of bob could not be stored" in not_stored[0][1]
    assert result.counts[NOT_STORED] == 1 and result.counts["error"] == 2


def test_an_entry_linking_out_of_the_submissions_folder_is_refused_unread(tmp_path, monkeypatch):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret:19000:0:99999:7:::\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "submission.py").write_text("SECRET = 1\n")
    folder = a_class_of_one(tmp_path / "class")
    (folder / "eve.py").symlink_to(secret)
    (folder / "mal").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (folder / "ada_again.py").symlink_to(folder / "ada.py")  # inside the folder: an entry like any other
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read.append(path.resolve()) or original(path))
    entries, refused = find_entries(folder)
    assert [entry.student.id for entry in entries] == ["ada", "ada_again"]
    assert [(entry.student.id, entry.reason) for entry in refused] == [("eve", OUTSIDE), ("mal", OUTSIDE)]
    assert secret not in read and tmp_path / "elsewhere" / "submission.py" not in read


def test_grade_batch_records_a_link_out_of_the_folder_as_not_gradable_and_never_reads_it(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret:19000:0:99999:7:::\n")
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "eve.py").symlink_to(secret)
    db = tmp_path / "g.sqlite"
    output = exited_cleanly(CliRunner().invoke(main, ["batch", str(folder), "--db", str(db), "--no-progress"]), 0)
    assert "0 submissions in" in output and "1 not gradable" in output
    assert f"eve.py: not graded, not read: {OUTSIDE}" in output
    with Gradebook(db) as gradebook:
        eve = gradebook.get("eve")
    assert (eve.status, eve.error, eve.report_json) == ("ungradable", f"not graded: {OUTSIDE}", None)
    assert b"secret" not in db.read_bytes()


def test_a_class_is_not_graded_where_students_could_write_each_others_grades(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "none")
    folder, db = a_class_of_one(tmp_path / "class"), tmp_path / "g.sqlite"
    refused = CliRunner().invoke(main, ["batch", str(folder), "--db", str(db), "--no-progress"])
    output = exited_cleanly(refused, 2)
    assert (
        "error: the sandbox here is 'none' (walled off: nothing): each student's code would run as this user" in output
    )
    assert "--allow-partial-isolation grades anyway" in output
    assert not db.exists()  # nothing was started
    allowed = CliRunner().invoke(
        main, ["batch", str(folder), "--db", str(db), "--no-progress", "--allow-partial-isolation"]
    )
    assert "warning: the sandbox here is 'none'" in allowed.output
    assert stored(db)["ada"][0] == "ungradable"  # graded all the same: it builds no model
