"""The student contract, read from an imported submission: ``build_model`` and the optional extras.

Every way the contract can be broken becomes a ``Failure`` that names the file and line and says
what to write instead.
"""

from __future__ import annotations

import importlib.util
import inspect
import resource
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from grader.errors import UngradableError
from grader.records import Failure, ModelOutput, SourceLocation

TRACEBACK_LINES = 40


@dataclass
class StudentCode:
    build_model: Callable[[str, str], Any]
    hyperparams: Any
    callbacks: Callable[[str, str], Any] | None
    train: Callable[[Any, Any, dict[str, Any]], Any] | None
    notes: list[str] = field(default_factory=list)  # warnings for the report, about the submission as a whole
    # A free-form run: the loss each chosen model was trained with, by model key ("logits" for cross_entropy).
    observed_loss: dict[str, ModelOutput] = field(default_factory=dict)
    hyperparams_source: str = "HYPERPARAMS"  # what warnings call the hyperparameters' origin


def import_submission(submission_dir: Path, entry: str) -> StudentCode:
    """Import the student's module as ``submission`` (so ``if __name__ == "__main__":`` blocks stay off)."""
    path = submission_dir / entry
    sys.path.insert(0, str(submission_dir))  # helper modules next to the submission import normally
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise UngradableError(Failure("import_error", f"{entry} cannot be imported as a Python module"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as error:
        raise UngradableError(
            failure_from(
                error,
                submission_dir,
                "import_error",
                f"{entry} called sys.exit({error.code!r}) while being imported",
                'put the code that runs things under  if __name__ == "__main__":',
            )
        ) from None
    except BaseException as error:  # anything the student's top level raises
        if out_of_memory(error):
            raise UngradableError(memory_failure(error, submission_dir, f"importing {entry}")) from None
        raise UngradableError(
            failure_from(
                error,
                submission_dir,
                "import_error",
                f"importing {entry} failed: {describe(error)}",
                import_hint(error),
            )
        ) from None
    return read_contract(module, entry)


def read_contract(module: ModuleType, entry: str) -> StudentCode:
    build_model = getattr(module, "build_model", None)
    if build_model is None:
        raise UngradableError(
            Failure(
                "contract",
                f"{entry} defines no build_model function",
                "define  def build_model(problem, variant):  returning an untrained model; "
                "problem is 'iris' or 'mnist', variant is 'single' or 'multi'",
                SourceLocation(entry),
            )
        )
    _check_signature(build_model, "build_model", ("iris", "single"), "def build_model(problem, variant):", entry)
    callbacks = getattr(module, "callbacks", None)
    if callbacks is not None:
        _check_signature(callbacks, "callbacks", ("iris", "single"), "def callbacks(problem, variant):", entry)
    train, notes = getattr(module, "train", None), []
    if train is not None and not _is_training_hook(train):
        what = f"train{_signature(train)}" if callable(train) else f"train (a {type(train).__name__})"
        notes.append(
            f"{what} does not take (model, data, hparams), so the grader trained the models itself: rename it "
            "if it is a helper of your own, or write  def train(model, data, hparams):  to have your loop used"
        )
        train = None
    return StudentCode(build_model, getattr(module, "HYPERPARAMS", None), callbacks, train, notes)


HPARAMS_NAMES = {"hparams", "hyperparams", "hyperparameters", "hyper", "hp", "params", "config", "cfg", "settings"}


def _is_training_hook(train: Any) -> bool:
    """Whether ``train`` is the contract's hook, not a loop of the student's own that happens to share the
    name (``train(net, loader, epochs=10)``, ``train(model, X, y)``), which would be called with the wrong
    things: it must take (model, data, hparams), named so or with exactly three positional parameters, the
    third named for hyperparameters. One taking only ``*args`` (a wrapper) is taken at its word."""
    if not callable(train):
        return False
    try:
        signature = inspect.signature(train)
        signature.bind(None, None, None)
    except ValueError:  # no signature to inspect (a builtin): let the call itself tell
        return True
    except TypeError:
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in signature.parameters.values() if p.kind in kinds]
    if not names or names[:3] == ["model", "data", "hparams"]:
        return True
    return len(names) == 3 and names[2].lower() in HPARAMS_NAMES


def _check_signature(function: Any, name: str, arguments: tuple[Any, ...], expected: str, entry: str) -> None:
    if not callable(function):
        raise UngradableError(
            Failure(
                "contract",
                f"{name} in {entry} is a {type(function).__name__}, not a function",
                f"write  {expected}",
                SourceLocation(entry),
            )
        )
    try:
        inspect.signature(function).bind(*arguments)
    except TypeError:
        raise UngradableError(
            Failure(
                "contract",
                f"{name}{_signature(function)} cannot be called as {name}{_arguments(expected)}",
                f"write  {expected}",
                location_of(function, entry),
            )
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let the call itself tell
        return


def _signature(function: Any) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(...)"


def _arguments(expected: str) -> str:
    return expected[expected.index("(") :].rstrip(":")


def location_of(function: Any, entry: str) -> SourceLocation:
    code = getattr(function, "__code__", None)
    if code is None:
        return SourceLocation(entry)
    try:
        line = inspect.getsourcelines(function)[0][0].strip()
    except (OSError, TypeError):
        line = ""
    return SourceLocation(Path(code.co_filename).name, code.co_firstlineno, line)


def out_of_memory(error: BaseException) -> bool:
    """Python's MemoryError, or a framework's own words for a failed allocation."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "out of memory" in text


def memory_failure(error: BaseException, submission_dir: Path, doing: str) -> Failure:
    limit = resource.getrlimit(resource.RLIMIT_DATA)[0] if hasattr(resource, "RLIMIT_DATA") else -1
    amount = f"{limit / 2**30:g} GiB of memory, the limit" if limit > 0 else "the memory available"
    return failure_from(
        error,
        submission_dir,
        "memory",
        f"{doing} used more than {amount}",
        "use a smaller model or batch size, and do not keep copies of the data",
    )


def describe(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def import_hint(error: BaseException) -> str:
    if isinstance(error, ModuleNotFoundError):
        return (
            f"the grader does not have the package {error.name!r}; use only the standard library, NumPy, "
            "PyTorch or Keras/TensorFlow, or ask your instructor to add it"
        )
    if isinstance(error, SyntaxError):
        return "fix the syntax on that line"
    return "the module's top level should only import things and define functions and constants"


def failure_from(error: BaseException, submission_dir: Path, kind: str, message: str, hint: str = "") -> Failure:
    """A Failure pointing at the deepest line of the student's own code that the error passed through."""
    return Failure(kind, message, hint, error_location(error, submission_dir), format_traceback(error, submission_dir))


def error_location(error: BaseException, submission_dir: Path) -> SourceLocation | None:
    root = submission_dir.resolve()
    if isinstance(error, SyntaxError) and error.filename:
        path = Path(error.filename)
        if _inside(path, root):
            return SourceLocation(str(path.resolve().relative_to(root)), error.lineno, (error.text or "").strip())
    for frame in reversed(_frames(error.__traceback__)):
        path = Path(frame.filename)
        if _inside(path, root):
            return SourceLocation(str(path.resolve().relative_to(root)), frame.lineno, (frame.line or "").strip())
    return None


def _frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb)) if tb else []


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def format_traceback(error: BaseException, submission_dir: Path | None = None) -> str:
    """The traceback from the student's first frame on: the grader's, importlib's and runpy's frames that
    called into the submission say nothing a student can act on. Every frame after it is kept, library
    frames included, and a traceback that never enters the submission is kept whole."""
    if submission_dir is not None:
        _drop_frames_before_student(error, submission_dir.resolve(), set())
    lines = "".join(traceback.format_exception(error)).splitlines()
    return "\n".join(lines[-TRACEBACK_LINES:])


def _drop_frames_before_student(error: BaseException, root: Path, seen: set[int]) -> None:
    """Start ``error``'s traceback (and those of its causes and contexts) at the first frame in ``root``."""
    if id(error) in seen:
        return
    seen.add(id(error))
    if isinstance(error, SyntaxError) and error.filename and _inside(Path(error.filename), root):
        error.__traceback__ = None  # the error itself shows the student's file and line: no frame is theirs
    tb = error.__traceback__
    first = tb
    while first is not None and not _inside(Path(first.tb_frame.f_code.co_filename), root):
        first = first.tb_next
    if first is not None:
        error.__traceback__ = first
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            _drop_frames_before_student(linked, root, seen)


LOSS_NAMES: tuple[tuple[tuple[str, ...], ModelOutput], ...] = (
    (("CrossEntropyLoss", "cross_entropy", "SparseCategoricalCrossentropy(from_logits=True"), "logits"),
    (("NLLLoss", "nll_loss"), "log_probabilities"),
)


def loss_in_source(function: Any) -> ModelOutput | None:
    """What the loss in a student's own train() expects, read from its source where it names one."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    for names, expects in LOSS_NAMES:
        if any(name in source for name in names):
            return expects
    return None
