"""Turn a student's notebook into the module the worker imports, remembering where each line came from.

Only what grading needs is kept from each code cell: imports, function and class definitions, and
constants (assignments with no calls in them). The student's own training runs, plots and prints stay
in the notebook. A cell tagged ``grader:include`` is kept whole, one tagged ``grader:skip`` is left out,
and ``--run-all`` keeps every cell. IPython magics and shell escapes (``%matplotlib``, ``!pip``,
``%%time``) are found with IPython's own input transformer and removed. Lines keep their numbers, so
an error in the module points back to **cell N, line M** of the notebook.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

from grader.records import Failure, SourceLocation

INCLUDE, SKIP = "grader:include", "grader:skip"
SUPPORTED_MAJOR = 4
# Cell magics whose body is ordinary Python: the magic line goes, the code stays.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit"}
# Calls cheap and pure enough to keep in a constant: ``DEVICE = torch.device("cpu")``.
CONSTANT_CALLS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "str",
    "bool",
    "range",
    "len",
    "torch.device",
    "Path",
    "pathlib.Path",
    "os.path.join",
}


class NotebookError(Exception):
    """The notebook cannot be graded as it is; carries the Failure to report."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass
class CellSource:
    number: int  # 1-based position among all the notebook's cells, as a reader counts them
    first_line: int  # where the cell starts in the generated module, 1-based
    lines: list[str]  # the cell's code as the student wrote it


@dataclass
class Skipped:
    """Top-level code left out of the module, by the names it would have defined."""

    cell: int
    line: int
    names: list[str]


@dataclass
class Converted:
    module: str
    cells: list[CellSource]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def locate(self, line: int) -> tuple[CellSource, int] | None:
        """The cell and the line within it that produced line ``line`` of the module."""
        for cell in self.cells:
            if cell.first_line <= line < cell.first_line + len(cell.lines):
                return cell, line - cell.first_line + 1
        return None


def read_cells(path: Path) -> list[dict]:
    """The notebook's cells, or one clear line saying why the file is not a notebook this grader reads."""
    import nbformat  # imported here: module submissions never need it

    def refuse(problem: str) -> NotebookError:
        return NotebookError(Failure("notebook", f"{path.name}: {problem}", "open and save it again in Jupyter"))

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise refuse(f"not a notebook: byte {error.start} is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise refuse(f"not a notebook: not JSON ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        raise refuse("not a notebook: JSON without an nbformat version")
    if raw["nbformat"] > SUPPORTED_MAJOR:
        raise refuse(f"notebook format {raw['nbformat']} is newer than this grader reads ({SUPPORTED_MAJOR}.x)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. cells without ids, from older Jupyter: harmless here
            notebook = nbformat.reads(text, as_version=SUPPORTED_MAJOR)
    except Exception as error:  # nbformat raises a different type for every kind of damage
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise refuse(f"not a valid notebook: {first}") from None
    return [dict(cell) for cell in notebook.cells]


def convert(path: Path, *, run_all: bool = False) -> Converted:
    """The module to import for the notebook at ``path``."""
    module_lines: list[str] = []
    converted = Converted("", [])
    for number, cell in enumerate(read_cells(path), start=1):
        if cell.get("cell_type") != "code":
            continue
        lines, tags = _cell_lines(cell, number, path), _cell_tags(cell)
        if not lines or SKIP in tags:
            continue
        kept, tree = _python_of(lines, number, path, converted.notes)
        if not (run_all or INCLUDE in tags):
            kept = _definitions_only(kept, tree, number, converted.skipped)
        converted.cells.append(CellSource(number, len(module_lines) + 1, lines))
        module_lines += [*kept, ""]  # a blank line between cells keeps a cell's last statement closed
    converted.module = "\n".join(module_lines) + "\n"
    return converted


def _cell_lines(cell: dict, number: int, path: Path) -> list[str]:
    """The cell's code: its ``source`` is a string or a list of strings, or the notebook is damaged (nbformat
    lets an invalid notebook through with a warning, so this is checked here)."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise NotebookError(
            Failure(
                "notebook",
                f"{path.name}, cell {number}: the cell's source is not text (it is {source!r:.40}): "
                "the notebook is damaged",
                "open and save it again in Jupyter, or copy its code into a new notebook",
                SourceLocation(path.name, cell=number),
            )
        )
    return source.splitlines()


def _cell_tags(cell: dict) -> set[str]:
    """The cell's tags; metadata of any other shape has none."""
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return {tag for tag in tags if isinstance(tag, str)} if isinstance(tags, list) else set()


def _python_of(lines: list[str], cell: int, path: Path, notes: list[str]) -> tuple[list[str], ast.Module]:
    """The cell as plain Python, line for line: magics and shell escapes become ``pass`` or blank lines.
    Also its syntax tree, whose statements keep their line numbers."""
    if lines[0].startswith("%%"):
        magic = lines[0][2:].split(maxsplit=1)[0] if lines[0][2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            notes.append(f"cell {cell}: a %%{magic} cell is not Python and was left out")
            return [""] * len(lines), ast.Module(body=[], type_ignores=[])
        lines = ["", *lines[1:]]
    leading = next((i for i, line in enumerate(lines) if line.strip()), len(lines))  # the transformer drops these
    body = TransformerManager().transform_cell("\n".join(lines[leading:]) + "\n").split("\n")
    transformed = ([""] * leading + body)[: len(lines)]
    tree = _parse("\n".join(transformed), cell, lines, path)
    for statement in ast.walk(tree):
        if isinstance(statement, ast.stmt) and _calls_ipython(statement):
            start, end = statement.lineno - 1, (statement.end_lineno or statement.lineno) - 1
            indent = re.match(r"\s*", transformed[start]).group(0)  # type: ignore[union-attr]
            transformed[start : end + 1] = [indent + "pass"] + [""] * (end - start)
    return transformed, tree


def _calls_ipython(statement: ast.stmt) -> bool:
    """Whether the statement itself (not a statement nested in it) calls ``get_ipython()``."""
    own_parts = [child for child in ast.iter_child_nodes(statement) if not isinstance(child, ast.stmt)]
    return any(isinstance(node, ast.Name) and node.id == "get_ipython" for part in own_parts for node in ast.walk(part))


def _parse(source: str, cell: int, original: list[str], path: Path) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as error:
        line = error.lineno or 1
        code = original[line - 1].strip() if 0 < line <= len(original) else ""
        raise NotebookError(
            Failure(
                "syntax_error",
                f"{path.name}, cell {cell}, line {line}: SyntaxError: {error.msg}",
                f"fix the syntax there, or tag the cell {SKIP} if grading does not need it",
                SourceLocation(path.name, line, code, cell=cell),
            )
        ) from None


def _definitions_only(lines: list[str], tree: ast.Module, cell: int, skipped: list[Skipped]) -> list[str]:
    """Blank out the top-level statements grading must not run, recording the names they define."""
    kept = [""] * len(lines)
    for group in _line_groups(tree.body):
        start, end = group[0][0], group[-1][1]
        if all(_is_definition(statement) for _, _, statement in group):
            kept[start - 1 : end] = lines[start - 1 : end]
        else:
            names = [name for _, _, statement in group for name in _defined_names(statement)]
            skipped.append(Skipped(cell, start, names))
    return kept


def _line_groups(body: list[ast.stmt]) -> list[list[tuple[int, int, ast.stmt]]]:
    """Top-level statements with their full line spans (decorators included), grouped where they share
    a line (``import x; train()``), since lines are kept or dropped whole."""
    groups: list[list[tuple[int, int, ast.stmt]]] = []
    for statement in body:
        decorators = getattr(statement, "decorator_list", [])
        start = min([statement.lineno, *(d.lineno for d in decorators)])
        span = (start, statement.end_lineno or statement.lineno, statement)
        if groups and start <= groups[-1][-1][1]:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _is_definition(statement: ast.stmt) -> bool:
    """Imports, definitions, constants, and blocks made only of those (``try: import x ...``)."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return all(isinstance(t, (ast.Name, ast.Tuple)) for t in targets) and _is_constant(statement.value)
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)  # a docstring
    if isinstance(statement, ast.If):
        return not _is_main_guard(statement) and all(map(_is_definition, [*statement.body, *statement.orelse]))
    if isinstance(statement, ast.Try):
        blocks = [*statement.body, *statement.orelse, *statement.finalbody]
        blocks += [s for handler in statement.handlers for s in handler.body]
        return all(map(_is_definition, blocks))
    return isinstance(statement, ast.Pass)


def _is_constant(value: ast.expr | None) -> bool:
    if value is None:
        return True
    for node in ast.walk(value):
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(node, ast.Call) and ast.unparse(node.func) not in CONSTANT_CALLS:
            return False
    return True


def _is_main_guard(statement: ast.If) -> bool:
    return "__name__" in ast.unparse(statement.test) and "__main__" in ast.unparse(statement.test)


def _defined_names(statement: ast.stmt) -> list[str]:
    names = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return list(dict.fromkeys(names))
