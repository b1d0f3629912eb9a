"""A class's submissions: entries read from a submissions folder (``layouts``: plain, Canvas, Moodle,
Gradescope, GitHub Classroom, or a zip of one), matched to the roster's students by what each layout
carries (an LMS user id, a login, a name), with the instructor's own map file over all of it."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.layouts import OUTSIDE, Found, collect, leads_outside
from grader.content_hash import TooLarge, content_hash
from grader.errors import SubmissionError

SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".git"}
SUFFIXES = (".py", ".ipynb")


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
    content_hash: str  # grader.content_hash's: the same as the entry's report gives
    late: bool = False  # the LMS said it came after the deadline
    label: str = ""  # its name as handed in (``smithalice_12345_67890_hw.ipynb``), where not ``path``'s


@dataclass(frozen=True)
class Refused:
    """An entry of the submissions folder that is not graded, nor even read, and why."""

    student: Student
    path: Path
    reason: str
    label: str = ""


def find_entries(folder: Path, roster: dict[str, Student] | None = None) -> tuple[list[Entry], list[Refused]]:
    """Every submission in ``folder`` sorted by student id, and the entries refused: links to anything
    outside ``folder`` (never followed: ``eve.py -> /etc/shadow`` must not end up in a report) and files
    that cannot be read."""
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder", "pass the folder that holds one entry per student")
    roster = roster or {}
    inside = folder.resolve()
    entries: list[Entry] = []
    refused: list[Refused] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in SKIPPED_NAMES:
            continue
        if path.is_symlink() and leads_outside(path, inside):
            student_id = path.stem if path.suffix in SUFFIXES else path.name
            refused.append(Refused(roster.get(student_id, Student(student_id)), path, OUTSIDE))
            continue
        if path.is_file() and path.suffix not in SUFFIXES:
            continue
        student_id = path.stem if path.is_file() else path.name
        student = roster.get(student_id, Student(student_id))
        try:
            entries.append(Entry(student, path, content_hash(path)))
        except (OSError, TooLarge) as error:
            refused.append(Refused(student, path, _why_not_hashed(error)))
    ids = [entry.student.id for entry in entries] + [entry.student.id for entry in refused]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise SubmissionError(
            f"{folder}: more than one entry for {', '.join(clashes)} (a folder and a file of the same name?)",
            "keep one entry per student",
        )
    return entries, refused


def _why_not_hashed(error: OSError | TooLarge) -> str:
    return error.message if isinstance(error, TooLarge) else f"cannot be read ({error.strerror or error})"


def read_roster(path: Path) -> Roster:
    """A CSV with an ``id`` column and optional ``name`` and ``email`` columns, in UTF-8, and any of the
    columns an LMS's names are matched against (``KEY_COLUMNS``: ``login``, ``canvas_id``, ...)."""
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
    students = Roster()
    lines: dict[str, list[int]] = {}
    for line, row in rows:
        values = {c: (row.get(columns[c]) or "").strip() for c in KEY_COLUMNS if c in columns}
        student_id = values["id"]
        if student_id:
            students[student_id] = Student(student_id, values.get("name", ""), values.get("email", ""))
            students.add_keys(student_id, values)
            lines.setdefault(student_id, []).append(line)
    repeated = {student_id: found for student_id, found in lines.items() if len(found) > 1}
    if repeated:
        listed = "; ".join(f"{i} (lines {', '.join(map(str, found))})" for i, found in sorted(repeated.items()))
        raise SubmissionError(
            f"{path}: the roster lists the same id more than once: {listed}", "keep one line per student"
        )
    return students


KEY_COLUMNS = ("id", "login", "email", "canvas_id", "moodle_id", "github", "name")
AMBIGUOUS = ""  # a key two students share: it matches neither


class Roster(dict[str, Student]):
    """The class: student id -> Student, and an index of every key column (``KEY_COLUMNS``) to the id, for
    matching an LMS's names. A name is matched without case, accents or punctuation, in either order
    (``smithalice`` is Alice Smith), and only where no other student has it."""

    def __init__(self) -> None:
        super().__init__()
        self.index: dict[str, dict[str, str]] = {}

    def add_keys(self, student_id: str, values: dict[str, str]) -> None:
        for column, value in values.items():
            for form in _forms(column, value):
                known = self.index.setdefault(column, {})
                known[form] = student_id if known.get(form, student_id) == student_id else AMBIGUOUS

    def find(self, column: str, value: str) -> str | None:
        """The id of the one student whose ``column`` holds ``value``, or None."""
        known = self.index.get(column, {})
        found = {known.get(form) for form in _forms(column, value)} - {None}
        return found.pop() if len(found) == 1 and AMBIGUOUS not in found else None


def _forms(column: str, value: str) -> set[str]:
    if not value:
        return set()
    if column != "name":
        return {value.strip().casefold()}
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", plain)
    if not words:
        return set()
    if "," in value:  # "Smith, Alice": the family name first
        return {"".join(words), "".join(words[1:] + words[:1])}
    return {"".join(words), "".join(words[-1:] + words[:-1])}


@dataclass(frozen=True)
class Mapping:
    """How one entry was matched: to which student, by which key (a roster column, ``map file``), or to
    no roster student (``on_roster`` False: graded under the id its name gives)."""

    found: Found
    student: Student
    matched_by: str
    on_roster: bool


@dataclass
class Gathered:
    """A submissions folder read and matched: what to grade, what not and why, and the plan of it all."""

    layout: str
    entries: list[Entry] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    mappings: list[Mapping] = field(default_factory=list)
    missing: list[Student] = field(default_factory=list)  # roster students with no entry


def read_map(path: Path) -> dict[str, str]:
    """The instructor's map file: a CSV ``entry,student_id`` (entry as ``--plan`` names it; an empty id
    leaves the entry out)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = [(name or "").strip().lower() for name in reader.fieldnames or []]
        if "entry" not in fields or "student_id" not in fields:
            raise SubmissionError(
                f"{path}: the map file needs columns entry,student_id (it has: {', '.join(fields) or 'nothing'})",
                "write one line per entry to map: entry,student_id (the entry as grade batch --plan names it)",
            )
        reader.fieldnames = fields
        return {(row["entry"] or "").strip(): (row["student_id"] or "").strip() for row in reader}
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SubmissionError(f"{path}: cannot read the map file ({error})", "save it as UTF-8 CSV") from None


def gather(
    folder: Path,
    staging: Path,
    roster: Roster | None = None,
    *,
    layout: str = "auto",
    overrides: dict[str, str] | None = None,
    map_file: Path | None = None,
) -> Gathered:
    """Read ``folder`` in its layout and match each entry to a roster student: by the map file where it
    names the entry, else by the first of the entry's keys that finds exactly one student. An entry that
    cannot be read, or a second entry for one student, is refused (with why), never fatal."""
    collected = collect(folder, staging, layout)
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {found.label for found in collected.found})
    if unknown and map_file is not None:
        raise SubmissionError(
            f"{map_file}: no entry is named {', '.join(map(repr, unknown))}",
            "name entries as grade batch --plan shows them",
        )
    gathered = Gathered(collected.layout)
    taken: dict[str, str] = {}
    for found in collected.found:
        mapping = _match(found, roster, overrides, map_file)
        if mapping is None:
            continue
        gathered.mappings.append(mapping)
        student = mapping.student
        if found.refused:
            gathered.refused.append(Refused(student, found.path, found.refused, found.label))
            continue
        if student.id in taken:
            reason = f"{student.id} also handed in {taken[student.id]}: choose one with --map FILE.csv"
            gathered.refused.append(Refused(Student(f"{student.id} ({found.label})"), found.path, reason, found.label))
            continue
        taken[student.id] = found.label
        try:
            digest = content_hash(found.path)
        except (OSError, TooLarge) as error:
            gathered.refused.append(Refused(student, found.path, _why_not_hashed(error), found.label))
            continue
        gathered.entries.append(Entry(student, found.path, digest, found.late, found.label))
    handed_in = {mapping.student.id for mapping in gathered.mappings}
    gathered.missing = [student for sid, student in sorted((roster or {}).items()) if sid not in handed_in]
    gathered.entries.sort(key=lambda entry: entry.student.id)
    return gathered


def _match(found: Found, roster: Roster | None, overrides: dict[str, str], map_file: Path | None) -> Mapping | None:
    if found.label in overrides:
        student_id = overrides[found.label]
        if not student_id:
            return None  # the map file leaves it out
        if roster and student_id not in roster:
            raise SubmissionError(
                f"{map_file}: {found.label!r} is mapped to {student_id!r}, who is not on the roster",
                "map it to a roster id, or leave its student_id empty to leave it out",
            )
        student = roster[student_id] if roster else Student(student_id)
        return Mapping(found, student, "map file", bool(roster))
    if roster:
        for column, value in found.keys:
            matched = roster.find(column, value)
            if matched is not None:
                return Mapping(found, roster[matched], column, True)
    return Mapping(found, Student(found.fallback_id), "", False)
