"""Load stage: turn the path a user typed into a submission to grade, without running any of it.

A submission is a ``.py`` module, a ``.ipynb`` notebook, or a folder holding one notebook, or a
``submission.py`` with any helper modules it imports. A notebook becomes a generated module (see
``grader.notebook``); failures in it are reported back in the notebook's own terms, cell and line.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.content_hash import MAX_NOTEBOOK_BYTES, content_hash, files_under
from grader.errors import SubmissionError
from grader.frameworks import extra_of_import, framework_of_import
from grader.notebook import INCLUDE, SKIP, Converted, NotebookCell, Skipped, code_cells, convert, defines_contract
from grader.records import Failure, SourceLocation

ENTRY = "submission.py"


@dataclass
class Submission:
    path: str  # as the user gave it
    root: Path  # the directory whose ``files`` are copied into the worker's scratch directory
    entry: str  # the module to import, relative to root
    files: list[str]
    content_hash: str  # grader.content_hash's fingerprint of what was handed in: same files, same hash
    generated: dict[str, str] = field(default_factory=dict)  # modules written for the worker, not copied
    notebook: str = ""  # the notebook's file name, for a notebook submission
    converted: Converted | None = None
    # Free-form: no build_model, so the grader runs these cells (a script is one cell, numbered 0) and grades
    # the models they build. Empty for a submission graded by the contract.
    cells: list[NotebookCell] = field(default_factory=list)
    mode: str = "contract"  # "contract" | "freeform"

    def explain(self, failure: Failure) -> Failure:
        """The failure in the student's terms: for a notebook, cell and line instead of the generated module's
        line, and which skipped cell defines a name the kept code missed."""
        if self.converted is None:
            return failure
        location = failure.location
        if location is not None and location.file == self.entry and location.line:
            found = self.converted.locate(location.line)
            if found is not None:
                cell, line = found
                location = SourceLocation(self.notebook, line, cell.lines[line - 1].strip(), cell=cell.number)
        traceback = re.sub(rf'File "[^"]*{re.escape(self.entry)}", line (\d+)', self._traceback_line, failure.traceback)
        message = failure.message.replace(self.entry, self.notebook)
        return dataclasses.replace(
            failure, message=message, location=location, traceback=traceback, hint=self._hint(failure)
        )

    def _traceback_line(self, match: re.Match[str]) -> str:
        found = self.converted.locate(int(match.group(1))) if self.converted else None
        if found is None:
            return match.group(0)
        cell, line = found
        return f'File "{self.notebook}", cell {cell.number}, line {line}'

    def _hint(self, failure: Failure) -> str:
        if "ModuleNotFoundError" in failure.message:
            return failure.hint + f"; or tag the cell {SKIP} if grading does not need it"
        missing = re.search(r"NameError: name '(\w+)' is not defined", failure.message + failure.traceback)
        if missing is None or self.converted is None:
            return failure.hint
        setters = [skipped for skipped in self.converted.skipped if missing.group(1) in skipped.names]
        return _set_by_left_out_code(missing.group(1), setters[-1]) if setters else failure.hint


def _set_by_left_out_code(name: str, skipped: Skipped) -> str:
    """Where the left-out code that sets ``name`` is; for a constant left out because it needed other
    left-out code, where that code is: what the student has to include."""
    chain = skipped.chain()
    origin = chain[-1]
    subject = f"'{name}' is set in"
    if len(chain) > 1:
        subject = f"'{name}' (cell {skipped.cell}, line {skipped.line}) needs '{chain[-2].need}', set in"
    return (
        f"{subject} cell {origin.cell}, line {origin.line} by top-level code the grader does not run (it keeps "
        "imports, definitions, constants and cheap data loading like load_iris()): "
        f"tag cell {origin.cell} {INCLUDE}, or compute it inside build_model"
    )


def frameworks_imported(submission: Submission) -> list[str]:
    """What a CI job must install before grading the submission, read from its code's imports, not run: the
    frameworks ("keras", "torch"), then the extras ("lightning", "torchvision"), as the registry
    (``grader.frameworks``) names them. An extra brings its framework along. A notebook counts every code cell,
    not only the code the grader keeps: an import its data loading alone uses (``torchvision.datasets.MNIST``)
    is still needed to run it as Jupyter would."""
    if submission.notebook:
        sources = _code_cells_as_python(submission.root / submission.notebook)
    else:
        sources = list(submission.generated.values())
    sources += [
        (submission.root / name).read_text(errors="replace") for name in submission.files if name.endswith(".py")
    ]
    found = _top_level_imports(sources)
    frameworks = {framework for name in found if (framework := framework_of_import(name)) is not None}
    extras: set[str] = set()
    for needed in filter(None, map(extra_of_import, found)):
        frameworks.add(needed[0])
        extras.add(needed[1])
    return sorted(frameworks) + sorted(extras)


def _top_level_imports(sources: list[str]) -> set[str]:
    """The top-level packages the sources import (``torch`` for ``import torch.nn``); relative imports are the
    submission's own, and a source that does not parse imports nothing readable."""
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            found |= {n.split(".")[0] for n in names}
    return found


def _code_cells_as_python(path: Path) -> list[str]:
    """Each code cell of the notebook as plain Python (magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    from grader.notebook import read_cells

    sources = []
    for cell in read_cells(path):
        source = cell.get("source", "") if cell.get("cell_type") == "code" else ""
        source = "".join(source) if isinstance(source, list) else source
        if isinstance(source, str) and source.strip():
            try:
                sources.append(TransformerManager().transform_cell(source))
            except (SyntaxError, ValueError):
                continue  # grading reports it; here it imports nothing readable
    return sources


def load_submission(path: Path, *, run_all: bool = False) -> Submission:
    """The submission at ``path``. Raises SubmissionError (with what to do) for a path that is not one."""
    if not path.exists():
        raise SubmissionError(
            f"{path}: no such file or folder", "give the path of your notebook, your submission.py or its folder"
        )
    if path.is_file():
        if path.suffix == ".ipynb":
            return _notebook(str(path), path, run_all)
        if path.suffix != ".py":
            raise SubmissionError(
                f"{path}: expected a .py module, a .ipynb notebook or a folder, got a {path.suffix or 'file'}",
                f"grade the notebook or module itself, or the folder holding {ENTRY}",
            )
        return _module(str(path), path.parent, path.name, [path.name])
    return _folder(path, run_all)


def _folder(path: Path, run_all: bool) -> Submission:
    files = files_under(path)
    notebooks = [name for name in files if name.endswith(".ipynb") and "/" not in name]
    has_entry = ENTRY in files
    if has_entry and not notebooks:
        return _module(str(path), path, ENTRY, files)
    if len(notebooks) == 1 and not has_entry:
        return _notebook(str(path), path / notebooks[0], run_all, helpers=[f for f in files if f.endswith(".py")])
    if has_entry or len(notebooks) > 1:
        candidates = ([ENTRY] if has_entry else []) + notebooks
        raise SubmissionError(
            f"{path}: more than one thing to grade here ({', '.join(candidates)})",
            "grade the one you mean, e.g.  grade " + str(path / candidates[0]),
        )
    modules = sorted(name for name in files if name.endswith(".py"))
    found = f"it holds {', '.join(modules)}" if modules else "it holds no .py or .ipynb file"
    raise SubmissionError(
        f"{path}: no notebook and no {ENTRY} in this folder ({found})",
        f"name your module {ENTRY}, or grade the file directly: grade {path}/<file>.py",
    )


def _module(given: str, root: Path, entry: str, files: list[str]) -> Submission:
    submission = Submission(given, root.resolve(), entry, files, content_hash(Path(given)))
    source = (root / entry).read_text(encoding="utf-8", errors="replace")
    if defines_contract([source]):
        return submission
    return dataclasses.replace(submission, cells=[NotebookCell(0, source, set())], mode=FREEFORM)


FREEFORM = "freeform"


def _notebook(given: str, path: Path, run_all: bool, helpers: tuple[str, ...] | list[str] = ()) -> Submission:
    """The notebook as a generated module, with any helper modules from its folder."""
    root = path.parent.resolve()
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(
            f"{path}: the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB",
            "clear its outputs (Edit > Clear All Outputs) and save it again",
        )
    fingerprint = content_hash(Path(given))
    cells = code_cells(path)
    if not defines_contract([cell.source for cell in cells]):
        return Submission(
            given, root, path.name, list(helpers), fingerprint, notebook=path.name, cells=cells, mode=FREEFORM
        )
    converted = convert(path, run_all=run_all)
    entry = f"_notebook_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}.py"
    return Submission(given, root, entry, list(helpers), fingerprint, {entry: converted.module}, path.name, converted)
