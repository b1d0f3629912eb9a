"""Deductions for a free-form notebook: failing cells and classic mistakes are checks worth 0 points that
take points off, each charged once, to the model it concerns with the most points, never below 0.

Under the default rubric: 1 point a failing cell, at most 3 counted; 1 point for an unshuffled split or
unscaled pixels."""

from __future__ import annotations

from grader.records import CellRun, Finding, FoundModel, FreeformRun, SourceLocation
from grader.report import Check, ModelScore
from grader.rubric import load_rubric
from grader.score.freeform import deduct

RUBRIC = load_rubric()


def scores(**points: float) -> list[ModelScore]:
    """One model score per key (``iris_single=5``), each a single check with those points out of 10."""
    return [
        ModelScore(key.replace("_", "/"), [Check("accuracy", "Accuracy", value, 10.0, "partial", "")])
        for key, value in points.items()
    ]


def taken(models: list[ModelScore]) -> dict[str, list[tuple[str, float]]]:
    return {m.key: [(c.id, c.points) for c in m.checks if c.max_points == 0] for m in models}


def failing(*cells: int) -> list[CellRun]:
    return [CellRun(cell, "error", 0.1, "NameError: name 'x' is not defined", line=2) for cell in cells]


def test_failing_cells_cost_a_point_each_up_to_three_from_the_best_model():
    models = scores(iris_single=8, iris_multi=9)
    deduct(FreeformRun(cells=[CellRun(1, "ok", 0.1), *failing(3, 5, 7, 9)]), models, RUBRIC)
    assert taken(models) == {"iris/single": [], "iris/multi": [("cells_fail", -3.0)]}
    check = models[1].checks[-1]
    assert check.message.startswith("4 cell(s) raised when the notebook ran top to bottom: cell 3, line 2: NameError")
    assert check.message.endswith("(and 1 more)")
    assert check.hint == "fix the first failing cell, then Restart & Run All and check that every cell runs"


def test_a_deduction_never_takes_a_model_below_zero():
    models = scores(iris_single=1.5)
    deduct(FreeformRun(cells=failing(1, 2, 3)), models, RUBRIC)
    assert taken(models) == {"iris/single": [("cells_fail", -1.5)]}


def test_a_mistake_is_charged_once_to_a_model_of_the_problem_it_is_about():
    finding = Finding("unscaled_pixels", "pixels up to 255", "divide by 255")
    models = scores(iris_single=10, mnist_single=6, mnist_multi=7)
    deduct(FreeformRun(findings=[finding, finding]), models, RUBRIC)
    assert taken(models) == {
        "iris/single": [],
        "mnist/single": [],
        "mnist/multi": [("mistake:unscaled_pixels", -1.0)],
    }
    assert models[2].checks[-1].title == "Pixels fed in unscaled (0 to 255)"  # the catalogue's title


def test_a_mistake_on_a_line_that_built_a_model_is_charged_to_that_model():
    here = SourceLocation("lab.ipynb", 3, "model = Net()", cell=4)
    built = FoundModel("Net()", "torch", here, [4], 3, 1, trained=True, problem="iris", chosen_for="iris/single")
    finding = Finding("softmax_before_cross_entropy", "softmax before CrossEntropyLoss", "drop the softmax", here)
    models = scores(iris_single=5, iris_multi=9)
    deduct(FreeformRun(models=[built], findings=[finding]), models, RUBRIC)
    assert taken(models)["iris/single"] == [("mistake:softmax_before_cross_entropy", -1.0)]
    assert models[0].checks[-1].message == f"softmax before CrossEntropyLoss ({here})"


def test_a_clean_run_or_a_mistake_the_rubric_switched_off_costs_nothing(tmp_path):
    rubric_file = tmp_path / "rubric.toml"
    rubric_file.write_text("[mistakes]\nunshuffled_split = 0.0\n")
    models = scores(iris_single=5)
    deduct(FreeformRun(cells=[CellRun(1, "ok", 0.1)]), models, RUBRIC)
    deduct(FreeformRun(findings=[Finding("unshuffled_split", "sorted", "shuffle")]), models, load_rubric(rubric_file))
    assert taken(models) == {"iris/single": []}
