"""A free-form notebook's dry run: its cells in order, as Restart & Run All runs them, each ending one way
(ran, raised, timed out, or not run when the run's time was up), the run going on past a failing cell, shell
commands refused, and a run that built nothing turned into one first step.

The dry run patches the process it runs in (offline, served data sets, IPython's shell), so the notebook
below runs in a fresh Python, once for the whole file, as the worker would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.records import CellRun, FoundModel, FreeformRun, from_dict
from grader.worker.dry_run import nothing_found, run_dry
from grader.worker.job import DryRun

CELL_SECONDS = 2.0  # and the whole run 0.1 s less: the time the cells before the endless one may take
NOTEBOOK = [  # (cell number as Jupyter counts it, markdown included; source)
    (1, "x = 1\nprint('hello')"),
    (3, "y = x + 1\nraise ValueError('bad value')"),
    (4, "def make_model(problem, variant):\n    return None"),
    (5, "for i in range(3:\n    pass"),
    (6, "!pip install torchvision\nafter_the_shell = True"),
    (7, "import pytorch_lightning"),
    (8, "import time\nwhile True:\n    time.sleep(0.01)"),
    (9, "z = 3"),
]
RUN = """
import dataclasses, json, sys
from pathlib import Path
from grader.worker.dry_run import run_dry
from grader.worker.job import DryRun
budget = DryRun(**json.loads(sys.argv[1]))
code, run = run_dry(budget, Path(sys.argv[2]), "lab.ipynb")
print(json.dumps(dataclasses.asdict(run)))
"""


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> FreeformRun:
    """The notebook above, run with CELL_SECONDS a cell and, in all, a little less than that: every cell
    before the endless one runs, and the one after it finds the time up."""

    budget = {
        "seconds": CELL_SECONDS - 0.1,
        "cell_seconds": CELL_SECONDS,
        "train_seconds": 0.5,
        "cells": [{"cell": number, "source": source} for number, source in NOTEBOOK],
    }
    data = tmp_path_factory.mktemp("served")
    done = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(budget), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return from_dict(FreeformRun, json.loads(done.stdout.strip().splitlines()[-1]))


def cell(run: FreeformRun, number: int) -> CellRun:
    return next(c for c in run.cells if c.cell == number)


def test_every_cell_is_accounted_for_in_order(dry_run):
    assert [(c.cell, c.status) for c in dry_run.cells] == [
        (1, "ok"),
        (3, "error"),
        (4, "ok"),
        (5, "error"),
        (6, "ok"),
        (7, "error"),
        (8, "timeout"),
        (9, "not run"),
    ]


def test_a_cell_that_raises_is_recorded_with_its_line_and_the_run_goes_on(dry_run):
    raised = cell(dry_run, 3)
    assert (raised.error, raised.line, raised.code) == ("ValueError: bad value", 2, "raise ValueError('bad value')")
    assert cell(dry_run, 4).status == "ok"


def test_a_syntax_error_names_its_own_line(dry_run):
    broken = cell(dry_run, 5)
    assert broken.error.startswith("SyntaxError: ")
    assert (broken.line, broken.code) == (1, "for i in range(3:")


def test_shell_commands_are_not_run_and_the_rest_of_the_cell_is(dry_run):
    assert cell(dry_run, 6).status == "ok"
    assert "shell commands are not run by the grader: !pip install torchvision" in dry_run.notes


def test_an_optional_framework_that_is_not_installed_says_how_to_install_it(dry_run):
    missing = cell(dry_run, 7)
    assert missing.error.endswith(
        "PyTorch Lightning is not installed in the grader (pip install 'nn-grader[lightning]')"
    ), missing.error


def test_a_cell_that_runs_too_long_is_interrupted_and_the_cells_after_it_are_not_run(dry_run):
    endless = cell(dry_run, 8)
    assert endless.error == f"the cell ran past {CELL_SECONDS:g} s and was interrupted"
    assert (endless.line, endless.code) == (3, "time.sleep(0.01)")
    assert CELL_SECONDS <= endless.seconds < CELL_SECONDS + 1
    assert any(note.startswith(f"the dry run stopped after {CELL_SECONDS - 0.1:g} s") for note in dry_run.notes)


def test_a_builder_under_another_name_is_pointed_out(dry_run):
    assert any(note.startswith("make_model(problem, variant) looks like build_model") for note in dry_run.notes)


def test_a_notebook_without_code_is_refused_before_anything_runs():
    budget = DryRun(seconds=1, cell_seconds=1, train_seconds=1, cells=[{"cell": 1, "source": "# TODO\n\n"}])
    with pytest.raises(GraderError) as refused:
        run_dry(budget, Path("unused"), "lab.ipynb")
    assert refused.value.failure.kind == "empty"  # type: ignore[attr-defined]
    assert refused.value.message == "lab.ipynb holds no code: there is nothing to grade"


def found(name: str, chosen: str) -> FoundModel:
    return FoundModel(name, "torch", None, [5], 2, 1, trained=True, chosen_for=chosen)


def test_a_run_that_built_a_gradable_model_is_not_a_failure():
    assert nothing_found(FreeformRun(models=[found("Net()", "iris/single")]), "lab.ipynb") is None


def test_a_run_that_built_nothing_names_the_first_failing_cell_as_the_first_step():
    run = FreeformRun(cells=[CellRun(2, "ok", 0.1), CellRun(4, "error", 0.1, "NameError: name 'X' is not defined")])
    failure = nothing_found(run, "lab.ipynb")
    assert failure is not None and failure.kind == "no_models"
    assert failure.message == "lab.ipynb ran, but built no model the grader could grade"
    assert failure.hint == "fix cell 4 first (NameError: name 'X' is not defined), then Restart & Run All"


def test_a_run_whose_models_fit_neither_problem_says_what_each_takes():
    failure = nothing_found(FreeformRun(models=[found("Net()", "")]), "lab.ipynb")
    assert failure is not None
    assert failure.hint.startswith("the models it built fit neither problem: Iris takes 4 features to 3 classes")


def test_a_builder_under_another_name_is_the_first_step_when_nothing_was_built(dry_run):
    failure = nothing_found(dry_run, "lab.ipynb")
    assert failure is not None and failure.hint.startswith("make_model(problem, variant) looks like build_model")
