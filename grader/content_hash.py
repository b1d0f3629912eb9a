"""One fingerprint for a submission's files, taken the same way wherever it is taken.

The report's ``content_hash``, the gradebook's (which decides whether an entry changed) and the digest
behind the measurements cache's key all come from ``digest``, so one file has one hash everywhere: a
student's notebook graded alone and graded with the class has the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.errors import SubmissionError

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
# What is hashed at most: code and small helper files. A notebook counts by its code, not its outputs, so
# it is read up to a bound of its own: a notebook full of plots is big, but only its code is used.
MAX_BYTES = 50 * 2**20
MAX_NOTEBOOK_BYTES = 500 * 2**20


class TooLarge(SubmissionError):
    """A submission past MAX_BYTES: told by the files' sizes, never read whole, never graded."""


def files_under(root: Path) -> list[str]:
    """The files of a submission folder the grader reads, relative to it: no dot files, caches, virtual
    environments or links."""
    files = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if any(part in SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts):
            continue
        if file.is_file() and not file.is_symlink():
            files.append(relative.as_posix())
    return files


def content_hash(path: Path) -> str:
    """The fingerprint of what was handed in at ``path``: a file, or a folder's ``files_under``. Raises
    TooLarge past MAX_BYTES, and OSError for a file that cannot be read."""
    root, names = (path.parent, [path.name]) if path.is_file() else (path, files_under(path))
    counted: dict[str, bytes] = {}
    room = MAX_BYTES
    for name in names:
        counted[name] = _counted(root / name, room, path)
        room -= len(counted[name])
    return digest(counted)


def digest(files: Mapping[str, bytes], *, named: bool = False) -> str:
    """sha256 over the files' names and contents, in name order. A lone file counts by its content alone,
    so ``ada.py`` and ``bob/submission.py`` holding the same code are the same submission; ``named`` counts
    its name too (the cache: a failure's location names the file)."""
    hashed = hashlib.sha256()
    for name, content in sorted(files.items()):
        label = name if named or len(files) > 1 else ""
        hashed.update(label.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return hashed.hexdigest()


def _counted(file: Path, room: int, given: Path) -> bytes:
    """What of a file the hash covers, if it fits in ``room``: its bytes, or a notebook's code cells (their
    source and tags), so running a notebook again, which changes only its outputs, keeps its fingerprint.
    Sizes are checked before reading: a huge file is never read into memory."""
    notebook = file.suffix == ".ipynb"
    if file.stat().st_size > (MAX_NOTEBOOK_BYTES if notebook else room):
        raise _too_large(given)
    content = _code(file.read_bytes()) if notebook else file.read_bytes()
    if len(content) > room:
        raise _too_large(given)
    return content


def _code(notebook: bytes) -> bytes:
    """A notebook's code cells, or its bytes where it is not a notebook the loader could read either."""
    try:
        cells = json.loads(notebook)["cells"]
        code = [
            [_text(cell["source"]), sorted(cell.get("metadata", {}).get("tags", []))]
            for cell in cells
            if cell.get("cell_type") == "code"
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return notebook
    return json.dumps(code).encode()


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _too_large(path: Path) -> TooLarge:
    return TooLarge(
        f"{path}: the submission is larger than {MAX_BYTES // 2**20} MB",
        "submit code only: leave data sets, checkpoints and virtual environments out of the folder",
    )
