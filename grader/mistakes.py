"""The classic beginner mistakes free-form mode names, and the ones the code itself shows.

Free-form mode grades notebooks as students really write them, with no contract to check against, so much
of its feedback is naming the classic mistakes: a softmax before ``CrossEntropyLoss``, validation on the
training data, a scaler fitted before the split, a notebook that only ran in the order its cells were run.
``grader.mistake_catalogue.MISTAKES`` is the catalogue every ``Finding.kind`` comes from: the title a
report shows and the default advice.

``find_in_code`` finds what the source shows reliably, from the cells' syntax trees. It runs in the
grader's own process on the submitted text and never on anything the submission's code produced, so a
submission can neither hide a finding nor forge one. What only values show (pixels fed in unscaled) is
observed while the notebook runs, as findings with ``seen="run"``; ``stale_names`` turns the run's
NameErrors into the one mistake that needs both: a name used in a cell but defined only in a later one.

Each detector flags only what it can tell for sure. Where the code is ambiguous (a name it cannot resolve,
a model assembled in a loop, a value chosen at run time) it says nothing: a wrong accusation costs a
student more than a missed hint.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from IPython.core.inputtransformer2 import TransformerManager

from grader.mistake_catalogue import MISTAKES
from grader.notebook import PYTHON_CELL_MAGICS
from grader.records import Finding, SourceLocation


@dataclass(frozen=True)
class CodeCell:
    """A code cell's source, numbered as a reader counts cells (from 1, markdown cells too); a script is one
    cell numbered 0, and its findings carry no cell."""

    number: int
    source: str


def find_in_code(cells: Sequence[CodeCell], file: str) -> list[Finding]:
    """The mistakes the source shows, in reading order: at most one of a kind per line. Cells that do not
    parse are passed over (the runner reports their syntax errors)."""
    code = _Code([cell for cell in map(_parse, cells) if cell is not None], file)
    findings: dict[tuple[str, int | None, int | None], Finding] = {}
    for detect in _DETECTORS:
        for finding in detect(code):
            where = finding.location or SourceLocation(file)
            findings.setdefault((finding.kind, where.cell, where.line), finding)
    return sorted(findings.values(), key=_reading_order)


def stale_names(cells: Sequence[CodeCell], failures: Sequence[tuple[int, str]], file: str) -> list[Finding]:
    """The cells that failed, run top to bottom, with a NameError for a name first defined in a later cell:
    the student ran the cells out of order, so the notebook worked only in their kernel."""
    parsed = [cell for cell in map(_parse, cells) if cell is not None]
    findings = []
    for number, error in failures:
        match = _NAME_ERROR.search(error)
        if match is None:
            continue
        name = match[1]
        first = next((cell for cell in parsed if name in _module_names(cell.tree)), None)
        if first is None or first.number <= number:
            continue
        failing = next((cell for cell in parsed if cell.number == number), None)
        use = _first_load(failing.tree, name) if failing else None
        location = (
            _location(file, failing, use)
            if failing and use
            else SourceLocation(file, cell=number or None)  # the cell did not parse: no line to point at
        )
        findings.append(
            Finding(
                "stale_kernel",
                f"{name} is defined in cell {first.number}, after this cell ({number}): the notebook ran only "
                "in the order you ran the cells",
                f"move the code that defines {name} (cell {first.number}) above cell {number}, or this code below "
                "it; then check with Kernel > Restart & Run All",
                location,
            )
        )
    return findings


_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")


# ----------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Cell:
    number: int
    lines: list[str]  # as the student wrote them, for the locations
    tree: ast.Module
    rows: list[int]  # for each line of the tree's source, the number of the student's line it came from


def _parse(cell: CodeCell) -> _Cell | None:
    """The cell's syntax tree: IPython's transformer turns magics and shell escapes into calls first. None
    for a cell that does not parse or is not Python (``%%bash``)."""
    lines = cell.source.splitlines()
    python = lines
    if lines and lines[0].startswith("%%"):
        magic = lines[0][2:].split(maxsplit=1)[0] if lines[0][2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
        python = ["", *lines[1:]]
    leading = next((i for i, line in enumerate(python) if line.strip()), len(python))  # the transformer drops these
    body = TransformerManager().transform_cell("\n".join(python[leading:]) + "\n").splitlines()
    try:
        tree = ast.parse("\n".join([""] * leading + body))
    except SyntaxError:
        return None
    return _Cell(cell.number, lines, tree, [*range(1, leading + 1), *_rows(body, python[leading:], leading)])


def _rows(transformed: list[str], original: list[str], offset: int) -> list[int]:
    """Where each transformed line came from. The transformer rewrites a magic or shell escape in place,
    one line for one, except that it joins the lines a trailing backslash continues (``!pip install \\``)."""
    rows = []
    index = 0
    for line in transformed:
        rows.append(offset + index + 1)
        joined = index < len(original) and line != original[index] and not line.endswith("\\")
        index += 1
        while joined and index < len(original) and original[index - 1].endswith("\\"):
            index += 1
    return rows


def _location(file: str, cell: _Cell, node: ast.AST) -> SourceLocation:
    row: int = getattr(node, "lineno", 0)
    line = cell.rows[row - 1] if 0 < row <= len(cell.rows) else row
    code = cell.lines[line - 1].strip() if 0 < line <= len(cell.lines) else ""
    return SourceLocation(file, line or None, code, cell=cell.number or None)


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _reading_order(finding: Finding) -> tuple[int, int]:
    where = finding.location or SourceLocation("")
    return where.cell or 0, where.line or 0


def _show(node: ast.AST) -> str:
    """The code of a node as the student wrote it (normalized), short enough for a message."""
    text = ast.unparse(node)
    return text if len(text) <= 70 else text[:67] + "..."


def _normal(name: str) -> str:
    """Keras under TensorFlow is Keras: ``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``."""
    return name.removeprefix("tensorflow.") if name.startswith("tensorflow.keras") else name


class _Code:
    """The parsed cells as one program: their nodes in reading order, the names the imports bind, and for
    each node its cell and its parent."""

    def __init__(self, cells: list[_Cell], file: str) -> None:
        self.file = file
        self.cell_of: dict[ast.AST, _Cell] = {}
        self.parent: dict[ast.AST, ast.AST] = {}
        self.aliases: dict[str, str] = {}  # local name -> the dotted name it was imported as
        self.nodes: list[ast.AST] = []
        for cell in cells:
            found = []
            for node in ast.walk(cell.tree):  # parents before children, which the stable sort keeps
                self.parent.update((child, node) for child in ast.iter_child_nodes(node))
                if hasattr(node, "lineno"):
                    found.append(node)
                    self.cell_of[node] = cell
                self._bind(node)
            self.nodes += sorted(found, key=_position)
        self.referenced = {
            name
            for node in self.nodes
            if isinstance(node, (ast.Name, ast.Attribute)) and (name := self.qualname(node)) is not None
        }
        self.uses_keras = any(name.split(".")[0] in ("keras", "tensorflow") for name in self.aliases.values())

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualname(self, node: ast.AST | None) -> str | None:
        """The dotted name an expression refers to, through the imports: ``nn.Softmax`` is
        ``torch.nn.Softmax``. A name no import binds stands for itself; None for anything but names."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        return _normal(".".join([self.aliases.get(node.id, node.id), *reversed(parts)]))

    def calls(self, node: ast.AST | None, *names: str) -> TypeGuard[ast.Call]:
        return isinstance(node, ast.Call) and self.qualname(node.func) in names

    def splits(self, node: ast.AST) -> TypeGuard[ast.Call]:
        """A call of scikit-learn's ``train_test_split``, however it was imported."""
        return isinstance(node, ast.Call) and (self.qualname(node.func) or "").rpartition(".")[2] == "train_test_split"

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        up = self.parent.get(node)
        while up is not None:
            yield up
            up = self.parent.get(up)

    def function_of(self, node: ast.AST) -> ast.FunctionDef | None:
        return next((up for up in self.ancestors(node) if isinstance(up, ast.FunctionDef)), None)

    def where(self, node: ast.AST) -> str:
        """``cell 7, line 2`` (``line 30`` in a script), for a message that points elsewhere."""
        location = _location(self.file, self.cell_of[node], node)
        return (f"cell {location.cell}, " if location.cell else "") + f"line {location.line}"

    def finding(self, kind: str, node: ast.AST, message: str, hint: str = "") -> Finding:
        return Finding(kind, message, hint or MISTAKES[kind].hint, _location(self.file, self.cell_of[node], node))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    """A call's argument given by position or by name."""
    if len(call.args) > index and not any(isinstance(arg, ast.Starred) for arg in call.args[: index + 1]):
        return call.args[index]
    return _keyword(call, name)


def _constant(node: ast.AST | None) -> object:
    """The value of a literal; ``...`` (never a student's value here) for anything else."""
    return node.value if isinstance(node, ast.Constant) else ...


def _method(node: ast.AST | None, *names: str) -> TypeGuard[ast.Call]:
    """A call of a method by that name on anything: ``model.fit(...)``."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names


def _bound_names(targets: Iterable[ast.AST]) -> list[str]:
    """The names these assign to: ``a, b = ...`` binds a and b; ``df[cols] = ...`` binds neither."""
    return [
        node.id
        for target in targets
        for node in ast.walk(target)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    ]


# ------------------------------------------------------------------------------------------- detectors

_CROSS_ENTROPY = {"torch.nn.CrossEntropyLoss", "torch.nn.functional.cross_entropy"}
_NLL = {"torch.nn.NLLLoss", "torch.nn.functional.nll_loss"}
_SOFTMAX_FUNCTIONS = {"torch.softmax", "torch.nn.functional.softmax"}


def _softmax_before_cross_entropy(code: _Code) -> Iterator[Finding]:
    """A torch model that ends in softmax, in code that trains with cross-entropy. Code that also uses NLL
    is left alone: its model may rightly end in a softmax that a log follows."""
    if not code.referenced & _CROSS_ENTROPY or code.referenced & _NLL:
        return
    loss = "CrossEntropyLoss" if "torch.nn.CrossEntropyLoss" in code.referenced else "F.cross_entropy"
    for node in code.nodes:
        if isinstance(node, ast.Call) and code.qualname(node.func) == "torch.nn.Sequential" and node.args:
            if code.calls(node.args[-1], "torch.nn.Softmax"):
                yield code.finding(
                    "softmax_before_cross_entropy",
                    node.args[-1],
                    f"the model's last layer is {_show(node.args[-1])} and it is trained with {loss}, which "
                    "applies log-softmax itself: the outputs go through softmax twice, which shrinks the "
                    "gradients and slows or stalls learning",
                )
        elif isinstance(node, ast.ClassDef):
            yield from _softmax_returned(code, node, loss)


def _softmax_returned(code: _Code, model: ast.ClassDef, loss: str) -> Iterator[Finding]:
    """A ``forward`` whose last statement returns a softmax: ``F.softmax(x, dim=1)``, ``x.softmax(1)``, or
    ``self.softmax(x)`` where ``self.softmax = nn.Softmax(...)``. A return inside an ``if`` (softmax only
    at inference) is not the model's training output."""
    layers = {
        node.targets[0].attr: node.value
        for node in ast.walk(model)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Attribute)
        and isinstance(node.targets[0].value, ast.Name)
        and node.targets[0].value.id == "self"
    }
    for method in model.body:
        if not (isinstance(method, ast.FunctionDef) and method.name == "forward"):
            continue
        last = method.body[-1]
        if not (isinstance(last, ast.Return) and last.value is not None):
            continue
        value = _last_value(method.body[:-1], last.value)
        if not isinstance(value, ast.Call):
            continue
        func = value.func
        softmax = code.qualname(func) in _SOFTMAX_FUNCTIONS or code.calls(func, "torch.nn.Softmax")
        if isinstance(func, ast.Attribute):
            receiver = func.value
            if isinstance(receiver, ast.Name) and receiver.id == "self":
                softmax = code.calls(layers.get(func.attr), "torch.nn.Softmax")
            elif not (isinstance(receiver, ast.Name) and receiver.id in code.aliases):
                softmax = softmax or func.attr == "softmax"  # a tensor's own method: x.softmax(dim=1)
        if softmax:
            yield code.finding(
                "softmax_before_cross_entropy",
                last,
                f"forward returns {_show(value)}, probabilities, and the model is trained with {loss}, which "
                "applies log-softmax itself: the outputs go through softmax twice, which shrinks the gradients "
                "and slows or stalls learning",
            )


def _last_value(body: list[ast.stmt], value: ast.expr) -> ast.expr | None:
    """What a returned name holds: the value of its last plain assignment before the return. None where a
    statement in between may have changed it (an ``if``, a ``+=``)."""
    if not isinstance(value, ast.Name):
        return value
    for statement in reversed(body):
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == value.id
        ):
            return statement.value
        if value.id in _bound_names([statement]):
            return None
    return value


_SEQUENTIAL = ("keras.Sequential", "keras.models.Sequential")
_PROBABILITY_LOSS_NAMES = {"categorical_crossentropy", "sparse_categorical_crossentropy"}
_PROBABILITY_LOSS_CLASSES = ("keras.losses.CategoricalCrossentropy", "keras.losses.SparseCategoricalCrossentropy")
_PROBABILITY_LOSS_FUNCTIONS = ("keras.losses.categorical_crossentropy", "keras.losses.sparse_categorical_crossentropy")


def _logits_into_probability_loss(code: _Code) -> Iterator[Finding]:
    """A Keras model whose last layer is a Dense without activation (it outputs logits), compiled with a
    cross-entropy that expects probabilities. Models are followed through ``Sequential([...])``,
    ``model.add(...)`` and functions that build and return one; the functional API is not followed."""
    last_layer: dict[str, ast.expr | None] = {}  # a variable holding a Sequential -> its last layer so far
    built: dict[str, ast.expr | None] = {}  # a function returning one -> the last layer of what it returns
    for node in code.nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
            if code.calls(value, *_SEQUENTIAL):
                last_layer[name] = _sequential_last(value)
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in built:
                last_layer[name] = built[value.func.id]
            else:
                last_layer.pop(name, None)
        elif isinstance(node, ast.Return) and (function := code.function_of(node)) is not None:
            if isinstance(node.value, ast.Name) and node.value.id in last_layer:
                built[function.name] = last_layer[node.value.id]
            elif code.calls(node.value, *_SEQUENTIAL):
                built[function.name] = _sequential_last(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(receiver := node.func.value, ast.Name)
            and receiver.id in last_layer
        ):
            if node.func.attr == "add":
                last_layer[receiver.id] = node.args[0] if node.args else None
                continue
            layer = last_layer[receiver.id]
            loss = _probability_loss(code, node) if node.func.attr == "compile" else None
            if layer is not None and loss is not None and _linear_dense(code, layer):
                yield code.finding(
                    "logits_into_probability_loss",
                    loss,
                    f"the last layer {_show(layer)} has no activation, so {receiver.id} outputs logits, but it is "
                    f"compiled with loss={_show(loss)}, which expects probabilities: the loss it minimizes is "
                    "not the model's error",
                )


def _sequential_last(call: ast.Call) -> ast.expr | None:
    layers = _argument(call, 0, "layers")
    if isinstance(layers, (ast.List, ast.Tuple)) and layers.elts and not isinstance(layers.elts[-1], ast.Starred):
        return layers.elts[-1]
    return None


def _probability_loss(code: _Code, compile_call: ast.Call) -> ast.expr | None:
    """The compiled loss when it is a cross-entropy on probabilities (``from_logits`` off)."""
    loss = _argument(compile_call, 1, "loss")
    if loss is None:
        return None
    if _constant(loss) in _PROBABILITY_LOSS_NAMES or code.qualname(loss) in (
        *_PROBABILITY_LOSS_CLASSES,
        *_PROBABILITY_LOSS_FUNCTIONS,
    ):
        return loss
    if code.calls(loss, *_PROBABILITY_LOSS_CLASSES) and not loss.args:
        from_logits = _keyword(loss, "from_logits")
        return loss if from_logits is None or _constant(from_logits) is False else None
    return None


def _linear_dense(code: _Code, layer: ast.expr) -> bool:
    if not code.calls(layer, "keras.layers.Dense"):
        return False
    activation = _argument(layer, 1, "activation")
    return activation is None or _constant(activation) in (None, "linear")


_TEST_WORDS = {"test", "testing", "val", "valid", "validation"}
_TRAIN_WORDS = {"train", "training"}
_METRIC_WORDS = {"acc", "accuracy", "score", "loss"}


def _words(text: str) -> set[str]:
    """The words of an identifier or a label: ``X_trainScaled`` -> x, train, scaled."""
    return {word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", text)}


def _on_training_data(code: _Code, nodes: Iterable[ast.AST]) -> list[str]:
    """The training-data names these expressions use (``X_train``, ``train_loader``), when they use no
    test or validation data. Empty when unsure: a slice of the training data (``X_train[50000:]``) may be a
    validation set, and a function's own name says nothing of its data."""
    names: list[str] = []
    for node in (inner for outer in nodes for inner in ast.walk(outer)):
        if not isinstance(node, ast.Name):
            continue
        parent = code.parent.get(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            if "cross" in _words(node.id):  # cross_val_score(model, X_train, y_train): validation within training
                return []
            continue
        words = _words(node.id)
        if words & _TEST_WORDS or (words & _TRAIN_WORDS and isinstance(parent, ast.Subscript)):
            return []
        if words & _TRAIN_WORDS and node.id not in names:
            names.append(node.id)
    return names


def _validation_on_training_data(code: _Code) -> Iterator[Finding]:
    """Training data passed where validation or test data belongs: ``fit(X, y, validation_data=(X, y))``,
    ``test_acc = ...(X_train, y_train)``, ``print("Test accuracy:", model.evaluate(X_train, y_train))``."""
    for node in code.nodes:
        if _method(node, "fit"):
            yield from _fit_validated_on_own_data(code, node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            yield from _printed_as_test(code, node)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            yield from _assigned_as_test(code, node)


def _fit_validated_on_own_data(code: _Code, fit: ast.Call) -> Iterator[Finding]:
    data = [arg for arg in (_argument(fit, 0, "x"), _argument(fit, 1, "y")) if arg is not None]
    validation = _keyword(fit, "validation_data")
    if validation is None:
        return
    held_out = list(validation.elts) if isinstance(validation, (ast.Tuple, ast.List)) else [validation]
    if not data or len(held_out) < len(data):
        return
    if all(ast.dump(given) == ast.dump(held) for given, held in zip(data, held_out[: len(data)], strict=True)):
        yield code.finding(
            "validation_on_training_data",
            validation,
            f"fit validates on {_show(validation)}, the data it trains on: the validation accuracy is "
            "training accuracy, so it cannot show overfitting",
        )


def _assigned_as_test(code: _Code, node: ast.Assign | ast.AugAssign) -> Iterator[Finding]:
    targets = _bound_names(node.targets if isinstance(node, ast.Assign) else [node.target])
    if any(_words(name) & _TRAIN_WORDS for name in targets):  # train_acc, val_acc = run(...): both at once
        return
    claimed = [name for name in targets if _words(name) & _TEST_WORDS]
    training = _on_training_data(code, [node.value]) if claimed else []
    if not training:
        return
    evaluates = any(_method(inner, "evaluate") for inner in ast.walk(node.value))
    if evaluates or any(_words(name) & _METRIC_WORDS for name in claimed):
        yield code.finding(
            "validation_on_training_data",
            node,
            f"{', '.join(claimed)} {'is' if len(claimed) == 1 else 'are'} computed on {', '.join(training)}, the "
            "training data: the model has already seen it, so this measures how well it memorized, not how well "
            "it generalizes",
        )


def _printed_as_test(code: _Code, call: ast.Call) -> Iterator[Finding]:
    """A measurement on training data printed right after a label that calls it a test or validation
    result: ``model.evaluate(X_train, y_train)`` after "Test", any call on training data after "Test
    accuracy" (a label without a metric, "Test set size:", says nothing of what follows)."""
    label = ""
    for piece in _printed_pieces(call.args):
        if isinstance(piece, str):
            label = piece
            continue
        words = _words(label)
        if not words & _TEST_WORDS or words & _TRAIN_WORDS:
            continue
        for inner in ast.walk(piece):
            if not isinstance(inner, ast.Call) or not (_method(inner, "evaluate") or words & _METRIC_WORDS):
                continue
            training = _on_training_data(code, [*inner.args, *inner.keywords])
            if training:
                yield code.finding(
                    "validation_on_training_data",
                    inner,
                    f"{_show(inner)} is printed as {label.strip()!r}, but it measures {', '.join(training)}, the "
                    "training data: the model has already seen it, so this is not a test or validation result",
                )
                break


def _printed_pieces(args: Iterable[ast.expr]) -> Iterator[str | ast.expr]:
    """What ``print`` shows, in order: the text of the labels and the expressions between them, through
    f-strings, ``"...".format(...)`` and ``"..." % (...)``."""
    for arg in args:
        if isinstance(arg, ast.JoinedStr):
            for value in arg.values:
                yield value.value if isinstance(value, ast.FormattedValue) else _printed_text(value)
        elif isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "format":
            yield from _printed_pieces([arg.func.value, *arg.args])
        elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod) and isinstance(arg.left, ast.Constant):
            yield from _printed_pieces([arg.left, arg.right])
        else:
            yield _printed_text(arg)


def _printed_text(node: ast.expr) -> str | ast.expr:
    text = _constant(node)
    return text if isinstance(text, str) else node


def _is_scaler(code: _Code, node: ast.AST) -> bool:
    """A scikit-learn scaler class: StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler, Normalizer."""
    module, _, name = (code.qualname(node) or "").rpartition(".")
    return module.startswith("sklearn") and (name.endswith("Scaler") or name == "Normalizer")


class _ScaledData:
    """Where a scaler's fit went, followed in cell order: the names holding a scaler, and the code of data
    a scaler was fitted on, or that holds its output, with the fit."""

    def __init__(self, code: _Code) -> None:
        self.code = code
        self.scalers: set[str] = set()
        self.fitted: dict[str, ast.Call] = {}
        self.checked: set[ast.AST] = set()

    def by_scaler(self, value: ast.AST, *methods: str) -> TypeGuard[ast.Call]:
        """``scaler.fit(X)``, ``StandardScaler().fit_transform(X)``: a scaler's method called on data."""
        if not (_method(value, *methods) and value.args and isinstance(value.func, ast.Attribute)):
            return False
        scaler = value.func.value
        return (isinstance(scaler, ast.Name) and scaler.id in self.scalers) or (
            isinstance(scaler, ast.Call) and _is_scaler(self.code, scaler.func)
        )

    def split(self, split: ast.Call) -> Iterator[Finding]:
        """A finding for each argument of ``train_test_split`` that a scaler was fitted on."""
        self.checked.add(split)
        for arg in split.args:
            fit = self.fitted.get(ast.unparse(arg))
            if fit is not None:
                yield self.code.finding(
                    "scaler_fitted_before_split",
                    fit,
                    f"{_show(fit)} fits the scaler on {_show(fit.args[0])} before train_test_split splits "
                    f"{_show(arg)} ({self.code.where(split)}): the scaler has seen the rows held out for testing, "
                    "so the test accuracy is optimistic",
                )

    def assign(self, node: ast.Assign) -> None:
        """The names an assignment binds now hold a scaler, fitted data, or neither."""
        value = node.value
        fit: ast.Call | None
        if self.by_scaler(value, "fit", "fit_transform"):
            fit = self.fitted[ast.unparse(value.args[0])] = value
        elif self.by_scaler(value, "transform"):
            fit = self.fitted.get(ast.unparse(value.args[0]))
        else:
            fit = self.fitted.get(ast.unparse(value))
        for name in _bound_names(node.targets):
            self.fitted.pop(name, None)
            if fit is not None and _method(value, "fit"):  # scaler = StandardScaler().fit(X)
                self.scalers.add(name)
            elif fit is not None:
                self.fitted[name] = fit
            elif isinstance(value, ast.Call) and _is_scaler(self.code, value.func):
                self.scalers.add(name)


def _scaler_fitted_before_split(code: _Code) -> Iterator[Finding]:
    """A scaler fitted on data that a later ``train_test_split`` splits, followed through the names that
    hold the fitted data or its transform, in cell order."""
    data = _ScaledData(code)
    for node in code.nodes:
        if isinstance(node, ast.Call) and node not in data.checked and code.splits(node):
            yield from data.split(node)
        elif isinstance(node, ast.Expr) and data.by_scaler(node.value, "fit", "fit_transform"):
            data.fitted[ast.unparse(node.value.args[0])] = node.value
        elif isinstance(node, ast.Assign):
            for split in ast.walk(node.value):  # X, X_test = train_test_split(X): split before X is rebound
                if code.splits(split):
                    yield from data.split(split)
            data.assign(node)


def _unshuffled_split(code: _Code) -> Iterator[Finding]:
    for node in code.nodes:
        if code.splits(node) and _constant(_keyword(node, "shuffle")) is False:
            yield code.finding(
                "unshuffled_split",
                node,
                f"{_show(node)} keeps the rows in order and holds out the last ones: where the rows are sorted "
                "(Iris is, by species) the test set is all one class, of which the model saw too few",
            )


def _loss_class(code: _Code, node: ast.AST, frameworks: tuple[str, ...] = ("torch.nn", "keras.losses")) -> bool:
    """A loss class (not a loss object, nor Keras's loss functions, which are lowercase)."""
    module, _, name = (code.qualname(node) or "").rpartition(".")
    return module in frameworks and (name.endswith("Loss") if module == "torch.nn" else name[:1].isupper())


def _loss_class_not_instance(code: _Code) -> Iterator[Finding]:
    """``criterion = nn.CrossEntropyLoss``, ``train(..., loss_fn=nn.CrossEntropyLoss)`` and
    ``nn.CrossEntropyLoss(outputs, labels)``. A name that is somewhere called with no data,
    ``criterion()``, holds a class on purpose and is left alone. Keras instantiates a loss class passed to
    ``compile`` itself, so a Keras class is flagged only where the code calls it on data."""
    called: dict[str, set[bool]] = {}  # a name -> whether its calls pass data (positional arguments)
    for node in code.nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.setdefault(node.func.id, set()).add(bool(node.args))
    for node in code.nodes:
        if isinstance(node, ast.Assign) and _loss_class(code, node.value):
            names = _bound_names(node.targets)
            calls = set().union(*(called.get(name, set()) for name in names))
            torch = _loss_class(code, node.value, ("torch.nn",))
            if names and False not in calls and (torch or True in calls):
                yield code.finding(
                    "loss_class_not_instance",
                    node,
                    f"{names[0]} = {_show(node.value)} holds the loss class, not a loss: {names[0]}(outputs, "
                    "labels) then makes a new loss object instead of computing the loss",
                    f"make the loss object first: {names[0]} = {_show(node.value)}(), then "
                    f"loss = {names[0]}(outputs, labels)",
                )
        elif (
            isinstance(node, ast.keyword)
            and node.arg
            and re.search("loss|criterion", node.arg)
            and False not in called.get(node.arg, set())
            and _loss_class(code, node.value, ("torch.nn",))
        ):
            yield code.finding(
                "loss_class_not_instance",
                node.value,
                f"{node.arg}={_show(node.value)} passes the loss class, not a loss: calling it on outputs and "
                "labels makes a new loss object instead of computing the loss",
                f"pass a loss object: {node.arg}={_show(node.value)}()",
            )
        elif (
            isinstance(node, ast.Call)
            and _loss_class(code, node.func)
            and len(node.args) >= 2
            and not any(isinstance(arg, ast.Constant) for arg in node.args[:2])
        ):
            yield code.finding(
                "loss_class_not_instance",
                node,
                f"{_show(node)} makes a loss object with {_show(node.args[0])} as its settings; it computes no loss",
                f"make the loss object, then call it on the data: criterion = {_show(node.func)}(), then "
                f"loss = criterion({', '.join(_show(arg) for arg in node.args)})",
            )


_OTHER_DATA_SETS = {"FashionMNIST": "Fashion-MNIST", "fashion_mnist": "Fashion-MNIST", "EMNIST": "EMNIST"}
_OTHER_DATA_SETS |= {"KMNIST": "KMNIST", "emnist": "EMNIST", "kmnist": "KMNIST"}
_DATA_SET_LOADERS = ("tensorflow_datasets.load", "sklearn.datasets.fetch_openml")


def _not_mnist(code: _Code) -> Iterator[Finding]:
    """Fashion-MNIST, EMNIST or KMNIST loaded in place of MNIST: through torchvision or Keras, or by name
    from TensorFlow Datasets or OpenML. An import alone is no mistake; loading is."""
    for node in code.nodes:
        data_set = None
        if isinstance(node, (ast.Name, ast.Attribute)) and not isinstance(code.parent.get(node), ast.Attribute):
            parts = (code.qualname(node) or "").split(".")
            if parts[0] in ("torchvision", "keras"):
                data_set = next((_OTHER_DATA_SETS[part] for part in parts if part in _OTHER_DATA_SETS), None)
        elif code.calls(node, *_DATA_SET_LOADERS):
            name = _constant(_argument(node, 0, "name"))
            if isinstance(name, str):
                data_set = _OTHER_DATA_SETS.get(name.lower().replace("-", "_").split("/")[0])
        if data_set:
            yield code.finding(
                "not_mnist",
                node,
                f"{_show(node)} loads {data_set}, not the MNIST digits the assignment asks for: its accuracies "
                "cannot be compared with MNIST's",
            )


_DEVICE_QUERIES = ("torch.cuda.get_device_name", "torch.cuda.get_device_properties", "torch.cuda.current_device")


def _is_cuda(node: ast.AST | None) -> bool:
    value = _constant(node)
    return isinstance(value, str) and (value == "cuda" or value.startswith("cuda:"))


def _needs_gpu(code: _Code, node: ast.AST) -> bool:
    """Code that fails without a CUDA GPU: ``.cuda()``, ``torch.device('cuda')``, ``.to('cuda')``,
    ``device='cuda'`` and Lightning's ``Trainer(accelerator='gpu')`` or ``Trainer(gpus=1)``."""
    if isinstance(node, ast.keyword):
        return node.arg == "device" and _is_cuda(node.value)
    if isinstance(node, ast.Assign):
        return _is_cuda(node.value) and any("device" in name.lower() for name in _bound_names(node.targets))
    if not isinstance(node, ast.Call):
        return False
    if (code.qualname(node.func) or "").endswith("Trainer"):
        gpus = _keyword(node, "gpus")
        return _constant(_keyword(node, "accelerator")) in ("gpu", "cuda") or (
            isinstance(gpus, ast.List) or _constant(gpus) not in (..., 0, None, "0", "")
        )
    if code.qualname(node.func) == "torch.device" or _method(node, "to"):
        return bool(node.args) and _is_cuda(node.args[0])
    return _method(node, "cuda")


def _guarded(code: _Code, node: ast.AST) -> bool:
    """Inside a ``try``, or under an ``if``/loop whose condition speaks of the device (``if
    torch.cuda.is_available()``, ``if device.type == 'cuda'``, ``for i in range(torch.cuda.device_count())``)."""
    for up in code.ancestors(node):
        if isinstance(up, ast.Try) and up.handlers:
            return True
        if isinstance(up, ast.For):
            condition: ast.expr = up.iter
        elif isinstance(up, (ast.If, ast.IfExp, ast.While)):
            condition = up.test
        else:
            continue
        if re.search("cuda|gpu|device", ast.unparse(condition).lower()):
            return True
    return False


def _hard_coded_gpu(code: _Code) -> Iterator[Finding]:
    """Code that needs a GPU, where the code never asks ``torch.cuda.is_available()``; and a query of the
    GPU (``torch.cuda.get_device_name(0)``) that nothing guards, which fails even where the code asks."""
    checks = "torch.cuda.is_available" in code.referenced
    for node in code.nodes:
        if code.calls(node, *_DEVICE_QUERIES) and not _guarded(code, node):
            yield code.finding(
                "hard_coded_gpu",
                node,
                f"{_show(node)} asks for the GPU without checking there is one: it stops with an error on a "
                "machine without a GPU, like a grader's or most laptops",
                "print it only under if torch.cuda.is_available():, or drop it",
            )
        elif not checks and _needs_gpu(code, node) and not _guarded(code, node):
            yield code.finding(
                "hard_coded_gpu",
                node,
                f"{_show(node)} needs a CUDA GPU, and the code never checks torch.cuda.is_available(): it "
                "stops with an error on a machine without one, like a grader's or most laptops",
            )


_REMOVED_MODULES = {
    "keras.utils.np_utils": "import to_categorical from keras.utils instead: keras.utils.to_categorical(y)",
    "keras.wrappers": "use the scikeras package instead: from scikeras.wrappers import KerasClassifier",
}


def _removed_module(name: str) -> str | None:
    """The Keras 2 module a dotted name is in, if Keras 3 removed it."""
    return next((module for module in _REMOVED_MODULES if name == module or name.startswith(module + ".")), None)


def _keras2_leftovers(code: _Code) -> Iterator[Finding]:
    """Keras 2 names Keras 3 removed: ``np_utils``, ``keras.wrappers.scikit_learn``, ``lr=``,
    ``predict_classes`` and the ``'acc'`` history key (unless the code compiles with ``metrics=['acc']``,
    which Keras 3 still names ``'acc'``)."""
    acc_metric = any(
        isinstance(node, ast.keyword)
        and node.arg == "metrics"
        and any(_constant(inner) == "acc" for inner in ast.walk(node.value))
        for node in code.nodes
    )
    histories = {
        name
        for node in code.nodes
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) and node.value.attr == "history"
        for name in _bound_names(node.targets)
    }
    for node in code.nodes:
        for message, hint in _keras2_leftover(code, node, acc_metric, histories):
            yield code.finding("keras2_leftovers", node, message, hint)


def _keras2_leftover(code: _Code, node: ast.AST, acc_metric: bool, histories: set[str]) -> Iterator[tuple[str, str]]:
    """What is Keras 2 about this node, and how to say it in Keras 3."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{name}" for name in names] if node.module and not node.level else []
        for module in sorted({module for name in names if (module := _removed_module(_normal(name)))}):
            yield f"{_show(node)}: Keras 3 has no {module}", _REMOVED_MODULES[module]
    elif isinstance(node, ast.Attribute) and not isinstance(code.parent.get(node), ast.Attribute):
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        module = _removed_module(code.qualname(node) or "")
        if module and not _removed_module(code.qualname(root) or ""):  # names from a flagged import: the import
            yield f"{_show(node)}: Keras 3 has no {module}", _REMOVED_MODULES[module]
    elif isinstance(node, ast.Call):
        if (code.qualname(node.func) or "").startswith("keras.optimizers.") and _keyword(node, "lr") is not None:
            yield (
                f"{_show(node)} sets the learning rate with lr=, which Keras 3 optimizers no longer accept",
                "write learning_rate= instead of lr=",
            )
        if code.uses_keras and _method(node, "predict_classes"):
            yield (
                f"{_show(node)}: Keras 3 models have no predict_classes",
                "use np.argmax(model.predict(x), axis=1) for the predicted classes",
            )
    elif (
        isinstance(node, ast.Subscript)
        and code.uses_keras
        and not acc_metric
        and _constant(node.slice) in ("acc", "val_acc")
        and (
            (isinstance(node.value, ast.Attribute) and node.value.attr == "history")
            or (isinstance(node.value, ast.Name) and node.value.id in histories)
        )
    ):
        key = str(_constant(node.slice))  # "acc" or "val_acc", as checked above
        yield (
            f"{_show(node)}: Keras 3 names the metric as compile(metrics=[...]) spells it, so with "
            f"metrics=['accuracy'] the history has no {key!r}",
            f"read history.history[{_KERAS3_KEYS[key]!r}] instead",
        )


_KERAS3_KEYS = {"acc": "accuracy", "val_acc": "val_accuracy"}

_DETECTORS: tuple[Callable[[_Code], Iterator[Finding]], ...] = (
    _softmax_before_cross_entropy,
    _logits_into_probability_loss,
    _validation_on_training_data,
    _scaler_fitted_before_split,
    _unshuffled_split,
    _loss_class_not_instance,
    _not_mnist,
    _hard_coded_gpu,
    _keras2_leftovers,
)


# ---------------------------------------------------------------------------------------------- stale kernel


def _module_names(tree: ast.Module) -> set[str]:
    """The names a cell binds at the top level: assignments, loop and ``with`` targets, imports, functions
    and classes. Names local to a function, class or comprehension are not the notebook's."""
    names: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            pending += node.decorator_list
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        pending += ast.iter_child_nodes(node)
    return names


def _first_load(tree: ast.Module, name: str) -> ast.Name | None:
    uses = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
    ]
    return min(uses, key=lambda node: (node.lineno, node.col_offset), default=None)
