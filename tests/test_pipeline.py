"""End to end: the reference solutions set the baselines and then earn full marks against them; a weak
submission visibly does not."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import REPOSITORY, SHARED_DATA, SUBMISSIONS

from grader.baselines import load_baselines
from grader.cli import main
from grader.machine_speed import FACTOR_ENV
from grader.pipeline import GradeOptions, grade, measure_submission
from grader.records import SubmissionInfo
from grader.rubric import load_rubric

TORCH_REFERENCE = REPOSITORY / "reference" / "torch_solution.py"
KERAS_REFERENCE = REPOSITORY / "reference" / "keras_solution.py"
needs_mnist = pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason=f"no MNIST files in {SHARED_DATA}")


def accuracy_checks(report):
    return {score.key: score.checks[0] for score in report.scores}


def lost_points(report):
    """Every check that cost points, with its message: empty for a submission that earns full marks."""
    return [(s.key, c.id, c.message) for s in report.scores for c in s.checks if c.lost > 0]


@pytest.mark.parametrize(
    "solution",
    [pytest.param(TORCH_REFERENCE, id="torch"), pytest.param(KERAS_REFERENCE, id="keras")],
)
def test_grade_baselines_then_the_reference_scores_full_marks(solution, tmp_path):
    pytest.importorskip("torch" if solution == TORCH_REFERENCE else "keras")
    out = tmp_path / "baselines.json"
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[problems.iris]\nmax_epochs = 30\n")  # the references ask for 100: a shorter, same test
    command = [
        "baselines",
        str(solution),
        "--problem",
        "iris",
        "--seeds",
        "0,1",
        "--modes",
        "full",
        "--out",
        str(out),
        "--rubric",
        str(rubric),
    ]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    baselines = load_baselines(out)
    framework = "torch" if solution == TORCH_REFERENCE else "keras"
    assert set(baselines.modes["full"][framework]) == {"iris/single", "iris/multi"}
    assert baselines.seeds == [0, 1]

    report = grade(solution, GradeOptions(problems=("iris",)), load_rubric(rubric), baselines)
    assert lost_points(report) == []
    assert all(check.status == "pass" for check in accuracy_checks(report).values())


@needs_mnist
@pytest.mark.parametrize(
    "solution",
    [pytest.param(TORCH_REFERENCE, id="torch"), pytest.param(KERAS_REFERENCE, id="keras")],
)
def test_on_real_mnist_the_references_earn_full_accuracy_marks_against_the_committed_baselines(solution):
    pytest.importorskip("torch" if solution == TORCH_REFERENCE else "keras")
    options = GradeOptions(quick=True, data_dir=SHARED_DATA)
    report = grade(solution, options, load_rubric(), load_baselines())
    assert report.status == "graded" and report.warnings == []
    checks = accuracy_checks(report)
    assert set(checks) == {"iris/single", "iris/multi", "mnist/single", "mnist/multi"}
    assert all(check.status == "pass" for check in checks.values()), [c.message for c in checks.values()]
    assert lost_points(report) == []
    assert report.passed


@needs_mnist
def test_on_real_mnist_the_torch_reference_earns_full_marks_in_full_mode_ablation_included(monkeypatch):
    pytest.importorskip("torch")
    # Full MNIST meets the 300 s budget on a loaded 2-core machine (CI sets up another environment meanwhile):
    # this is the grade the machine's measured speed is for, so it is measured, not fixed as in other tests.
    monkeypatch.delenv(FACTOR_ENV)
    options = GradeOptions(problems=("mnist",), data_dir=SHARED_DATA)
    report = grade(TORCH_REFERENCE, options, load_rubric(), load_baselines())
    assert lost_points(report) == []
    effective = report.score("mnist/multi").checks[-1]
    assert (effective.id, effective.status) == ("regularization_effective", "pass")


@needs_mnist
def test_a_two_unit_hidden_layer_scores_visibly_lower_and_says_why():
    pytest.importorskip("torch")
    options = GradeOptions(quick=True, data_dir=SHARED_DATA)
    weak = grade(SUBMISSIONS / "weak_mnist.py", options, load_rubric(), load_baselines())
    check = accuracy_checks(weak)["mnist/multi"]
    assert check.points <= check.max_points / 2
    assert "a hidden layer of 2 units is too narrow for 10 classes" in check.hint
    assert check.message.startswith("test accuracy ")
    assert f"Next: {check.hint}" in weak.next_steps[0]
    assert weak.points <= weak.max_points - 10


def test_a_notebook_that_cannot_be_read_is_graded_ungradable_without_loading_data_or_training(tmp_path):
    path = tmp_path / "hw.ipynb"
    path.write_text("{ not a notebook")
    options = GradeOptions(on_event=lambda event: pytest.fail(f"nothing is loaded or started: {event}"))
    measured = measure_submission(path, options, load_rubric())
    assert measured.failure is not None and measured.failure.kind == "notebook"
    assert (measured.submission, measured.models, measured.data) == (
        SubmissionInfo(str(path), "hw.ipynb", [], ""),
        [],
        {},
    )
    report = grade(path, GradeOptions(), load_rubric(), None)
    assert report.status == "ungradable" and report.next_steps == [measured.failure.hint]
