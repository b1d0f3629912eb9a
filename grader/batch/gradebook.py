"""The gradebook: one SQLite database per class (standard library ``sqlite3``, WAL mode).

One row per student holds the latest result: what was graded (content hash), under what (rubric digest,
grader version), how it went (status, error, log tail, device, seconds) and the whole JSON report, which
carries the raw measurements (per model, per epoch) and the scores. A ``models`` table repeats each
model's numbers for plain SQL. Each result is written in one transaction the moment it is known, so a
batch killed at any point loses nothing already graded and never leaves half a row. A gradebook another
program holds locked is waited for, generously; a result that still cannot be written is reported, and
the batch goes on.

The report JSON was written by the grader's own process from its measurements; it is parsed as JSON,
never unpickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from grader.batch.run_one import Outcome
from grader.batch.submissions import Entry, Student
from grader.errors import GraderError
from grader.records import Measurements
from grader.report import Report
from grader.rubric import Rubric

SCHEMA_VERSION = 3  # 2: results.late and results.entry, the roster and regrade_log tables; 3: trainings
BUSY_SECONDS = 60.0  # how long SQLite waits for another program's lock before it gives up, each time
WRITE_ATTEMPTS = 5  # a result is tried this many times: minutes of a locked gradebook lose nothing
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    student_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    rubric_name TEXT NOT NULL,
    rubric_digest TEXT NOT NULL,
    settings TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'ungradable', 'timed_out', 'error')),
    points REAL,
    max_points REAL,
    passed INTEGER,
    error TEXT NOT NULL DEFAULT '',
    log TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    seconds REAL NOT NULL,
    graded_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    report_json TEXT,
    late INTEGER NOT NULL DEFAULT 0,
    entry TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS models (
    student_id TEXT NOT NULL REFERENCES results (student_id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    test_accuracy REAL,
    train_accuracy REAL,
    val_accuracy REAL,
    epochs INTEGER,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    PRIMARY KEY (student_id, model)
);
CREATE TABLE IF NOT EXISTS roster (
    student_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS regrade_log (
    regraded_at TEXT NOT NULL,
    student_id TEXT NOT NULL,
    rubric_name TEXT NOT NULL,
    rubric_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    points_before REAL,
    points_after REAL,
    max_before REAL,
    max_after REAL,
    passed_before INTEGER,
    passed_after INTEGER
);
CREATE TABLE IF NOT EXISTS trainings (
    rubric_digest TEXT PRIMARY KEY,
    training TEXT NOT NULL
);
"""
# From an older schema: what later versions added to the tables it has (new tables come with SCHEMA).
UPGRADES = {
    "1": [
        "ALTER TABLE results ADD COLUMN late INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE results ADD COLUMN entry TEXT NOT NULL DEFAULT ''",
    ],
    "2": [],
}


@dataclass(frozen=True)
class GradingKey:
    """Everything besides the submission that decides its grade: equal keys, equal grades."""

    rubric_name: str
    rubric_digest: str
    settings: str
    grader_version: str

    def matches(self, row: Row) -> bool:
        return (row.rubric_digest, row.settings, row.grader_version) == (
            self.rubric_digest,
            self.settings,
            self.grader_version,
        )


@dataclass(frozen=True)
class Row:
    """A student's latest result, as stored."""

    student: Student
    path: str
    content_hash: str
    rubric_name: str
    rubric_digest: str
    settings: str  # what else decides the grade: mode, problems, seed, device, baselines (JSON)
    grader_version: str
    status: str
    points: float | None
    max_points: float | None
    passed: bool | None
    error: str
    log: str
    device: str
    seconds: float
    graded_at: str
    attempts: int
    report_json: str | None
    late: bool = False  # handed in after the deadline, as the LMS's names said
    entry: str = ""  # the entry's name as handed in
    on_roster: bool | None = None  # not stored: set by ``with_roster`` (None: the gradebook has no roster)

    def report(self) -> Report | None:
        return Report.from_dict(json.loads(self.report_json)) if self.report_json else None


class GradebookError(GraderError):
    """The gradebook cannot be opened, read or written: not a gradebook, damaged, or locked too long."""


class Gradebook:
    """The database, opened (and created) at ``path``; use it from one thread. ``busy_seconds`` and
    ``write_attempts`` bound the wait for a lock held by another program."""

    def __init__(self, path: Path, *, busy_seconds: float = BUSY_SECONDS, write_attempts: int = WRITE_ATTEMPTS) -> None:
        self.path = path
        self.busy_seconds = busy_seconds
        self.write_attempts = write_attempts
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._reported():
            self._db = sqlite3.connect(path, timeout=busy_seconds, isolation_level=None)  # explicit transactions
        try:
            with self._reported():
                self._open()
        except GradebookError:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: Path) -> Gradebook:
        """The gradebook at ``path``, which must exist: a command that reads one never creates an empty one."""
        if not path.exists():
            raise GradebookError(f"{path}: no such gradebook", "grade a class first: grade batch SUBMISSIONS --db FILE")
        return cls(path)

    def _open(self) -> None:
        """Refuse a file that is not a gradebook before changing anything in it, then set it up."""
        tables = [name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if tables and ("meta" not in tables or self._schema_version() is None):
            raise GradebookError(
                f"{self.path}: not a gradebook (an SQLite database with other tables: {', '.join(sorted(tables))})",
                "give --db a new file name, or the gradebook grade batch wrote",
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with _Transaction(self._db):
            for statement in _statements(SCHEMA):  # executescript would commit the transaction
                self._db.execute(statement)
            found = self._schema_version()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif found in UPGRADES:  # an older gradebook: its results kept, the new columns added
                for statement in UPGRADES[found]:
                    self._db.execute(statement)
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            elif found != str(SCHEMA_VERSION):
                raise GradebookError(
                    f"{self.path}: gradebook schema {found}, this grader reads {SCHEMA_VERSION}",
                    "grade into a new gradebook (--db), or use the grader version that wrote this one",
                )

    def _schema_version(self) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if found is None else str(found[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, entry: Entry, outcome: Outcome, key: GradingKey) -> Row:
        """Store one result, replacing the student's previous one, in one transaction. A lock held by
        another program is waited out, ``write_attempts`` times ``busy_seconds``; past that, or on any
        other database error, GradebookError says so and the previous result stays whole."""
        report = Report.from_dict(json.loads(outcome.report_json)) if outcome.report_json else None
        report_json = outcome.report_json or None
        if report is not None and report.measurements.submission.path != str(entry.path):
            # graded elsewhere (a Dask worker's folder) or as a copy's twin: the report names this entry
            report.measurements.submission.path = str(entry.path)
            report_json = json.dumps(report.to_dict(), sort_keys=True, separators=(",", ":"))
        attempt = 1
        while True:
            try:
                with _Transaction(self._db):
                    row = self._row_for(entry, outcome, key, report, report_json)
                    self._write(row, report)
                return row
            except sqlite3.Error as error:
                if _locked(error) and attempt < self.write_attempts:
                    attempt += 1
                    continue
                waited = f" after waiting {attempt * self.busy_seconds:g} s" if _locked(error) else ""
                raise GradebookError(
                    f"{self.path}: the result of {entry.student.id} could not be stored{waited} ({error})",
                    "close what holds the gradebook (an SQLite browser?) and run grade batch again: "
                    "it grades what is not stored",
                ) from None

    def _row_for(
        self, entry: Entry, outcome: Outcome, key: GradingKey, report: Report | None, report_json: str | None
    ) -> Row:
        previous = self._get(entry.student.id)
        attempts = previous.attempts + 1 if previous and previous.content_hash == entry.content_hash else 1
        return Row(
            student=entry.student,
            path=str(entry.path),
            content_hash=entry.content_hash,
            rubric_name=key.rubric_name,
            rubric_digest=key.rubric_digest,
            settings=key.settings,
            grader_version=key.grader_version,
            status=outcome.status,
            points=report.points if report else None,
            max_points=report.max_points if report else None,
            passed=report.passed if report else None,
            error=outcome.error,
            log=outcome.log,
            device=outcome.device,
            seconds=round(outcome.seconds, 3),
            graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            attempts=attempts,
            report_json=report_json,
            late=entry.late,
            entry=entry.label or entry.path.name,
        )

    def rescored(self, row: Row, report: Report, stored_measurements: dict[str, Any], settings: dict[str, Any]) -> Row:
        """Store ``report`` (the row's measurements, ``stored_measurements`` as parsed from the row, under
        another rubric and ``settings``' baselines) in place of the row's scores."""
        without = dataclasses.replace(report, measurements=cast(Measurements, None))  # asdict skips measurements
        data = {**asdict(without), "measurements": stored_measurements}
        new = dataclasses.replace(
            row,
            rubric_name=report.rubric.get("name", ""),
            rubric_digest=report.rubric.get("digest", ""),
            settings=json.dumps(settings, sort_keys=True),
            points=report.points,
            max_points=report.max_points,
            passed=report.passed,
            report_json=json.dumps(data, sort_keys=True, separators=(",", ":")),  # the C encoder: no indent
        )
        self._write(new, report)
        return new

    def get(self, student_id: str) -> Row | None:
        with self._reported():
            return self._get(student_id)

    def rows(self) -> list[Row]:
        with self._reported():
            return [_row(found) for found in self._db.execute(f"SELECT {_COLUMNS} FROM results ORDER BY student_id")]

    def set_roster(self, students: Iterable[Student]) -> None:
        """The class, for exports to list every student (``missing`` where nothing is stored): replaced whole."""
        with self._reported(), _Transaction(self._db):
            self._db.execute("DELETE FROM roster")
            self._db.executemany("INSERT INTO roster VALUES (?, ?, ?)", [(s.id, s.name, s.email) for s in students])

    def roster(self) -> dict[str, Student]:
        """The stored roster (empty where none was given)."""
        with self._reported():
            found = self._db.execute("SELECT student_id, name, email FROM roster ORDER BY student_id")
            return {sid: Student(sid, name, email) for sid, name, email in found}

    def class_rows(self) -> list[Row]:
        """Every stored row and every roster student without one, as ``with_roster`` gives them."""
        return with_roster(self.rows(), self.roster())

    def log_regrade(self, before: Row, after: Row, at: str) -> None:
        """Record what a regrade changed for one student (called inside the regrade's transaction)."""
        self._db.execute(
            "INSERT INTO regrade_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                after.student.id,
                after.rubric_name,
                after.rubric_digest,
                after.status,
                before.points,
                after.points,
                before.max_points,
                after.max_points,
                None if before.passed is None else int(before.passed),
                None if after.passed is None else int(after.passed),
            ),
        )

    def remember_training(self, rubric: Rubric) -> None:
        """Keep the training part of a rubric results are graded (or re-scored) under: ``grade regrade``
        checks a new rubric against the one the measurements were made with."""
        training = json.dumps(rubric.training.to_dict(), sort_keys=True)
        with self._reported(), _Transaction(self._db):
            self._db.execute("INSERT OR REPLACE INTO trainings VALUES (?, ?)", (rubric.digest, training))

    def trainings(self) -> dict[str, dict[str, Any]]:
        """The training part of each rubric kept, by the rubric's digest (a ``Training.to_dict``)."""
        with self._reported():
            found = self._db.execute("SELECT rubric_digest, training FROM trainings")
            return {digest: json.loads(training) for digest, training in found}

    def regrade_log(self) -> list[dict[str, Any]]:
        """Every change a regrade made, oldest first."""
        with self._reported():
            cursor = self._db.execute("SELECT * FROM regrade_log ORDER BY rowid")
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, found, strict=True)) for found in cursor]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """For many writes at once (a regrade): all of them, or none."""
        with self._reported(), _Transaction(self._db):
            yield

    def _get(self, student_id: str) -> Row | None:
        found = self._db.execute(f"SELECT {_COLUMNS} FROM results WHERE student_id = ?", (student_id,)).fetchone()
        return _row(found) if found else None

    @contextlib.contextmanager
    def _reported(self) -> Iterator[None]:
        """SQLite's errors as GradebookError: what is wrong with which file, and what to do."""
        try:
            yield
        except sqlite3.Error as error:
            if _locked(error):
                raise GradebookError(
                    f"{self.path}: the gradebook stayed locked by another program for {self.busy_seconds:g} s",
                    "close what holds it (another grade batch? an SQLite browser?) and run again",
                ) from None
            if isinstance(error, sqlite3.OperationalError):  # cannot open or write it, or its tables are not ours
                raise GradebookError(
                    f"{self.path}: cannot use the gradebook ({error})",
                    "give --db a gradebook grade batch wrote (or a new file name), in a folder you can write to",
                ) from None
            raise GradebookError(
                f"{self.path}: not a gradebook, or a damaged one ({error})",
                "give --db the gradebook grade batch wrote; grading into a new file rebuilds a damaged one",
            ) from None

    def _write(self, row: Row, report: Report | None) -> None:
        values = _values(row)
        self._db.execute(f"INSERT OR REPLACE INTO results ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)
        self._db.execute("DELETE FROM models WHERE student_id = ?", (row.student.id,))
        if report is None:
            return
        for score in report.scores:
            model = report.measurements.model(score.key)
            accuracy = model.accuracy if model else None
            epochs = model.run.epochs_run if model and model.run else None
            self._db.execute(
                "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.student.id,
                    score.key,
                    accuracy.test if accuracy else None,
                    accuracy.train if accuracy else None,
                    accuracy.val if accuracy else None,
                    epochs,
                    score.points,
                    score.max_points,
                ),
            )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (a failed COMMIT too); nested uses join
    the outer one."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        self._outer = not self._db.in_transaction
        if self._outer:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *exc: object) -> None:
        if not self._outer:
            return
        try:
            if kind is None:
                self._db.execute("COMMIT")
        finally:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")


def _locked(error: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock."""
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


_FIELDS = [
    "student_id",
    "name",
    "email",
    "path",
    "content_hash",
    "rubric_name",
    "rubric_digest",
    "settings",
    "grader_version",
    "status",
    "points",
    "max_points",
    "passed",
    "error",
    "log",
    "device",
    "seconds",
    "graded_at",
    "attempts",
    "report_json",
    "late",
    "entry",
]
_COLUMNS = ", ".join(_FIELDS)


def _values(row: Row) -> tuple[object, ...]:
    head = (row.student.id, row.student.name, row.student.email)
    rest = [getattr(row, name) for name in _FIELDS[3:]]
    rest[_FIELDS.index("passed") - 3] = None if row.passed is None else int(row.passed)
    rest[_FIELDS.index("late") - 3] = int(row.late)
    return (*head, *rest)


def _row(found: tuple[object, ...]) -> Row:
    values = dict(zip(_FIELDS, found, strict=True))
    student = Student(str(values.pop("student_id")), str(values.pop("name")), str(values.pop("email")))
    passed = values.pop("passed")
    values["late"] = bool(values["late"])
    return Row(student=student, passed=None if passed is None else bool(passed), **values)  # type: ignore[arg-type]


MISSING = "missing"  # a roster student with nothing handed in: no row is stored, exports list them all the same
NOTHING_HANDED_IN = "nothing was handed in"


def with_roster(rows: Iterable[Row], roster: dict[str, Student]) -> list[Row]:
    """The class as exports show it: every stored row, marked on the roster or not (where there is a
    roster), and a ``missing`` row for each roster student with nothing stored, sorted by id."""
    if not roster:
        return sorted(rows, key=lambda row: row.student.id)
    stored = {row.student.id: dataclasses.replace(row, on_roster=row.student.id in roster) for row in rows}
    for student_id, student in roster.items():
        if student_id not in stored:
            stored[student_id] = missing_row(student)
    return [stored[student_id] for student_id in sorted(stored)]


def missing_row(student: Student) -> Row:
    return Row(
        student=student,
        path="",
        content_hash="",
        rubric_name="",
        rubric_digest="",
        settings="{}",
        grader_version="",
        status=MISSING,
        points=None,
        max_points=None,
        passed=None,
        error=NOTHING_HANDED_IN,
        log="",
        device="",
        seconds=0.0,
        graded_at="",
        attempts=0,
        report_json=None,
        on_roster=True,
    )


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
