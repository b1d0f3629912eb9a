"""Free-form notebooks, as students of the lab write them, graded without a contract.

Every notebook and script of ``tests/fixtures/freeform`` (see its README and ``corpus.toml``) is run as
``grade models`` runs it, and what the run finds is held to what the corpus says: the models chosen, the
cells that fail, the mistakes flagged, the data sets not served. A few are graded all the way, to show that
the upstream starter grades without edits, that free-form and contract grading agree, and that a complete,
a half-finished and a broken notebook are told apart.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from conftest import FIXTURES

from grader.load import load_submission
from grader.pipeline import GradeOptions, grade, measure_submission
from grader.records import Measurements
from grader.report import EXIT_BELOW_PASS_MARK, EXIT_PASSED, EXIT_UNGRADABLE, Report
from grader.rubric import Rubric, load_rubric

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = FIXTURES / "freeform"
ENTRIES = tomllib.loads((CORPUS / "corpus.toml").read_text())
HAS = {name: importlib.util.find_spec(name) is not None for name in ("torchvision", "pytorch_lightning")}


def corpus_params() -> list:
    """One case per fixture; those that need torchvision run where it is installed (make test VISION=1)."""
    cases = []
    for name, entry in sorted(ENTRIES.items()):
        marks = [pytest.mark.torchvision] if "torchvision" in entry.get("needs", []) else []
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


# Graded all the way by the tests below; the corpus test reads their runs rather than running them again.
FULLY_GRADED = {"starter_keras", "half_finished_keras", "same_as_contract", "data_only"}


@pytest.fixture(scope="module")
def freeform_rubric(tmp_path_factory: pytest.TempPathFactory, fast_rubric_file: Path) -> Rubric:
    """The fast rubric, with a shorter training budget for the dry run."""
    path = tmp_path_factory.mktemp("rubric") / "freeform.toml"
    path.write_text(fast_rubric_file.read_text() + "\n[freeform]\ntrain_seconds = 1.0\n")
    return load_rubric(path)


def find_models(path: Path, fake_mnist: Path, rubric: Rubric) -> Measurements:
    return measure_submission(path, GradeOptions(data_dir=fake_mnist, threads=1, find_only=True), rubric)


@pytest.fixture(scope="module")
def graded(fake_mnist: Path, freeform_rubric: Rubric) -> Callable[[str], Report]:
    """Full grades of corpus files, each once for the module."""
    reports: dict[str, Report] = {}

    def run(name: str) -> Report:
        if name not in reports:
            options = GradeOptions(data_dir=fake_mnist, threads=1)
            reports[name] = grade(CORPUS / name, options, freeform_rubric, None)
        return reports[name]

    return run


def chosen(measurements: Measurements) -> dict[str, object]:
    run = measurements.freeform
    return {found.chosen_for: found for found in run.models if found.chosen_for} if run else {}


@pytest.mark.parametrize("name", corpus_params())
def test_each_corpus_notebook_is_run_and_its_models_found_as_the_corpus_says(name, fake_mnist, freeform_rubric, graded):
    entry = ENTRIES[name]
    if "torchvision" in entry.get("needs", []):
        pytest.importorskip("torchvision")
    if name in FULLY_GRADED:
        measured = graded(entry["file"]).measurements
    else:
        measured = find_models(CORPUS / entry["file"], fake_mnist, freeform_rubric)
    run = measured.freeform
    assert run is not None, measured.failure
    found = chosen(measured)
    assert sorted(found) == sorted(entry["models"])
    assert sorted(cell.cell or 0 for cell in run.failed_cells()) == sorted(entry["failing_cells"])
    assert sorted({finding.kind for finding in run.findings}) == sorted(set(entry["mistakes"]))
    for unserved in entry.get("unserved", []):
        assert any(unserved in line for line in run.unserved + [c.error for c in run.failed_cells()])
    for key, cell in entry.get("picks", {}).items():
        assert found[key].location.cell == cell, found[key]
    if entry["outcome"] == "empty":
        assert measured.failure is not None and measured.failure.kind in ("no_models", "empty")
    if entry["outcome"] in ("complete", "partial"):
        assert measured.failure is None


def test_a_lightning_notebook_without_lightning_gets_a_specific_reason(fake_mnist, freeform_rubric):
    if HAS["pytorch_lightning"]:
        pytest.skip("Lightning is installed here")
    run = find_models(CORPUS / "lightning_torch.ipynb", fake_mnist, freeform_rubric).freeform
    assert any("PyTorch Lightning is not installed in the grader" in cell.error for cell in run.failed_cells())


def test_the_mode_is_read_from_the_code_before_anything_runs():
    assert load_submission(CORPUS / "same_as_contract.ipynb").mode == "freeform"
    assert load_submission(CORPUS / "same_as_contract_contract.py").mode == "contract"
    assert load_submission(CORPUS / "script_torch.py").cells[0].number == 0  # a script is one cell


def test_the_upstream_starter_with_keras_models_grades_without_a_tag_or_an_edit(graded):
    report = graded("starter_keras.ipynb")
    assert report.status == "graded" and report.exit_code in (EXIT_PASSED, EXIT_BELOW_PASS_MARK)
    failures = {m.key: m.failure for m in report.measurements.models if m.failure is not None}
    assert not failures
    assert [m.key for m in report.measurements.models] == ["iris/single", "iris/multi", "mnist/single", "mnist/multi"]
    assert not report.measurements.freeform.failed_cells()


@pytest.mark.torchvision
def test_the_upstream_starter_with_pytorch_models_grades_without_a_tag_or_an_edit(graded):
    pytest.importorskip("torchvision")
    report = graded("starter_torch.ipynb")
    assert report.status == "graded"
    assert all(m.failure is None for m in report.measurements.models)


def test_a_free_form_notebook_and_the_same_models_under_the_contract_score_within_5_points(graded):
    # without baselines, accuracy is unscored: the structure, gap and regularization checks are compared
    free_form, contract = graded("same_as_contract.ipynb"), graded("same_as_contract_contract.py")
    assert free_form.max_points == contract.max_points
    assert abs(free_form.points - contract.points) <= 5


def test_complete_half_finished_and_broken_notebooks_are_told_apart_in_points_and_words(graded):
    complete, partial, broken = (
        graded(name) for name in ("starter_keras.ipynb", "half_finished_keras.ipynb", "broken_torch.ipynb")
    )
    assert complete.points > partial.points and complete.points > broken.points
    assert partial.points != broken.points
    missing = [m for m in partial.measurements.models if m.failure and m.failure.kind == "not_found"]
    assert missing and "model was found in the run" in missing[0].failure.message
    assert broken.measurements.freeform.failed_cells()
    deductions = [c for s in broken.scores for c in s.checks if c.id == "cells_fail"]
    assert (
        deductions
        and deductions[0].points < 0
        and "raised when the notebook ran top to bottom" in deductions[0].message
    )


def test_a_notebook_that_builds_nothing_is_ungradable_with_one_first_step(graded):
    report = graded("data_only.ipynb")
    assert report.exit_code == EXIT_UNGRADABLE
    assert report.measurements.failure.message == "data_only.ipynb ran, but built no model the grader could grade"
    assert report.next_steps == [report.measurements.failure.hint]


def test_a_notebook_that_downloads_its_data_never_reaches_the_network(
    tmp_path, fake_mnist, freeform_rubric, local_server
):
    base, requests = local_server
    url = f"{base}/mnist.npz"
    notebook = tmp_path / "downloads.ipynb"
    cells = [
        nbformat.v4.new_code_cell(f"import urllib.request\nurllib.request.urlretrieve({url!r}, 'mnist.npz')"),
        nbformat.v4.new_code_cell("from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    measured = find_models(notebook, fake_mnist, freeform_rubric)
    assert requests == []
    failed = measured.freeform.failed_cells()
    assert [cell.cell for cell in failed] == [1] and "the grader runs notebooks offline" in failed[0].error


def test_a_cell_that_crashes_python_is_reported_as_the_run_crashing_not_as_an_import(
    tmp_path, fake_mnist, freeform_rubric
):
    script = tmp_path / "crash.py"
    script.write_text("import ctypes\n\nctypes.string_at(0)  # reads address 0: Python dies of SIGSEGV\n")
    failure = find_models(script, fake_mnist, freeform_rubric).failure
    assert failure.message.startswith("the worker ") and "while running the cells of crash.py" in failure.message
    assert failure.hint.startswith("run it yourself with Restart & Run All")
