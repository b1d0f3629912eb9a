"""Scoring is a pure function of measurements, baselines and rubric."""

from __future__ import annotations

import dataclasses

import pytest

from grader.baselines import Baselines, ReferenceStats, Stat
from grader.measure import Environment, Measurements, Settings, SubmissionInfo
from grader.records import (
    Accuracy,
    CapturedOutput,
    Failure,
    LayerInfo,
    ModelDescription,
    ModelMeasurement,
    SourceLocation,
    TrainingPlan,
    TrainingRun,
)
from grader.report import Report
from grader.rubric import load_rubric
from grader.score import score

RUBRIC = load_rubric()
REFERENCE = {
    "iris/single": (0.95, 0.01),
    "iris/multi": (0.97, 0.01),
    "mnist/single": (0.925, 0.002),
    "mnist/multi": (0.978, 0.001),
}


def stats(test: float, spread: float, gap: float = 0.01) -> ReferenceStats:
    return ReferenceStats(
        test_accuracy=Stat(test, spread, [test]),
        val_accuracy=Stat(test, spread, [test]),
        train_accuracy=Stat(test + gap, spread, [test + gap]),
        gap=Stat(gap, 0.002, [gap]),
        epochs=Stat(10, 0, [10]),
        seconds=Stat(5, 0, [5]),
        device="cpu",
    )


BASELINES = Baselines(
    schema_version=1,
    grader_version="test",
    created="",
    seeds=[0],
    modes={"full": {"torch": {key: stats(*values) for key, values in REFERENCE.items()}}},
    data={},
)


def model(key: str, train: float, val: float, test: float, hidden: int = 128, framework: str = "torch"):
    problem, variant = key.split("/")
    layers = [LayerInfo("dense", "Linear", units=hidden), LayerInfo("activation", "ReLU", activation="relu")]
    layers = [*(layers if variant == "multi" else []), LayerInfo("dense", "Linear", units=10)]
    plan = TrainingPlan(10, 64, "adam", 1e-3, 0.0, None, 300.0)
    return ModelMeasurement(
        problem,
        variant,
        ModelDescription(framework, 1000, layers, "logits", [784]),
        TrainingRun("cpu", plan, [], 10, "completed", 5.0),
        None,
        Accuracy(train, val, test),
    )


def measurements(*models: ModelMeasurement, failure: Failure | None = None) -> Measurements:
    return Measurements(
        grader_version="test",
        submission=SubmissionInfo("s.py", "s.py", ["s.py"], "hash"),
        settings=Settings("full", 0, "cpu", ["iris", "mnist"]),
        data={},
        models=list(models),
        failure=failure,
        environment=Environment(),
        log=CapturedOutput(),
        seconds=1.0,
    )


def at_reference() -> list[ModelMeasurement]:
    return [model(key, test + 0.01, test, test) for key, (test, _) in REFERENCE.items()]


def test_models_at_the_reference_get_full_marks_and_pass():
    report = score(measurements(*at_reference()), BASELINES, RUBRIC)
    assert (report.points, report.max_points, report.passed, report.exit_code) == (100, 100, True, 0)
    assert all(check.status == "pass" for s in report.scores for check in s.checks)
    assert report.next_steps == []


def test_accuracy_within_the_tolerance_band_loses_nothing():
    # mnist/multi: reference 97.8% ± 0.1, band max(3 x 0.1, 1.0) = 1 point: full marks from 96.8%.
    models = [*at_reference()[:3], model("mnist/multi", 0.975, 0.969, 0.969)]
    assert score(measurements(*models), BASELINES, RUBRIC).score("mnist/multi").points == 30


def test_points_fall_linearly_below_the_band_and_reach_zero():
    def accuracy_points(test):
        models = [*at_reference()[:3], model("mnist/multi", test + 0.01, test, test)]
        return score(measurements(*models), BASELINES, RUBRIC).score("mnist/multi").checks[0].points

    # full marks from 96.8%, none below 96.8 - 15 = 81.8%.
    assert accuracy_points(0.968) == 20
    assert accuracy_points(0.893) == pytest.approx(10, abs=0.01)
    assert accuracy_points(0.80) == 0


def test_a_weak_multi_layer_model_loses_points_with_a_message_that_says_why():
    models = [*at_reference()[:3], model("mnist/multi", 0.62, 0.61, 0.61, hidden=2)]
    report = score(measurements(*models), BASELINES, RUBRIC)
    check = report.score("mnist/multi").checks[0]
    assert check.status == "fail" and check.points == 0
    assert check.message.startswith("test accuracy 61.0% is 36.8 points below the reference 97.8% ± 0.1%")
    assert "a hidden layer of 2 units is too narrow for 10 classes" in check.hint
    assert report.next_steps[0] == check.hint
    assert report.points == 80


def test_a_large_train_validation_gap_costs_gap_points_with_a_concrete_fix():
    models = [*at_reference()[:3], model("mnist/multi", 0.998, 0.912, 0.97, framework="keras")]
    gap = score(measurements(*models), BASELINES, RUBRIC).score("mnist/multi").checks[1]
    assert gap.id == "gap" and gap.status == "partial"
    assert gap.message.startswith("validation accuracy 91.2% vs training 99.8%: a gap of 8.6 points")
    assert "keras.layers.Dropout(0.2)" in gap.hint and "EarlyStopping" in gap.hint


def test_single_layer_models_have_no_gap_check():
    report = score(measurements(*at_reference()), BASELINES, RUBRIC)
    assert [c.id for c in report.score("iris/single").checks] == ["accuracy"]
    assert [c.id for c in report.score("iris/multi").checks] == ["accuracy", "gap"]


def test_a_model_that_failed_scores_zero_and_carries_its_failure():
    failure = Failure(
        "build_error",
        "build_model('iris', 'multi') raised TypeError: boom",
        "fix it",
        SourceLocation("s.py", 9, "return nn.Sequential(nn.ReLU)"),
    )
    failed = ModelMeasurement("iris", "multi", failure=failure)
    models = [m if m.key != "iris/multi" else failed for m in at_reference()]
    report = score(measurements(*models), BASELINES, RUBRIC)
    accuracy, gap = report.score("iris/multi").checks
    assert accuracy.points == gap.points == 0
    assert accuracy.message == (
        "not trained: build_model('iris', 'multi') raised TypeError: boom (s.py, line 9: return nn.Sequential(nn.ReLU))"
    )
    assert report.points == 70 and report.passed


def test_a_submission_that_could_not_run_is_ungradable_with_exit_code_3():
    report = score(measurements(failure=Failure("import_error", "boom", "fix the import")), BASELINES, RUBRIC)
    assert report.status == "ungradable" and report.exit_code == 3 and not report.passed
    assert report.next_steps[0] == "fix the import"


def test_below_the_pass_mark_exits_with_1():
    models = [model(key, 0.5, 0.5, 0.5, hidden=2) for key in REFERENCE]
    report = score(measurements(*models), BASELINES, RUBRIC)
    assert report.status == "graded" and not report.passed and report.exit_code == 1


def test_scores_use_the_students_framework_reference_when_there_is_one():
    keras_reference = {"mnist/multi": stats(0.99, 0.001)}
    baselines = dataclasses.replace(BASELINES, modes={"full": {**BASELINES.modes["full"], "keras": keras_reference}})
    models = [*at_reference()[:3], model("mnist/multi", 0.99, 0.98, 0.978, framework="keras")]
    report = score(measurements(*models), baselines, RUBRIC)
    assert report.score("mnist/multi").reference.framework == "keras"
    assert report.score("mnist/multi").checks[0].status == "partial"
    assert report.score("mnist/single").reference.framework == "torch"


def test_without_baselines_nothing_is_scored_and_the_report_says_so():
    report = score(measurements(*at_reference()), None, RUBRIC)
    assert report.max_points == 0
    assert report.warnings == [
        "no reference baselines were found: nothing is scored (generate them with: grade baselines)"
    ]


def test_the_same_inputs_give_the_same_report_and_it_round_trips_through_json():
    first = score(measurements(*at_reference()), BASELINES, RUBRIC)
    second = score(measurements(*at_reference()), BASELINES, RUBRIC)
    assert dataclasses.replace(first, created="") == dataclasses.replace(second, created="")
    assert Report.from_dict(first.to_dict()) == first
