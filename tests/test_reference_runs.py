"""``grade baselines``: every reference solution graded in every mode over every seed, through the student
pipeline, summarised per framework and model; a reference that cannot be graded stops it, naming the file.

The pipeline is a stand-in here that answers each (solution, mode, seed) with synthetic measurements."""

from __future__ import annotations

from pathlib import Path

import pytest
from measurements_factory import measurements, model

from grader import reference_runs
from grader.errors import BaselineError, GraderError
from grader.pipeline import GradeOptions
from grader.records import Failure, Measurements
from grader.rubric import load_rubric

TORCH, KERAS = Path("reference/torch_solution.py"), Path("reference/keras_solution.py")


@pytest.fixture
def graded(monkeypatch):
    """Each call of the pipeline, as (solution name, quick, seed, ablation enabled); the measurements it
    returns are ``answer(solution, quick, seed)``."""
    calls: list[tuple[str, bool, int, bool]] = []
    answer = {"of": lambda solution, quick, seed: at_accuracy(solution, 0.9 + seed / 100)}

    def measure(solution: Path, options: GradeOptions, rubric) -> Measurements:
        calls.append((solution.name, options.quick, options.seed, rubric.ablation.enabled))
        return answer["of"](solution, options.quick, options.seed)

    monkeypatch.setattr(reference_runs, "measure_submission", measure)
    return calls, answer


def at_accuracy(solution: Path, test: float) -> Measurements:
    framework = "keras" if "keras" in solution.name else "torch"
    return measurements(*(model(key, test=test, framework=framework) for key in ("iris/single", "iris/multi")))


def test_each_solution_is_graded_in_each_mode_over_each_seed_without_ablations(graded):
    calls, _ = graded
    baselines = reference_runs.measure_baselines(
        [TORCH, KERAS], [0, 1], ["full", "quick"], load_rubric(), GradeOptions()
    )
    assert calls == [
        (name, quick, seed, False)  # an ablation compares a model with itself: a reference needs none
        for quick in (False, True)
        for name in ("torch_solution.py", "keras_solution.py")
        for seed in (0, 1)
    ]
    assert set(baselines.modes) == {"full", "quick"}
    assert set(baselines.modes["full"]) == {"torch", "keras"}
    assert baselines.seeds == [0, 1]
    assert set(baselines.modes["full"]["torch"]) == {"iris/single", "iris/multi"}
    assert baselines.modes["full"]["torch"]["iris/single"].test_accuracy.values == [0.9, 0.91]
    assert {info.framework: info.path for info in baselines.solutions} == {
        "torch": "torch_solution.py",
        "keras": "keras_solution.py",
    }


def test_a_reference_that_cannot_be_graded_stops_it_naming_the_file(graded):
    _, answer = graded
    answer["of"] = lambda solution, quick, seed: measurements(failure=Failure("import_error", "no torch"))
    with pytest.raises(GraderError) as stopped:
        reference_runs.measure_baselines([TORCH], [0], ["full"], load_rubric(), GradeOptions())
    assert stopped.value.message == f"{TORCH}: no torch"
    assert stopped.value.hint == "the reference solutions must run cleanly"


def test_a_reference_must_use_one_framework(graded):
    _, answer = graded
    answer["of"] = lambda solution, quick, seed: measurements(
        model("iris/single", framework="torch"), model("iris/multi", framework="keras")
    )
    with pytest.raises(BaselineError, match="a reference solution must use one framework, found"):
        reference_runs.measure_baselines([TORCH], [0], ["full"], load_rubric(), GradeOptions())
