"""A class's submissions: one entry per student in a folder, the entry's name being the student id,
and an optional roster mapping ids to names and e-mails."""

from __future__ import annotations

import csv
import hashlib
import io
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


@dataclass(frozen=True)
class Refused:
    """An entry of the submissions folder that is not graded, nor even read, and why."""

    student: Student
    path: Path
    reason: str


OUTSIDE = "a link to outside the submissions folder"


def find_entries(folder: Path, roster: dict[str, Student] | None = None) -> tuple[list[Entry], list[Refused]]:
    """Every submission in ``folder`` sorted by student id, and the entries refused: links to anything
    outside ``folder`` (never followed: ``eve.py -> /etc/shadow`` must not end up in a report) and files
    that cannot be read."""
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder", "pass the folder that holds one entry per student")
    roster = roster or {}
    inside = folder.resolve()
    entries, refused = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in SKIPPED_NAMES:
            continue
        if path.is_symlink() and _leads_outside(path, inside):
            student_id = path.stem if path.suffix in SUFFIXES else path.name
            refused.append(Refused(roster.get(student_id, Student(student_id)), path, OUTSIDE))
            continue
        if path.is_file() and path.suffix not in SUFFIXES:
            continue
        student_id = path.stem if path.is_file() else path.name
        student = roster.get(student_id, Student(student_id))
        try:
            entries.append(Entry(student, path, content_hash(path)))
        except OSError as error:
            refused.append(Refused(student, path, f"cannot be read ({error.strerror or error})"))
    ids = [entry.student.id for entry in [*entries, *refused]]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise SubmissionError(
            f"{folder}: more than one entry for {', '.join(clashes)} (a folder and a file of the same name?)",
            "keep one entry per student",
        )
    return entries, refused


def _leads_outside(link: Path, inside: Path) -> bool:
    """Whether the link leads out of ``inside`` (a loop leads nowhere: out as well)."""
    try:
        return inside not in link.resolve().parents
    except (OSError, RuntimeError):  # RuntimeError: a loop, before Python 3.13
        return True


def content_hash(path: Path) -> str:
    """The hash of an entry's files (names and bytes), bounded in size. A lone file counts by its bytes
    alone, so ``ada.py`` and ``bob/submission.py`` with the same code are the same submission."""
    files = [path] if path.is_file() else [path / name for name in files_under(path)]
    digest, total = hashlib.sha256(), 0
    for file in files:
        total += file.stat().st_size
        if total > MAX_ENTRY_BYTES:  # told by its size: a huge file is never read into memory
            return f"too-large-{total}"
        content = file.read_bytes()
        name = file.relative_to(path).as_posix() if len(files) > 1 else ""
        digest.update(name.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def read_roster(path: Path) -> dict[str, Student]:
    """A CSV with an ``id`` column and optional ``name`` and ``email`` columns, in UTF-8."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise SubmissionError(
            f"{path}: cannot read the roster ({error.strerror})", "check the path given to --roster"
        ) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise SubmissionError(
            f"{path}: the roster is not UTF-8 text (byte {content[error.start]:#x} on line {line})",
            "save it as UTF-8 (in Excel: CSV UTF-8) and run again",
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
        if "id" not in columns:
            raise SubmissionError(
                f"{path}: the roster has no 'id' column (it has: {', '.join(columns) or 'nothing'})",
                "give it a header line: id,name,email",
            )
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise SubmissionError(
            f"{path}: not a readable CSV roster (line {reader.line_num}: {error})", "save it as CSV: id,name,email"
        ) from None
    students: dict[str, Student] = {}
    lines: dict[str, list[int]] = {}
    for line, row in rows:
        student_id = (row.get(columns["id"]) or "").strip()
        if student_id:
            name, email = (row.get(columns[c], "") if c in columns else "" for c in ("name", "email"))
            students[student_id] = Student(student_id, (name or "").strip(), (email or "").strip())
            lines.setdefault(student_id, []).append(line)
    repeated = {student_id: found for student_id, found in lines.items() if len(found) > 1}
    if repeated:
        listed = "; ".join(f"{i} (lines {', '.join(map(str, found))})" for i, found in sorted(repeated.items()))
        raise SubmissionError(
            f"{path}: the roster lists the same id more than once: {listed}", "keep one line per student"
        )
    return students
