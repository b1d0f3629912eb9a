"""Turn a student's notebook into the module the worker imports, remembering where each line came from.

Only what grading needs is kept from each code cell: imports, function and class definitions, and
constants (assignments with no calls in them). The student's own training runs, plots and prints stay
in the notebook. Kept code must not need a name only left-out code sets: cheap data loading it needs
(``iris = load_iris()``, see CHEAP_CALLS) is kept too, and a constant that needs anything else
(``acc = history.history["acc"]`` after ``history = model.fit(...)``) is left out with it, and so is an
import only left-out code uses (``import seaborn as sns`` for a pair plot). A cell tagged
``grader:include`` is kept whole, one tagged ``grader:skip`` is left out, and ``--run-all`` keeps every cell.
IPython magics and shell escapes (``%matplotlib``, ``!pip``, ``%%time``) are found with IPython's own input
transformer and removed. Lines keep their numbers, so an error in the module points back to **cell N,
line M** of the notebook.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager

from grader.errors import UngradableError
from grader.frameworks import framework_imports
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
# Imports kept though no kept code reads what they bind. The frameworks' (grader.frameworks): which one a
# submission uses is read off the module's imports, and the worker seeds those loaded. ``__future__``'s change
# how the rest compiles.
ALWAYS_IMPORTED = {*framework_imports(), "__future__"}
# Names the grader reads from the module itself (grader.worker.contract.read_contract), not through kept code:
# ``from my_models import build_model`` is kept.
CONTRACT_NAMES = {"build_model", "callbacks", "train", "HYPERPARAMS"}


def _spellings(prefixes: tuple[str, ...], names: tuple[str, ...]) -> set[str]:
    return {prefix + name for prefix in prefixes for name in names}


# Calls kept when kept code needs what they set: loading bundled or in-memory data, splitting and scaling
# it. All cheap and without side effects; no downloads (``fetch_openml``), no files, no training, no plots.
CHEAP_CALLS = (
    CONSTANT_CALLS
    | {"zip", "sorted", "enumerate", "min", "max", "sum", "abs", "round"}
    | _spellings(
        ("", "datasets.", "sklearn.datasets."),
        ("load_iris", "load_digits", "load_wine", "load_breast_cancer", "make_classification", "make_blobs"),
    )
    | _spellings(("", "model_selection.", "sklearn.model_selection."), ("train_test_split",))
    | _spellings(
        ("", "preprocessing.", "sklearn.preprocessing."),
        ("StandardScaler", "MinMaxScaler", "LabelEncoder", "OneHotEncoder", "LabelBinarizer", "normalize", "scale"),
    )
    | _spellings(
        ("np.", "numpy."),
        ("array", "asarray", "arange", "zeros", "ones", "eye", "concatenate", "stack", "hstack", "vstack", "unique"),
    )
    | _spellings(("pd.", "pandas."), ("DataFrame", "Series", "concat"))
    | _spellings(("torch.",), ("tensor", "as_tensor", "from_numpy"))
    | _spellings(("", "utils.", "keras.utils.", "tf.keras.utils.", "tensorflow.keras.utils."), ("to_categorical",))
)
# Methods equally cheap on whatever data they are called on (``scaler.fit_transform(X)``, ``X.astype(...)``);
# ``fit`` is not one of them: by name, a scaler's cannot be told from a model's.
CHEAP_METHODS = {
    "astype",
    "reshape",
    "ravel",
    "flatten",
    "squeeze",
    "transpose",
    "copy",
    "to_numpy",
    "tolist",
    "numpy",
    "float",
    "long",
    "fit_transform",
    "transform",
}


@dataclass
class CellSource:
    number: int  # 1-based position among all the notebook's cells, as a reader counts them
    first_line: int  # where the cell starts in the generated module, 1-based
    lines: list[str]  # the cell's code as the student wrote it


@dataclass
class Skipped:
    """Top-level code left out of the module, by the names it would have defined. Code kept on its own
    (a constant) but left out because it needs ``need`` from other left-out code says which: ``needs``."""

    cell: int
    line: int
    names: list[str]
    need: str = ""
    needs: Skipped | None = None

    def chain(self) -> list[Skipped]:
        """This code, what it needed, and so on: the last is the code the student would have to include."""
        return [self, *self.needs.chain()] if self.needs is not None else [self]


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


def read_cells(path: Path) -> list[dict[str, Any]]:
    """The notebook's cells, or one clear line saying why the file is not a notebook this grader reads."""
    import nbformat  # imported here: module submissions never need it

    def refuse(problem: str) -> UngradableError:
        return UngradableError(Failure("notebook", f"{path.name}: {problem}", "open and save it again in Jupyter"))

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
    converted = Converted("", [])
    python: dict[int, tuple[list[str], bool]] = {}  # by cell number: its code as plain Python, kept whole
    groups: list[_Group] = []
    first_line = 1
    for number, raw in enumerate(read_cells(path), start=1):
        if raw.get("cell_type") != "code":
            continue
        lines, tags = _cell_lines(raw, number, path), _cell_tags(raw)
        if not lines or SKIP in tags:
            continue
        code, tree = _python_of(lines, number, path, converted.notes)
        whole = run_all or INCLUDE in tags
        python[number] = code, whole
        groups += [_Group(number, *span, whole=whole) for span in _line_groups(tree.body)]
        converted.cells.append(CellSource(number, first_line, lines))
        first_line += len(lines) + 1  # a blank line between cells keeps a cell's last statement closed
    _settle(groups)
    _drop_unused_imports(groups)
    module_lines: list[str] = []
    for cell in converted.cells:
        code, whole = python[cell.number]
        kept = code if whole else [""] * len(code)
        for group in groups:
            if group.cell == cell.number and group.kept:
                kept[group.start - 1 : group.end] = code[group.start - 1 : group.end]
        module_lines += [*kept, ""]
    converted.skipped = _skipped(groups)
    converted.module = "\n".join(module_lines) + "\n"
    return converted


@dataclass
class NotebookCell:
    """A code cell as the student wrote it, for a free-form run."""

    number: int  # 1-based among all the notebook's cells, as a reader counts them
    source: str
    tags: set[str]


def code_cells(path: Path) -> list[NotebookCell]:
    """The notebook's non-empty code cells, in order, with their tags (a skip tag leaves a cell out)."""
    cells = []
    for number, cell in enumerate(read_cells(path), start=1):
        if cell.get("cell_type") != "code":
            continue
        lines, tags = _cell_lines(cell, number, path), _cell_tags(cell)
        if any(line.strip() for line in lines) and SKIP not in tags:
            cells.append(NotebookCell(number, "\n".join(lines), tags))
    return cells


def defines_contract(sources: list[str]) -> bool:
    """Whether any cell (or the module) defines ``build_model`` at its top level: then the contract grades it.
    A cell that does not parse counts when a line of it starts ``def build_model``."""
    for source in sources:
        tree = parse_cell(source)
        if tree is None:  # meant for the contract if it says so: the contract reports the error
            if re.search(rf"^def\s+{CONTRACT_FUNCTION}\b", source, re.MULTILINE):
                return True
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == CONTRACT_FUNCTION:
                return True
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == CONTRACT_FUNCTION for target in node.targets
            ):
                return True
            if isinstance(node, ast.ImportFrom) and any(
                (alias.asname or alias.name) == CONTRACT_FUNCTION for alias in node.names
            ):
                return True
    return False


CONTRACT_FUNCTION = "build_model"


def parse_cell(source: str) -> ast.Module | None:
    """A cell's syntax tree, magics and shell escapes turned into Python by IPython's transformer; None when
    it does not parse."""
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def _cell_lines(cell: dict[str, Any], number: int, path: Path) -> list[str]:
    """The cell's code: its ``source`` is a string or a list of strings, or the notebook is damaged (nbformat
    lets an invalid notebook through with a warning, so this is checked here)."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise UngradableError(
            Failure(
                "notebook",
                f"{path.name}, cell {number}: the cell's source is not text (it is {source!r:.40}): "
                "the notebook is damaged",
                "open and save it again in Jupyter, or copy its code into a new notebook",
                SourceLocation(path.name, cell=number),
            )
        )
    return source.splitlines()


def _cell_tags(cell: dict[str, Any]) -> set[str]:
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
        raise UngradableError(
            Failure(
                "syntax_error",
                f"{path.name}, cell {cell}, line {line}: SyntaxError: {error.msg}",
                f"fix the syntax there, or tag the cell {SKIP} if grading does not need it",
                SourceLocation(path.name, line, code, cell=cell),
            )
        ) from None


@dataclass(eq=False)
class _Group:
    """Top-level statements sharing lines (``import x; train()``): kept or left out together, since lines are."""

    cell: int
    start: int  # lines within the cell, 1-based, decorators included
    end: int
    statements: list[ast.stmt]
    whole: bool = False  # in a cell kept whole (grader:include, --run-all): kept whatever it needs
    kept: bool = field(init=False)
    defines: list[str] = field(init=False)  # the module-level names it sets
    reads: set[str] = field(init=False)  # module-level names it reads when it runs (at import)
    reads_later: set[str] = field(init=False)  # module-level names its functions read when called
    because: tuple[str, _Group] | None = field(init=False, default=None)  # the name it needed and who sets it

    def __post_init__(self) -> None:
        self.kept = self.whole or all(map(_is_definition, self.statements))
        self.defines = list(dict.fromkeys(name for s in self.statements for name in _module_names(s)))
        self.reads, self.reads_later = _reads(self.statements)

    @property
    def optional_import(self) -> bool:
        """Plain imports (no ``*``, no framework, no ``__future__``), kept only if kept code reads a name they
        bind: a package only a plot uses (seaborn) must not fail the whole grade where it is not installed."""
        return not self.whole and all(map(_is_optional_import, self.statements))

    @property
    def droppable(self) -> bool:
        """Definitions stay even when they need a missing name: a NameError naming the cell to include is
        clearer than a missing build_model."""
        definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        return not self.whole and not any(isinstance(s, definitions) for s in self.statements)

    def keep_for_others(self) -> bool:
        """Keep this left-out group, since kept code needs what it sets, if it is cheap data loading and was
        not left out for what it needs in turn. Whether it is kept now."""
        if self.because is None and all(map(_is_cheap_loading, self.statements)):
            self.kept = True
        return self.kept


def _settle(groups: list[_Group]) -> None:
    """Make every name kept code needs come from kept code: keep the cheap data loading that sets it, or
    leave out the constant that needs it (recording why). Repeated until nothing changes; a group is kept
    at most once more and left out at most once more, so this ends."""
    setters: dict[str, list[_Group]] = {}  # by name, in notebook order
    for group in groups:
        for name in group.defines:
            setters.setdefault(name, []).append(group)
    position = {id(group): index for index, group in enumerate(groups)}
    changed = True
    while changed:
        changed = False
        for group in groups:
            if not group.kept:
                continue
            for name in sorted(group.reads):
                earlier = [other for other in setters.get(name, []) if position[id(other)] < position[id(group)]]
                if not earlier or any(other.kept for other in earlier):
                    continue
                if earlier[-1].keep_for_others():
                    changed = True
                elif group.droppable:
                    group.kept, group.because, changed = False, (name, earlier[-1]), True
                    break
            for name in sorted(group.reads_later):  # read when called: after the whole import
                every = setters.get(name, [])
                if every and not any(other.kept for other in every):
                    changed |= every[-1].keep_for_others()


def _drop_unused_imports(groups: list[_Group]) -> None:
    """Leave out the optional imports no kept code reads a name of. After _settle, which counted every import
    as kept: leaving out imports changes no other decision, since an import is only left out when unread."""
    needed = set(CONTRACT_NAMES)
    for group in groups:
        if group.kept and not group.optional_import:
            needed |= group.reads | group.reads_later
    for group in groups:
        if group.optional_import and needed.isdisjoint(group.defines):
            group.kept = False


def _is_optional_import(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import):
        modules = [alias.name for alias in statement.names]
    elif isinstance(statement, ast.ImportFrom) and all(alias.name != "*" for alias in statement.names):
        modules = [statement.module or ""]
    else:
        return False
    return all(module.split(".")[0] not in ALWAYS_IMPORTED for module in modules)


def _skipped(groups: list[_Group]) -> list[Skipped]:
    """What was left out, each with the left-out code it needed if it would have been kept on its own."""
    records = {id(group): Skipped(group.cell, group.start, group.defines) for group in groups if not group.kept}
    for group in groups:
        if group.because is not None:
            name, setter = group.because
            records[id(group)].need, records[id(group)].needs = name, records[id(setter)]
    return list(records.values())


def _line_groups(body: list[ast.stmt]) -> list[tuple[int, int, list[ast.stmt]]]:
    """Top-level statements with their full line spans (decorators included), grouped where they share
    a line (``import x; train()``), since lines are kept or dropped whole."""
    groups: list[tuple[int, int, list[ast.stmt]]] = []
    for statement in body:
        decorators = getattr(statement, "decorator_list", [])
        start = min([statement.lineno, *(d.lineno for d in decorators)])
        end = statement.end_lineno or statement.lineno
        if groups and start <= groups[-1][1]:
            groups[-1] = (groups[-1][0], max(end, groups[-1][1]), [*groups[-1][2], statement])
        else:
            groups.append((start, end, [statement]))
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


def _is_cheap_loading(statement: ast.stmt) -> bool:
    """An assignment whose every call is cheap data loading (CHEAP_CALLS, CHEAP_METHODS)."""
    if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
        return False
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    if not all(isinstance(node, (ast.Name, ast.Tuple, ast.List, ast.Starred)) for node in targets):
        return False
    for node in ast.walk(statement.value):
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)):
            return False
        if isinstance(node, ast.Call) and not _is_cheap_call(node.func):
            return False
    return True


def _is_cheap_call(function: ast.expr) -> bool:
    if isinstance(function, ast.Attribute) and function.attr in CHEAP_METHODS:
        return True
    return ast.unparse(function) in CHEAP_CALLS


COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _module_names(node: ast.AST) -> list[str]:
    """The module-level names a top-level statement sets (not those local to its functions or comprehensions)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"]
    if isinstance(node, ast.Name):
        return [node.id] if isinstance(node.ctx, ast.Store) else []
    if isinstance(node, (ast.Lambda, *COMPREHENSIONS)):
        return []
    return [name for child in ast.iter_child_nodes(node) for name in _module_names(child)]


def _reads(nodes: Sequence[ast.AST]) -> tuple[set[str], set[str]]:
    """The free names ``nodes`` read when they run (decorators, default arguments, annotations, class bodies
    included), and those the functions they define read when called, less each function's own local names."""
    now: set[str] = set()
    later: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            parameters += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            defaults = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
            annotations = [a.annotation for a in parameters if a.annotation is not None]
            if not isinstance(node, ast.Lambda) and node.returns is not None:
                annotations.append(node.returns)
            outer_now, outer_later = _reads([*getattr(node, "decorator_list", []), *defaults, *annotations])
            body = node.body if isinstance(node.body, list) else [node.body]
            inner_now, inner_later = _reads(body)
            local = {a.arg for a in parameters} | {n for s in body for n in _module_names(s)}
            local -= {name for s in body for g in ast.walk(s) if isinstance(g, ast.Global) for name in g.names}
            now |= outer_now
            later |= outer_later | ((inner_now | inner_later) - local)
        elif isinstance(node, ast.ClassDef):
            outer_now, outer_later = _reads([*node.decorator_list, *node.bases, *node.keywords])
            body_now, body_later = _reads(node.body)
            now |= outer_now | (body_now - {n for s in node.body for n in _module_names(s)})
            later |= outer_later | body_later
        elif isinstance(node, ast.Name):
            now |= {node.id} if isinstance(node.ctx, ast.Load) else set()
        else:
            child_now, child_later = _reads(list(ast.iter_child_nodes(node)))
            if isinstance(node, COMPREHENSIONS):
                child_now -= {n for generator in node.generators for n in _module_names(generator.target)}
            now |= child_now
            later |= child_later
    return now, later
