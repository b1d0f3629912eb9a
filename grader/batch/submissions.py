"""A class's submissions: one entry per student in a folder, the entry's name being the student id,
and an optional roster mapping ids to names and e-mails."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SubmissionError
from grader.load import files_under

SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".git"}
SUFFIXES = (".py", ".ipynb")
MAX_ENTRY_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class Entry:
    """One student's submission: a folder, a notebook or a module."""

    student: Student
    path: Path
    content_hash: str  # sha256 over the entry's file names and bytes: same files, same hash


def find_entries(folder: Path, roster: dict[str, Student] | None = None) -> list[Entry]:
    """Every submission in ``folder``, sorted by student id."""
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder", "pass the folder that holds one entry per student")
    roster = roster or {}
    entries = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in SKIPPED_NAMES:
            continue
        if path.is_file() and path.suffix not in SUFFIXES:
            continue
        student_id = path.stem if path.is_file() else path.name
        entries.append(Entry(roster.get(student_id, Student(student_id)), path, content_hash(path)))
    ids = [entry.student.id for entry in entries]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise SubmissionError(
            f"{folder}: more than one entry for {', '.join(clashes)} (a folder and a file of the same name?)",
            "keep one entry per student",
        )
    return entries


def content_hash(path: Path) -> str:
    """The hash of an entry's files (names and bytes), bounded in size. A lone file counts by its bytes
    alone, so ``ada.py`` and ``bob/submission.py`` with the same code are the same submission."""
    files = [path] if path.is_file() else [path / name for name in files_under(path)]
    digest, total = hashlib.sha256(), 0
    for file in files:
        content = file.read_bytes()
        total += len(content)
        if total > MAX_ENTRY_BYTES:
            return f"too-large-{total}"
        name = file.relative_to(path).as_posix() if len(files) > 1 else ""
        digest.update(name.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def read_roster(path: Path) -> dict[str, Student]:
    """A CSV with an ``id`` column and optional ``name`` and ``email`` columns."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
        if "id" not in columns:
            raise SubmissionError(
                f"{path}: the roster has no 'id' column (it has: {', '.join(columns) or 'nothing'})",
                "give it a header line: id,name,email",
            )
        students = {}
        for row in reader:
            student_id = (row.get(columns["id"]) or "").strip()
            if student_id:
                name, email = (row.get(columns[c], "") if c in columns else "" for c in ("name", "email"))
                students[student_id] = Student(student_id, (name or "").strip(), (email or "").strip())
        return students
