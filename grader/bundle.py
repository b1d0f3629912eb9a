"""The Gradescope autograder bundle: one zip an instructor uploads as it is.

It carries this very grader (its package, so Gradescope grades exactly as the instructor's machine does),
the baselines and rubric in force, the requirements of the frameworks asked for, and Gradescope's two
entry points, ``setup.sh`` and ``run_autograder`` (kept in ``grader/gradescope/``).
"""

from __future__ import annotations

import importlib.metadata
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from grader.baselines import Baselines
from grader.frameworks import BOTH, FRAMEWORKS

PACKAGE = Path(__file__).resolve().parent
SCRIPTS = ("setup.sh", "run_autograder")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_EXECUTABLE = 0o100755 << 16  # a regular file, rwxr-xr-x, in a zip entry's external attributes
_READABLE = 0o100644 << 16


def choices() -> list[str]:
    """What an image may be built for: one framework, or all of them."""
    return [*FRAMEWORKS, BOTH]


def bundle_extras(framework: str) -> set[str]:
    """The grader's extras an image for ``framework`` installs, as the registry names them (``both``: every
    framework's). setup.sh takes torch and torchvision from PyTorch's CPU index, together: torchvision only
    imports beside the torch build it was made for."""
    chosen = FRAMEWORKS.values() if framework == BOTH else [FRAMEWORKS[framework]]
    return {extra for entry in chosen for extra in entry.bundle_extras}


def requirements(framework: str) -> list[str]:
    """The grader's own requirements and those of the framework's extras, as lines of requirements.txt."""
    extras = bundle_extras(framework)
    lines = []
    for requirement in importlib.metadata.requires("nn-grader") or []:
        spec, _, marker = requirement.partition(";")
        extra = _EXTRA_MARKER.search(marker)
        if extra is None and "extra" not in marker:
            lines.append(requirement.strip())
        elif extra is not None and extra[1] in extras:
            lines.append(spec.strip() + _without_extra(marker))
    return list(dict.fromkeys(lines))


def write_bundle(out: Path, framework: str, baselines: Baselines, rubric: Path | None) -> list[str]:
    """Write the zip to ``out`` and return its entries' names."""
    entries: dict[str, tuple[bytes, int]] = {
        name: ((PACKAGE / "gradescope" / name).read_bytes(), _EXECUTABLE) for name in SCRIPTS
    }
    entries["requirements.txt"] = ("\n".join(requirements(framework)) + "\n").encode(), _READABLE
    entries["baselines.json"] = baselines.to_json().encode(), _READABLE
    if rubric is not None:
        entries["rubric.toml"] = rubric.read_bytes(), _READABLE
    for path in _package_files():
        mode = _EXECUTABLE if path.parent.name == "gradescope" else _READABLE
        entries[path.relative_to(PACKAGE.parent).as_posix()] = path.read_bytes(), mode
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, (content, mode) in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same grader: the same bytes
            info.external_attr = mode
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, content)
    return list(entries)


def _package_files() -> Iterable[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _without_extra(marker: str) -> str:
    """What is left of an environment marker once its ``extra == ...`` clause is gone."""
    rest = _EXTRA_MARKER.sub("", marker).strip()
    rest = re.sub(r"^(and|or)\s+|\s+(and|or)$", "", rest).strip()
    return f"; {rest}" if rest else ""
