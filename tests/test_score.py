"""Scoring is a pure function of measurements, baselines and rubric."""

from __future__ import annotations

import dataclasses
import json

import pytest
from measurements_factory import (
    BASELINES,
    all_at_reference,
    dense,
    failed,
    measurements,
    model,
    reference_stats,
    replace,
)
from report_factory import CREATED

from grader.errors import RubricError
from grader.records import Failure, ModelMeasurement, SourceLocation
from grader.render import FORMATS
from grader.report import Report
from grader.rubric import load_rubric
from grader.score import score

RUBRIC = load_rubric()


def test_models_at_the_reference_get_full_marks_and_pass():
    report = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created=CREATED)
    assert (report.points, report.max_points, report.passed, report.exit_code) == (100, 100, True, 0)
    assert {check.status for s in report.scores for check in s.checks} == {"pass", "n/a"}
    assert report.next_steps == []


def test_every_model_has_the_same_checks_so_totals_never_depend_on_what_a_student_used():
    report = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created=CREATED)
    ids = {s.key: [c.id for c in s.checks] for s in report.scores}
    rules = ["dropout_at_inference", "dropout_rate", "dropout_on_output", "early_stopping", "weight_decay"]
    structure = ["layers", "fully_connected", "loss_matches_output"]
    assert ids["iris/single"] == ["accuracy", *structure, *rules]
    assert ids["iris/multi"] == ["accuracy", "gap", *structure, *rules]
    assert ids["mnist/multi"] == [
        "accuracy",
        "gap",
        *structure,
        *rules,
        "regularization_used",
        "regularization_effective",
    ]


def test_accuracy_within_the_tolerance_band_loses_nothing():
    # mnist/multi: reference 97.8% ± 0.1, band max(3 x 0.1, 1.0) = 1 point: full marks from 96.8%.
    models = all_at_reference(mnist_multi=model("mnist/multi", 0.975, 0.969, 0.969))
    assert (
        score(measurements(*models), BASELINES, RUBRIC, created=CREATED).score("mnist/multi").checks[0].status == "pass"
    )


def test_accuracy_points_fall_linearly_below_the_band_and_reach_zero():
    def accuracy_points(test):
        models = all_at_reference(mnist_multi=model("mnist/multi", test + 0.01, test, test))
        return score(measurements(*models), BASELINES, RUBRIC, created=CREATED).score("mnist/multi").checks[0].points

    # full marks from 96.8%, none below 96.8 - 15 = 81.8%.
    assert accuracy_points(0.968) == 15
    assert accuracy_points(0.893) == pytest.approx(7.5, abs=0.01)
    assert accuracy_points(0.80) == 0


def test_a_weak_multi_layer_model_loses_points_with_a_message_that_says_why():
    weak = model("mnist/multi", 0.62, 0.61, 0.61, layers=[dense(2), dense(10)])
    report = score(measurements(*all_at_reference(mnist_multi=weak)), BASELINES, RUBRIC, created=CREATED)
    check = report.score("mnist/multi").checks[0]
    assert check.status == "fail" and check.points == 0
    assert check.message.startswith("test accuracy 61.0% is 36.8 pp below the reference 97.8% ± 0.1%")
    assert "a hidden layer of 2 units is too narrow for 10 classes" in check.hint
    assert report.next_steps[0].startswith("mnist/multi: underfitting (training accuracy 62.0%, validation 61.0%")
    assert report.next_steps[0].endswith(f"Next: {check.hint} (up to 15 points)")


def test_a_large_train_validation_gap_costs_gap_points_with_a_concrete_fix():
    overfit = model("mnist/multi", 0.998, 0.912, 0.97, framework="keras")
    gap = (
        score(measurements(*all_at_reference(mnist_multi=overfit)), BASELINES, RUBRIC, created=CREATED)
        .score("mnist/multi")
        .checks[1]
    )
    assert gap.id == "gap" and gap.status == "partial"
    assert gap.message.startswith("validation accuracy 91.2% vs training 99.8%: a gap of 8.6 pp")
    assert "keras.layers.Dropout(0.2)" in gap.hint and "EarlyStopping" in gap.hint


def test_a_model_that_failed_scores_zero_on_every_check_and_carries_its_failure():
    failure = Failure(
        "build_error",
        "build_model('iris', 'multi') raised TypeError: boom",
        "fix it",
        SourceLocation("s.py", 9, "return nn.Sequential(nn.ReLU)"),
    )
    models = all_at_reference(iris_multi=failed("iris/multi", failure))
    report = score(measurements(*models), BASELINES, RUBRIC, created=CREATED)
    checks = report.score("iris/multi").checks
    assert checks[0].message == (
        "not trained: build_model('iris', 'multi') raised TypeError: boom (s.py, line 9: return nn.Sequential(nn.ReLU))"
    )
    assert all(check.points == 0 for check in checks)
    assert report.score("iris/multi").max_points == 15 + 8 + 3 + 1.25
    assert report.passed


def test_a_submission_that_could_not_run_is_ungradable_with_exit_code_3():
    report = score(
        measurements(failure=Failure("import_error", "boom", "fix the import")), BASELINES, RUBRIC, created=CREATED
    )
    assert report.status == "ungradable" and report.exit_code == 3 and not report.passed
    assert report.next_steps[0] == "fix the import"


@pytest.mark.parametrize(("mode", "total"), [("full", 100), ("quick", 96)])
def test_an_ungradable_submission_earns_nothing_out_of_the_total_a_graded_one_is_out_of(mode, total):
    failure = Failure("import_error", "boom", "fix the import")
    baselines = dataclasses.replace(BASELINES, modes={mode: BASELINES.modes["full"]})
    report = score(measurements(failure=failure, mode=mode), baselines, RUBRIC, created=CREATED)
    assert (report.points, report.max_points) == (0, total)
    assert all(check.status == "fail" for s in report.scores for check in s.checks if check.max_points)


def test_below_the_pass_mark_exits_with_1():
    models = [model(key, 0.5, 0.5, 0.5) for key in ("iris/single", "iris/multi", "mnist/single", "mnist/multi")]
    report = score(measurements(*models), BASELINES, RUBRIC, created=CREATED)
    assert report.status == "graded" and not report.passed and report.exit_code == 1


def test_the_pass_mark_is_a_percentage_of_the_points_that_could_be_earned():
    quick = measurements(*all_at_reference(mnist_multi=model("mnist/multi", ablation_ran=False)), mode="quick")
    baselines = dataclasses.replace(BASELINES, modes={"quick": BASELINES.modes["full"]})
    report = score(quick, baselines, RUBRIC, created=CREATED)
    effective = report.score("mnist/multi").checks[-1]
    assert (effective.id, effective.status, effective.max_points) == ("regularization_effective", "skipped", 0)
    assert report.max_points == 96 and report.pass_mark == pytest.approx(57.6)


def test_scores_use_the_students_framework_reference_when_there_is_one():
    keras_reference = {"mnist/multi": reference_stats(0.99, 0.001)}
    baselines = dataclasses.replace(BASELINES, modes={"full": {**BASELINES.modes["full"], "keras": keras_reference}})
    models = all_at_reference(mnist_multi=model("mnist/multi", 0.99, 0.98, 0.978, framework="keras"))
    report = score(measurements(*models), baselines, RUBRIC, created=CREATED)
    assert report.score("mnist/multi").reference.framework == "keras"
    assert report.score("mnist/multi").checks[0].status == "partial"
    assert report.score("mnist/single").reference.framework == "torch"


def test_without_baselines_only_the_reference_free_checks_are_scored():
    report = score(measurements(*all_at_reference()), None, RUBRIC, created=CREATED)
    assert "accuracy" not in {c.id for s in report.scores for c in s.checks}
    assert report.warnings == [
        "no reference baselines were found: accuracy is not scored (generate them with: grade baselines)"
    ]


def test_the_same_inputs_give_the_same_report_and_it_round_trips_through_json():
    first = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created=CREATED)
    second = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created=CREATED)
    assert first == second
    assert Report.from_dict(first.to_dict()) == first


def test_the_report_is_stamped_with_the_time_its_caller_gives():
    report = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created="2030-01-02T03:04:05+00:00")
    assert report.created == "2030-01-02T03:04:05+00:00"


# --- Models that do not learn ------------------------------------------------------------------------------


def before_training(key: str, untrained: float) -> ModelMeasurement:
    """A model at its reference whose freshly built, untrained self scored ``untrained`` on data it never trained on."""
    trained = model(key)
    return replace(trained, accuracy=dataclasses.replace(trained.accuracy, untrained=untrained))


def test_a_model_that_scores_far_above_chance_before_training_gets_no_accuracy_points():
    models = all_at_reference(iris_single=before_training("iris/single", 1.0))
    report = score(measurements(*models), BASELINES, RUBRIC, created=CREATED)
    checks = {check.id: check for check in report.score("iris/single").checks}
    learns, accuracy = checks["learns"], checks["accuracy"]
    assert (learns.title, learns.status, learns.points, learns.max_points) == (
        "Learns from its training data",
        "fail",
        0,
        0,
    )
    assert learns.message == (
        "before any training this model already scores 100.0% on data it never trained on (chance: 33.3%): "
        "its predictions do not come from what it learned"
    )
    assert (accuracy.status, accuracy.points, accuracy.max_points) == ("fail", 0, 15)
    assert accuracy.message == f"test accuracy 95.0% earns no points, because {learns.message}"
    assert learns.hint == accuracy.hint
    lead = "iris/single: not learning: its predictions do not come from what it learned"
    assert report.next_steps[0].startswith(lead)
    assert f"Next: {learns.hint}" in report.next_steps[0]
    assert "no stored answers, pretrained weights or lookups of the inputs" in learns.hint
    assert (report.points, report.max_points) == (85, 100)


def test_a_model_near_chance_before_training_passes_and_loses_nothing():
    models = all_at_reference(mnist_single=before_training("mnist/single", 0.098))
    report = score(measurements(*models), BASELINES, RUBRIC, created=CREATED)
    learns = next(check for check in report.score("mnist/single").checks if check.id == "learns")
    assert (learns.status, learns.points, learns.max_points) == ("pass", 0, 0)
    assert learns.message == (
        "before any training this model scores 9.8% on data it never trained on (chance: 10.0%), no more than "
        "untrained weights may (35.0%)"
    )
    assert (report.points, report.max_points) == (100, 100)


@pytest.mark.parametrize(
    ("key", "untrained", "status"),
    [
        # Random weights on 30 nearly separable flowers can score 29 of them: only all 30 is not luck.
        ("iris/multi", 29 / 30, "pass"),
        ("iris/multi", 30 / 30, "fail"),
        # Random weights score about 10% on MNIST, and never 35%.
        ("mnist/multi", 0.35, "pass"),
        ("mnist/multi", 0.36, "fail"),
    ],
)
def test_how_far_above_chance_an_untrained_model_may_score_depends_on_the_problem(key, untrained, status):
    models = all_at_reference(**{key.replace("/", "_"): before_training(key, untrained)})
    checks = {
        check.id: check for check in score(measurements(*models), BASELINES, RUBRIC, created=CREATED).score(key).checks
    }
    assert checks["learns"].status == status
    assert checks["accuracy"].points == (15 if status == "pass" else 0)


def test_the_rubric_sets_the_limit_and_1_switches_the_check_off(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text("[accuracy.bands.mnist]\nuntrained_max_above_chance = 1.0\n")
    models = all_at_reference(mnist_single=before_training("mnist/single", 1.0))
    report = score(measurements(*models), BASELINES, load_rubric(path), created=CREATED)
    assert [c.status for c in report.score("mnist/single").checks if c.id in ("accuracy", "learns")] == ["pass"] * 2
    assert RUBRIC.accuracy.bands["mnist"].untrained_max_above_chance == 0.25


@pytest.mark.parametrize("limit", ["-0.1", "1.5", "nan"])
def test_a_limit_that_is_not_a_fraction_is_refused_naming_it(tmp_path, limit):
    path = tmp_path / "rubric.toml"
    path.write_text(f"[accuracy.bands.iris]\nuntrained_max_above_chance = {limit}\n")
    with pytest.raises(RubricError, match=r"\[accuracy.bands.iris\] untrained_max_above_chance must be"):
        load_rubric(path)


def test_reports_that_did_not_measure_the_untrained_model_get_no_learning_check():
    report = score(measurements(*all_at_reference()), BASELINES, RUBRIC, created=CREATED)
    assert "learns" not in {check.id for s in report.scores for check in s.checks}


def test_the_learning_check_needs_no_reference():
    report = score(measurements(before_training("iris/single", 1.0)), None, RUBRIC, created=CREATED)
    assert [(c.id, c.status) for c in report.score("iris/single").checks][:1] == [("learns", "fail")]


def test_the_terminal_and_json_reports_show_a_model_that_does_not_learn():
    report = score(
        measurements(*all_at_reference(iris_single=before_training("iris/single", 1.0))),
        BASELINES,
        RUBRIC,
        created=CREATED,
    )
    terminal = " ".join(FORMATS["terminal"].render(report).split())
    assert "iris/single: not learning: its predictions do not come from what it learned" in terminal
    assert "Test accuracy vs reference: 0/15 in iris/single" in terminal
    assert "before any training it already scores 100.0% on data it never trained on" in terminal
    assert "Total 85 / 100" in terminal
    stored = json.loads(FORMATS["json"].render(report))
    iris = next(s for s in stored["scores"] if s["key"] == "iris/single")
    learns = next(check for check in iris["checks"] if check["id"] == "learns")
    assert (learns["title"], learns["status"]) == ("Learns from its training data", "fail")
    assert iris["checks"][0]["points"] == 0
    assert Report.from_dict(stored).score("iris/single").checks == report.score("iris/single").checks
