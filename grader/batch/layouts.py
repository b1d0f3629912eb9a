"""Submissions as LMSs hand them out, read into one list of entries, each with what its name tells about
the student (an LMS user id, a login, a name), for ``submissions.match`` to find on the roster.

One small reader per layout:

- ``plain``: one entry per student, named by the student id (a folder, a notebook or a module).
- ``canvas``: Canvas' "Download submissions": ``login[_late]_USERID_SUBMISSIONID_file.ext`` per file
  (``smithalice_12345_67890_hw.ipynb``); a student's files are gathered into a folder of their own,
  under their own names, and ``_late_`` is kept as the late flag.
- ``moodle``: Moodle's "Download all submissions": ``Full Name_PARTICIPANTID_assignsubmission_file_``
  (a folder, or a prefix of each file's name when not downloaded in folders).
- ``gradescope``: Gradescope's "Export submissions": a folder per submission and a
  ``submission_metadata.yml`` naming its submitters (``:name:``, ``:sid:``, ``:email:``); each submitter
  of a group submission gets the group's entry.
- ``classroom``: GitHub Classroom's clones, ``assignment-login`` each.

A zip of any of them is extracted first (``extract_zip``): no member outside the folder, no links, a
bounded size and count. nbgrader's ``zip_collect`` maps files by one regular expression the instructor
writes; these readers know each LMS's names instead, and say before grading what matched (``--plan``).
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.content_hash import files_under
from grader.errors import SubmissionError

LAYOUTS = ("plain", "canvas", "moodle", "gradescope", "classroom")
SUFFIXES = (".py", ".ipynb")
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX"}
GRADESCOPE_METADATA = "submission_metadata.yml"
MAX_ZIP_BYTES = 500 * 2**20  # all members, uncompressed
MAX_ZIP_MEMBER_BYTES = 50 * 2**20
MAX_ZIP_MEMBERS = 20_000
CANVAS_NAME = re.compile(r"^(?P<login>[^_]+?)(?P<late>_late)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
MOODLE_NAME = re.compile(
    r"^(?P<name>.+?)_(?P<participant>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z]+)_?(?P<file>.*)$"
)
ZIP_HINT = "extract it yourself, look at what it holds, and pass the folder"


@dataclass(frozen=True)
class Found:
    """One entry as handed in: the files to grade, its name in the submissions folder, and the roster keys
    its layout carries, most telling first (``("canvas_id", "12345")``, ``("login", "smithalice")``)."""

    path: Path
    label: str  # the entry's name as handed in, for the plan and the gradebook
    keys: tuple[tuple[str, str], ...]
    fallback_id: str  # its student id when it matches no roster student
    layout: str
    late: bool = False
    refused: str = ""  # why it is not graded (a link out of the folder), or nothing


@dataclass
class Collected:
    layout: str
    found: list[Found] = field(default_factory=list)


def detect(folder: Path) -> str:
    """Which LMS's layout ``folder`` is, told from its names."""
    names = [path.name for path in folder.iterdir() if path.name not in SKIPPED and not path.name.startswith(".")]
    if (folder / GRADESCOPE_METADATA).is_file():
        return "gradescope"
    if any(MOODLE_NAME.match(name) for name in names):
        return "moodle"
    if any(CANVAS_NAME.match(name) for name in names if (folder / name).is_file()):
        return "canvas"
    folders = [folder / name for name in names if (folder / name).is_dir()]
    if folders and all((path / ".git").exists() for path in folders) and _classroom_prefix(folders):
        return "classroom"
    return "plain"


def collect(folder: Path, staging: Path, layout: str = "auto") -> Collected:
    """The entries of ``folder`` (a folder, or a zip of one) in ``layout`` (or the one detected); files
    that need a folder of their own (Canvas, Moodle, a zip) are copied under ``staging``, which stays: the
    gradebook names those copies, for feedback and the class summary to read again."""
    if folder.is_file():
        if not zipfile.is_zipfile(folder):
            raise SubmissionError(f"{folder}: not a folder nor a zip archive", "pass the submissions folder or its zip")
        shutil.rmtree(staging / "archive", ignore_errors=True)
        folder = _single_folder(extract_zip(folder, staging / "archive"))
    if layout == "auto":
        layout = detect(folder)
    if layout not in READERS:
        raise SubmissionError(f"unknown layout {layout!r}", f"choose one of: auto, {', '.join(LAYOUTS)}")
    return Collected(layout, READERS[layout](folder, staging / "entries"))


def read_plain(folder: Path, staging: Path) -> list[Found]:
    """An entry per student, named by the student id (the existing convention)."""
    inside, found = folder.resolve(), []
    for path in _children(folder):
        if path.is_file() and path.suffix not in SUFFIXES and not path.is_symlink():
            continue
        stem = path.stem if path.suffix in SUFFIXES else path.name
        keys = tuple((column, stem) for column in ("id", "login", "email", "github"))
        refused = OUTSIDE if path.is_symlink() and leads_outside(path, inside) else ""
        found.append(Found(path, path.name, keys, stem, "plain", refused=refused))
    return found


def read_canvas(folder: Path, staging: Path) -> list[Found]:
    """Canvas names each file ``login[_late]_userid_submissionid_name``: one folder per user id."""
    by_user: dict[str, list[tuple[re.Match[str], Path]]] = defaultdict(list)
    for path in _children(folder):
        named = CANVAS_NAME.match(path.name)
        if named and path.is_file():
            by_user[named["user"]].append((named, path))
    found = []
    for user, files in sorted(by_user.items()):
        login = files[0][0]["login"]
        target = _stage(staging / f"canvas-{user}", [(named["file"], path) for named, path in files])
        keys = (("canvas_id", user), ("login", login), ("name", login), ("id", login))
        label = ", ".join(path.name for _, path in files)
        late = any(named["late"] for named, _ in files)
        found.append(Found(target, label, keys, login, "canvas", late=late))
    return found


def read_moodle(folder: Path, staging: Path) -> list[Found]:
    """Moodle's ``Full Name_participantid_assignsubmission_file_``: folders, or a prefix of each file."""
    by_participant: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    names: dict[str, str] = {}
    labels: dict[str, list[str]] = defaultdict(list)
    for path in _children(folder):
        named = MOODLE_NAME.match(path.name)
        if not named or named["plugin"] != "file":  # online text and feedback files hold no code
            continue
        participant = named["participant"]
        names[participant] = named["name"]
        labels[participant].append(path.name)
        if path.is_dir():
            by_participant[participant] += [(name, path / name) for name in files_under(path)]
        elif named["file"]:
            by_participant[participant].append((named["file"], path))
    found = []
    for participant, files in sorted(by_participant.items()):
        target = _stage(staging / f"moodle-{participant}", files)
        keys = (("moodle_id", participant), ("name", names[participant]))
        found.append(Found(target, ", ".join(labels[participant]), keys, names[participant], "moodle"))
    return found


def read_gradescope(folder: Path, staging: Path) -> list[Found]:
    """Gradescope's export: ``submission_metadata.yml`` maps each submission folder to its submitters."""
    metadata_path = folder / GRADESCOPE_METADATA
    metadata = _gradescope_metadata(metadata_path)
    found = []
    for name, submission in sorted(metadata.items()):
        path = folder / str(name)
        if not isinstance(submission, dict) or not path.is_dir() or "/" in str(name) or str(name).startswith("."):
            continue
        submitters = _field(submission, "submitters")
        for who in submitters if isinstance(submitters, list) else []:
            if not isinstance(who, dict):
                continue
            sid, email, full = (str(_field(who, key) or "").strip() for key in ("sid", "email", "name"))
            keys = tuple((column, value) for column, value in (("id", sid), ("email", email), ("name", full)) if value)
            if keys:
                found.append(Found(path, str(name), keys, sid or email or full, "gradescope"))
    return found


def read_classroom(folder: Path, staging: Path) -> list[Found]:
    """GitHub Classroom's clones, ``assignment-login``: the login is the name less the common prefix."""
    folders = [path for path in _children(folder) if path.is_dir() and not path.is_symlink()]
    prefix = _classroom_prefix(folders)
    found = []
    for path in folders:
        login = path.name[len(prefix) :] if prefix and path.name.startswith(prefix) else path.name
        keys = (("github", login), ("login", login), ("id", login))
        found.append(Found(path, path.name, keys, login, "classroom"))
    return found


READERS: dict[str, Callable[[Path, Path], list[Found]]] = {
    "plain": read_plain,
    "canvas": read_canvas,
    "moodle": read_moodle,
    "gradescope": read_gradescope,
    "classroom": read_classroom,
}
OUTSIDE = "a link to outside the submissions folder"


def extract_zip(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into``, refusing what could harm: a member named outside it (absolute,
    ``..``, a drive), a link, more than MAX_ZIP_MEMBERS members or MAX_ZIP_BYTES in all (counted as
    written, not as the archive claims)."""
    hint = ZIP_HINT
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise SubmissionError(f"{archive}: {len(members)} members, more than {MAX_ZIP_MEMBERS}", hint)
            into.mkdir(parents=True, exist_ok=True)
            budget = [MAX_ZIP_BYTES]
            for member in members:
                _extract_member(zipped, member, into, archive, budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError) as error:
        raise SubmissionError(f"{archive}: cannot extract the zip archive ({error})", hint) from None
    return into


def _extract_member(
    zipped: zipfile.ZipFile, member: zipfile.ZipInfo, into: Path, archive: Path, budget: list[int]
) -> None:
    """One member, written in chunks and counted as written: a lying header cannot fill the disk."""
    hint = ZIP_HINT
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise SubmissionError(f"{archive}: member {member.filename!r} would be written outside the folder", hint)
    if stat.S_ISLNK(member.external_attr >> 16):
        raise SubmissionError(f"{archive}: member {member.filename!r} is a link", hint)
    if not parts or parts[0] in SKIPPED:
        return
    target = into.joinpath(*parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    limit = min(MAX_ZIP_MEMBER_BYTES, budget[0])
    with zipped.open(member) as source, target.open("wb") as out:
        written = 0
        while chunk := source.read(2**20):
            written += len(chunk)
            if written > limit:
                what = f"more than {MAX_ZIP_MEMBER_BYTES // 2**20} MiB" if limit == MAX_ZIP_MEMBER_BYTES else "too much"
                raise SubmissionError(f"{archive}: member {member.filename!r} unpacks to {what}", hint)
            out.write(chunk)
    budget[0] -= written


def leads_outside(link: Path, inside: Path) -> bool:
    """Whether the link leads out of ``inside`` (a loop leads nowhere: out as well)."""
    try:
        return inside not in link.resolve().parents
    except (OSError, RuntimeError):  # RuntimeError: a loop, before Python 3.13
        return True


def _children(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.name not in SKIPPED and not p.name.startswith(".")]


def _stage(target: Path, files: list[tuple[str, Path]]) -> Path:
    """Copy ``files`` (their name in the entry, where they are) into ``target``, emptied first (a file a
    student removed since must not stay); a link is never copied."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    for name, source in files:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if source.is_symlink() or not parts or ".." in parts:
            continue
        destination = target.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    return target


def _single_folder(folder: Path) -> Path:
    """A zip often wraps its entries in one folder: read inside it, unless that folder is itself one
    student's entry (code at its top, or Moodle's name)."""
    children = _children(folder)
    if len(children) == 1 and children[0].is_dir() and not (folder / GRADESCOPE_METADATA).exists():
        inner = children[0]
        if not MOODLE_NAME.match(inner.name) and (detect(inner) != "plain" or not _looks_like_entry(inner)):
            return inner
    return folder


def _looks_like_entry(folder: Path) -> bool:
    """A lone folder that is itself a submission (it holds code at its top)."""
    return any(path.suffix in SUFFIXES for path in folder.iterdir() if path.is_file())


def _classroom_prefix(folders: list[Path]) -> str:
    """The ``assignment-`` prefix every clone shares, up to and with its last hyphen."""
    names = [path.name for path in folders]
    if not names:
        return ""
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = common.rfind("-")
    if len(names) == 1:
        cut = names[0].find("-")
    return common[: cut + 1] if cut > 0 else ""


def _gradescope_metadata(path: Path) -> dict[object, object]:
    import yaml  # here, not at the top: only a Gradescope export pays for importing it

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SubmissionError(
            f"{path}: cannot read Gradescope's submission metadata ({type(error).__name__}: {error})",
            "export the submissions from Gradescope again, or pass --map FILE.csv with --layout plain",
        ) from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{path}: not Gradescope's submission metadata (no mapping at its top)", "export again")
    return data


def _field(mapping: dict[object, object], name: str) -> object:
    """Gradescope writes Ruby symbols as keys (``:sid:``): read ``:sid`` or ``sid``."""
    return mapping.get(f":{name}", mapping.get(name))
