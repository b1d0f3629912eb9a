"""The notebook form of the contract: it starts with clear things to do, and once done it grades
exactly like the module form."""

from __future__ import annotations

import nbformat
import pytest
from conftest import FIXTURES, REPOSITORY
from notebooks import code, write_notebook

from grader.notebook import convert
from grader.pipeline import GradeOptions, measure_submission

pytest.importorskip("torch")

TEMPLATE = REPOSITORY / "student_template" / "assignment.ipynb"
FILLED = FIXTURES / "notebook" / "assignment_filled.ipynb"
MODULE = FIXTURES / "notebook" / "assignment_filled.py"  # the filled notebook as a module


def test_the_filled_copy_differs_from_the_template_only_in_the_exercise_cells():
    template, filled = nbformat.read(TEMPLATE, as_version=4), nbformat.read(FILLED, as_version=4)
    assert len(template.cells) == len(filled.cells)
    for ours, theirs in zip(template.cells, filled.cells, strict=True):
        if "exercise" not in ours.metadata.get("tags", []):
            assert ours.source == theirs.source


def test_the_template_keeps_only_what_grading_needs():
    module = convert(TEMPLATE).module
    assert "def build_model(problem, variant):" in module and "HYPERPARAMS = {" in module
    assert "notebook_check" not in module and "%grade" not in module  # the check cell is magics only
    assert "plt.plot" not in module and "optimizer.step()" not in module  # the exploration cell


def test_the_untouched_template_says_which_parts_are_still_to_do(fake_mnist, fast_rubric):
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1)
    failures = {m.key: m.failure for m in measure_submission(TEMPLATE, options, fast_rubric).models}
    assert failures["iris/single"].message == (
        "build_model('iris', 'single') is not written yet: the single-layer model is still the "
        "template's TODO (Part 1: single_layer)"
    )
    assert failures["iris/single"].location.cell == 7
    assert failures["iris/multi"].message.endswith("still the template's TODO (Part 2: multi_layer)")
    assert failures["iris/multi"].hint == "replace the  raise NotImplementedError  line with your code"


def test_the_filled_notebook_grades_exactly_like_the_module_form(fake_mnist, fast_rubric):
    options = GradeOptions(data_dir=fake_mnist, threads=1)
    notebook = measure_submission(FILLED, options, fast_rubric)
    module = measure_submission(MODULE, options, fast_rubric)
    assert [m.key for m in notebook.models] == [m.key for m in module.models]
    for ours, theirs in zip(notebook.models, module.models, strict=True):
        assert ours.failure is None and ours.accuracy == theirs.accuracy
        assert [r.loss for r in ours.run.history] == [r.loss for r in theirs.run.history]


def test_kept_code_missing_a_skipped_name_is_told_where_it_is_and_run_all_runs_everything(
    tmp_path, fake_mnist, fast_rubric
):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("from torch import nn"),
        code("def widest():\n    return 16\n\nWIDTH = widest()"),  # a constant computed by a call: not kept
        code(
            "def build_model(problem, variant):\n    return nn.Sequential(nn.Linear(4, WIDTH), nn.ReLU(), "
            "nn.Linear(WIDTH, 3))"
        ),
    )
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1)
    failure = measure_submission(path, options, fast_rubric).models[0].failure
    assert failure.message == "build_model('iris', 'single') raised NameError: name 'WIDTH' is not defined"
    assert (failure.location.cell, failure.location.line) == (3, 2)
    assert failure.hint.startswith("'WIDTH' is set in cell 2, line 4 by top-level code the grader does not run")
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1, run_all=True)
    assert all(m.failure is None for m in measure_submission(path, options, fast_rubric).models)
