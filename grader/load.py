"""Load stage: turn the path a user typed into a submission to grade, without running any of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SubmissionError

ENTRY = "submission.py"
SKIPPED_DIRECTORIES = {
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    ".ipynb_checkpoints",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024


@dataclass
class Submission:
    path: str  # as the user gave it
    root: Path  # the directory whose ``files`` are copied into the worker's scratch directory
    entry: str  # the module to import, relative to root
    files: list[str]
    content_hash: str  # sha256 over the files' names and bytes: same files, same hash


def load_submission(path: Path) -> Submission:
    """A ``.py`` file, or a folder holding ``submission.py`` (and any helper modules it imports)."""
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder", "give the path of your submission.py or its folder")
    if path.is_file():
        if path.suffix == ".ipynb":
            raise SubmissionError(
                f"{path}: notebooks are not graded by this version",
                f"export it as a module: jupyter nbconvert --to script {path.name}  and grade the .py file",
            )
        if path.suffix != ".py":
            raise SubmissionError(
                f"{path}: expected a .py file or a folder, got a {path.suffix or 'file'}",
                f"grade the folder holding {ENTRY}, or the .py file itself",
            )
        return _submission(str(path), path.parent, path.name, [path.name])
    if not (path / ENTRY).is_file():
        modules = sorted(p.name for p in path.glob("*.py"))
        found = f"it holds {', '.join(modules)}" if modules else "it holds no .py file"
        raise SubmissionError(
            f"{path}: no {ENTRY} in this folder ({found})",
            f"name your module {ENTRY}, or grade the .py file directly: grade {path}/<file>.py",
        )
    return _submission(str(path), path, ENTRY, _files_under(path))


def _files_under(root: Path) -> list[str]:
    files = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if any(part in SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts):
            continue
        if file.is_file() and not file.is_symlink():
            files.append(relative.as_posix())
    return files


def _submission(given: str, root: Path, entry: str, files: list[str]) -> Submission:
    digest = hashlib.sha256()
    total = 0
    for name in files:
        content = (root / name).read_bytes()
        total += len(content)
        if total > MAX_SUBMISSION_BYTES:
            raise SubmissionError(
                f"{given}: the submission is larger than {MAX_SUBMISSION_BYTES // 2**20} MB",
                "submit code only: leave data sets, checkpoints and virtual environments out of the folder",
            )
        digest.update(name.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return Submission(given, root.resolve(), entry, files, digest.hexdigest())
