"""A free-form submission's dry run: every cell in order, as Restart & Run All would, on a budget.

The cells run in IPython's own shell (magics, ``display`` and tracebacks as in Jupyter, in this process, so
the grader can watch what the code builds and trains). A failing cell is recorded with its line and the
run goes on, as a student re-running cells would. Training is cut short after a few seconds a cell: the
grader retrains what it finds itself. Shell commands (``!pip install``) are not run, plots go to a
non-interactive backend, the data sets are served and the network is off (``grader.worker.served_data``).

The result is the contract a module would have written by hand: a ``StudentCode`` whose ``build_model``
rebuilds the chosen models with fresh weights and whose ``HYPERPARAMS`` are what the run trained with;
everything downstream grades it as usual.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from grader.errors import UngradableError
from grader.notebook import parse_cell
from grader.records import CellRun, CellStatus, Failure, FreeformRun, SourceLocation, model_key
from grader.worker.contract import StudentCode, describe
from grader.worker.found_models import (
    PIXELS_ABOVE,
    Classified,
    KerasRecorder,
    Place,
    TorchRecorder,
    TrainingCut,
    Watch,
    choose,
    classify,
)
from grader.worker.job import DryRun
from grader.worker.served_data import NotServed, Offline, ServedData, go_offline, patch_on_import, serve

SHELL_MAGICS = ("pip", "conda", "mamba", "sx", "system", "sh", "bash", "script")
OPTIONAL = {
    "pytorch_lightning": "PyTorch Lightning is not installed in the grader (pip install 'nn-grader[lightning]')",
    "lightning": "PyTorch Lightning is not installed in the grader (pip install 'nn-grader[lightning]')",
    "torchvision": "torchvision is not installed in the grader (pip install 'nn-grader[torchvision]')",
}


RAW = "raw TensorFlow variables"
MODELS_LISTED = 40  # a notebook that builds hundreds of models (a search in a loop) has them counted, not listed
TEXT_SHOWN = 400  # characters of an error message or a line of code kept for the report


class CellTimeout(Exception):
    """A cell ran past the dry run's time for one cell."""


class DryRunner:
    """Runs the cells and keeps what the grader needs from them."""

    def __init__(self, budget: DryRun, data_dir: Path, notebook: str) -> None:
        self.budget, self.notebook = budget, notebook
        self.cells = budget.cells
        self.data = ServedData(data_dir)
        self.cell_of: dict[int, int | None] = {}  # IPython's execution count -> our cell number
        self.watch = Watch(self._locate, self._source_of_file, budget.train_seconds)
        self.torch = TorchRecorder(self.watch)
        self.keras = KerasRecorder(self.watch)
        self.notes: list[str] = []
        self.shell: Any = None

    def run(self) -> FreeformRun:
        started = time.perf_counter()
        self._prepare()
        runs: list[CellRun] = []
        unset: set[str] = set()  # names the cells cut short by the dry run did not get to set
        for cell in self.cells:
            if time.perf_counter() - started > self.budget.seconds:
                runs.append(CellRun(cell["cell"], "not run", 0.0))
                continue
            run = self._run_cell(cell)
            missing = re.match(r"NameError: name '(\w+)' is not defined", run.error)
            if run.status == "error" and missing and missing[1] in unset:
                run.status = "skipped"
                run.error += " (an earlier cell the dry run cut short would have set it)"
            if run.status == "ok" and run.error:
                unset |= _top_level_names(cell["source"])
            runs.append(run)
        for run in runs:
            where = f"cell {run.cell}" if run.cell else "the script"
            if run.status == "ok" and run.error:  # stopped at the budget, the rest of the cell not run
                self.notes.append(f"{where}: {run.error}; the lines after its training did not run")
            if run.status == "skipped":
                self.notes.append(f"{where} failed: {run.error}")
        if any(run.status == "not run" for run in runs):
            self.notes.append(
                f"the dry run stopped after {self.budget.seconds:g} s: the cells after it were not run "
                "(train for fewer epochs, or load less data, to have them run)"
            )
        return FreeformRun(cells=runs, unserved=self.data.unserved, notes=self.notes, seconds=0.0)

    def _prepare(self) -> None:
        os.environ["MPLBACKEND"] = "Agg"
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        class Shell(InteractiveShell):
            """IPython's shell, with plots on a non-interactive backend whatever %matplotlib asks for."""

            def enable_gui(self, gui: str | None = None) -> None:
                return None

            def enable_matplotlib(self, gui: str | None = None) -> tuple[str, str]:
                import matplotlib

                matplotlib.use("Agg")
                return "agg", "agg"

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "nocolor"
        config.InteractiveShell.xmode = "Plain"
        self.shell = Shell.instance(config=config)
        self.shell.system = self.shell.system_piped = self.shell.system_raw = self._refuse_shell
        self.shell.getoutput = self._refuse_shell
        for magic in SHELL_MAGICS:
            for kind in ("line", "cell"):
                self.shell.register_magic_function(self._refuse_magic(magic), kind, magic)
        go_offline()
        serve(self.data)
        patch_on_import({"torch": self.torch.install, "keras.src.models.model": self.keras.install})

    def _refuse_shell(self, command: str, *args: Any, **kwargs: Any) -> None:
        note = f"shell commands are not run by the grader: !{command.strip()[:60]}"
        if note not in self.notes:
            self.notes.append(note)
        print(f"[grader] not run: !{command}")

    def _refuse_magic(self, name: str) -> Any:
        def refuse(line: str = "", cell: str = "") -> None:
            self._refuse_shell(f"%{name} {line}")

        return refuse

    def _run_cell(self, cell: dict[str, Any]) -> CellRun:
        number, source = cell["cell"], cell["source"]
        self.watch.new_cell()
        self.cell_of[self.shell.execution_count] = number
        started = time.perf_counter()
        previous = signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, self.budget.cell_seconds)
        try:
            result = self.shell.run_cell(source, store_history=True, silent=False)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        seconds = round(time.perf_counter() - started, 3)
        error = result.error_before_exec or result.error_in_exec
        run = CellRun(number, "ok", seconds, training_cut=self.watch.cut)
        if isinstance(error, TrainingCut):  # not the notebook's failure: the dry run's budget
            run.error = str(error)
            return run
        if error is not None:
            line, code = self._where(error, number, source)
            status: CellStatus = "timeout" if isinstance(error, CellTimeout) else "error"
            run.status, run.error, run.line, run.code = status, _short(self._describe(error)), line, _short(code)
        return run

    def _source_of_file(self, filename: str) -> str | None:
        count = self.shell.compile._filename_map.get(filename)
        return self._source_of(self.cell_of[count]) if count in self.cell_of else None

    def _source_of(self, number: int | None) -> str:
        return next((c["source"] for c in self.cells if c["cell"] == number), "")

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, CellTimeout):
            return f"the cell ran past {self.budget.cell_seconds:g} s and was interrupted"
        if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in OPTIONAL:
            return f"{describe(error)}: {OPTIONAL[(error.name or '').split('.')[0]]}"
        if isinstance(error, NotServed | Offline):
            return str(error)
        if isinstance(error, SyntaxError):  # without IPython's name for the cell: the report says which cell
            return f"{type(error).__name__}: {error.msg}"
        return describe(error)

    def _where(self, error: BaseException, number: int | None, source: str) -> tuple[int | None, str]:
        """The line of the failing cell the error went through (for a syntax error, its own line)."""
        lines = source.splitlines()
        if isinstance(error, SyntaxError) and error.lineno:
            return error.lineno, (error.text or "").strip()
        filenames = {
            name for name, count in self.shell.compile._filename_map.items() if self.cell_of.get(count) == number
        }
        line = None
        for frame in traceback.extract_tb(error.__traceback__):
            if frame.filename in filenames:
                line = frame.lineno
        if line is None or not 0 < line <= len(lines):
            return None, ""
        return line, lines[line - 1].strip()

    def _locate(self) -> Place:
        """Where the notebook's code is running now: its innermost and outermost frames in notebook cells."""
        frame: FrameType | None = sys._getframe(1)
        filenames = self.shell.compile._filename_map if self.shell is not None else {}
        place = Place()
        while frame is not None:
            count = filenames.get(frame.f_code.co_filename)
            if count is not None and count in self.cell_of:
                number = self.cell_of[count]
                lines = self._source_of(number).splitlines()
                line = frame.f_lineno
                code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                location = SourceLocation(self.notebook, line, code, cell=number)
                place.inner, place.frame = place.inner or location, place.frame or frame
                place.outer = location
                place.marks.append(code)
            frame = frame.f_back
        return place

    def found(self) -> tuple[list[Classified], dict[str, Classified]]:
        """Every model the run built, probed and classified, and the one chosen per problem and variant."""
        classified = []
        for recorder in (self.torch, self.keras):
            for made in recorder.roots():
                classified.append(Classified(made, classify(made, recorder.probe)))
        if self.data.unserved and "mnist" not in self.data.served:  # its digits are another data set's
            for item in classified:
                if item.found.problem == "mnist":
                    item.found.problem = item.found.variant = None
                    item.found.why = "built for a data set the grader does not serve, not for MNIST"
        tagged = {int(cell): tag for cell, tag in self.budget.chosen.items()}
        chosen = choose(classified, tagged)
        for item in classified:
            if item.found.problem == "mnist" and item.made.pixel_max > PIXELS_ABOVE and item.found.trained:
                self.watch.find(
                    "unscaled_pixels",
                    f"{item.made.name} was trained on pixel values up to {item.made.pixel_max:g}: the images were "
                    "not scaled to [0, 1]",
                    "divide the pixels by 255 (x / 255.0, or transforms.ToTensor() with torchvision)",
                    item.made.place.outer,
                )
        return classified, chosen


def _interrupt(signum: int, frame: Any) -> None:
    raise CellTimeout()


def run_dry(budget: DryRun, data_dir: Path, notebook: str) -> tuple[StudentCode, FreeformRun]:
    """Run the submission's cells and turn what they built into the contract the grader trains with."""
    if not any(_has_code(cell["source"]) for cell in budget.cells):
        raise UngradableError(
            Failure(
                "empty",
                f"{notebook} holds no code: there is nothing to grade",
                "write the models in it (an Iris and an MNIST network, each single- and multi-layer), train "
                "them, and save the file",
                SourceLocation(notebook),
            )
        )
    started = time.perf_counter()
    runner = DryRunner(budget, data_dir, notebook)
    run = runner.run()
    classified, chosen = runner.found()
    runner.watch.active = False  # the grader trains next, in this process: nothing more to watch or cut
    runner.torch.stop()
    listed = [item for item in classified if item.found.chosen_for]
    listed += [item for item in classified if not item.found.chosen_for][: MODELS_LISTED - len(listed)]
    run.models = [item.found for item in listed]
    if len(classified) > len(listed):
        run.notes.append(
            f"{len(classified) - len(listed)} more models were built; the first {MODELS_LISTED} are listed"
        )
    run.findings = runner.watch.findings
    run.notes += _notes(budget, classified)
    run.seconds = round(time.perf_counter() - started, 3)
    return _student_code(chosen), run


def _notes(budget: DryRun, classified: list[Classified]) -> list[str]:
    notes = [
        f"{name}(problem, variant) looks like build_model under another name: rename it build_model to have it "
        "graded by the contract, or build and train the models in the notebook"
        for name in _builders_by_another_name(budget)
    ]
    sources = "\n".join(cell["source"] for cell in budget.cells)
    if "GradientTape" in sources and not any(item.found.framework == "keras" for item in classified):
        notes.append(
            f"the notebook trains {RAW} with tf.GradientTape: there is no model object for the "
            "grader to rebuild and retrain; build a keras.Sequential (or a torch.nn.Module) to have it graded"
        )
    unknown = [item.found for item in classified if item.found.problem is None and item.found.trained]
    for found in unknown:
        notes.append(
            f"{found.name} ({found.location}) was trained but fits neither problem (it takes "
            f"{found.inputs or 'no input the grader tried'} and gives {found.classes} outputs)"
        )
    return notes


def _builders_by_another_name(budget: DryRun) -> list[str]:
    """Top-level functions taking (problem, variant): a contract submission with its builder misnamed."""
    names = []
    for cell in budget.cells:
        tree = parse_cell(cell["source"])
        for node in tree.body if tree else []:
            if isinstance(node, ast.FunctionDef) and [a.arg for a in node.args.args[:2]] == ["problem", "variant"]:
                names.append(node.name)
    return names


def _student_code(chosen: dict[str, Classified]) -> StudentCode:
    def build_model(problem: str, variant: str) -> Any:
        item = chosen.get(model_key(problem, variant))
        if item is None:
            kind = "single-layer" if variant == "single" else "multi-layer"
            raise UngradableError(
                Failure(
                    "not_found",
                    f"no {problem.upper() if problem == 'mnist' else problem.title()} {kind} model was found in the "
                    "run",
                    f"build and train a {kind} network for {problem} in the notebook (see the models found below); "
                    f"if it is there, mark the line that creates it with  # grader: {problem} {variant}",
                )
            )
        return item.made.rebuild()

    hyperparams = {key: _hyperparams(item) for key, item in chosen.items()}
    losses = {key: item.made.loss_expects for key, item in chosen.items() if item.made.loss_expects}
    return StudentCode(
        build_model, hyperparams, None, None, observed_loss=losses, hyperparams_source="the notebook's training"
    )


def _hyperparams(item: Classified) -> dict[str, Any]:
    """What the run trained with, in HYPERPARAMS' terms; what it did not show is left to the rubric."""
    settings = dict(item.made.hyperparams)
    if item.made.framework == "keras" and item.made.model.optimizer is not None:
        for key in ("optimizer", "learning_rate", "weight_decay"):
            settings.pop(key, None)  # the rebuilt model is compiled with the student's optimizer
    return {key: value for key, value in settings.items() if value is not None}


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def nothing_found(run: FreeformRun, notebook: str) -> Failure | None:
    """The whole submission's failure when its run built no model the grader can grade, naming what it did
    find instead: one clear first step rather than four models "not found"."""
    if any(found.chosen_for for found in run.models):
        return None
    failed = run.failed_cells()
    if failed:
        first = failed[0]
        where = f"cell {first.cell}" if first.cell else "the script"
        hint = f"fix {where} first ({first.error}), then Restart & Run All"
    elif run.models:
        hint = "the models it built fit neither problem: Iris takes 4 features to 3 classes, MNIST 28x28 pixels to 10"
    else:
        hint = (
            "build the networks in the notebook and train them (for example nn.Sequential(...) or "
            "keras.Sequential([...]) and a training loop or fit), or define build_model(problem, variant) to be "
            "graded by the contract"
        )
    renamed = next((note for note in run.notes if "build_model under another name" in note or RAW in note), None)
    return Failure(
        "no_models",
        f"{notebook} ran, but built no model the grader could grade",
        renamed or hint,
        SourceLocation(notebook),
    )


def _short(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 3] + "..."


def _top_level_names(source: str) -> set[str]:
    """The names a cell's top-level code binds."""
    tree = parse_cell(source)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
    return names
