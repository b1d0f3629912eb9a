"""Regularization: detected from the model and its training, used correctly, effective in the ablation."""

from __future__ import annotations

import pytest
from measurements_factory import BASELINES, RELU, ablated, dense, dropout, history, model

from grader.records import EarlyStoppingSpec, LayerInfo, ModelProbes
from grader.rubric import load_rubric
from grader.score.accuracy import gap_check, rising_validation_loss
from grader.score.checks import failed, not_applicable
from grader.score.regularization import detect, regularization_checks, rule_check

RUBRIC = load_rubric()
REFERENCE = BASELINES.modes["full"]["torch"]["mnist/multi"]


def checks(measurement) -> dict:
    found = regularization_checks(measurement, RUBRIC.regularization, RUBRIC.ablation, REFERENCE)
    return {check.id: check for check in found}


def test_detection_reads_layers_plan_and_training_loop():
    layers = [
        dense(128),
        LayerInfo("batchnorm", "BatchNorm1d"),
        RELU,
        dropout(0.3),
        LayerInfo("dense", "Dense", units=10, regularizers={"kernel_l2": 1e-4}),
    ]
    measured = model(
        "mnist/multi",
        layers=layers,
        weight_decay=1e-5,
        early_stopping=EarlyStoppingSpec(),
        probes=ModelProbes(optimizer_weight_decay=1e-3),
    )
    assert detect(measured).found() == [
        "Dropout(0.3)",
        "weight decay 0.001",
        "kernel l2 0.0001",
        "BatchNorm1d",
        "early stopping on val_loss",
    ]


RULES = ["dropout_at_inference", "dropout_rate", "dropout_on_output", "early_stopping", "weight_decay"]


def no_batchnorm_rule(measurement, found, rule):
    """A rule as a contributor would add one: it reads the model, what was found, and its points from the rule."""
    if found.normalisation:
        return failed("no_batchnorm", "No normalisation", rule.rule_points, "normalised", "drop it")
    return not_applicable("no_batchnorm", "No normalisation", rule.rule_points, "no normalisation")


def test_every_rule_holds_every_model_in_the_order_registered_before_the_required_checks():
    assert list(checks(model("iris/single"))) == RULES
    assert list(checks(model("mnist/multi"))) == [*RULES, "regularization_used", "regularization_effective"]


def test_a_rule_registered_in_a_test_holds_every_model_worth_the_rule_points_and_is_gone_after_it():
    normalised = model("iris/multi", layers=[dense(16), LayerInfo("batchnorm", "BatchNorm1d"), RELU, dense(3)])
    with rule_check.added("no_batchnorm", no_batchnorm_rule):
        scored = checks(normalised)
    assert list(scored) == [*RULES, "no_batchnorm"]
    added = scored["no_batchnorm"]
    assert (added.status, added.points, added.max_points) == ("fail", 0.0, RUBRIC.regularization.rule_points)
    assert list(checks(normalised)) == RULES


def test_a_model_without_regularization_is_told_what_to_add_and_has_nothing_to_ablate():
    bare = model(
        "mnist/multi",
        layers=[dense(128), RELU, dense(10)],
        ablation=ablated("mnist/multi", 0.99, 0.97, switched_off=()),
    )
    found = checks(bare)
    assert found["regularization_used"].status == "fail"
    assert found["regularization_used"].message.startswith("no dropout, weight decay, kernel regularizer")
    assert "nn.Dropout(0.2)" in found["regularization_used"].hint
    assert found["regularization_effective"].message == "no regularization to switch off"
    assert all(found[rule].status == "n/a" for rule in ("dropout_rate", "dropout_on_output", "early_stopping"))


def test_regularization_that_cuts_the_gap_beyond_seed_noise_is_effective():
    helped = model("mnist/multi", 0.99, 0.98, 0.98, ablation=ablated("mnist/multi", train=1.0, val=0.97))
    check = checks(helped)["regularization_effective"]
    assert check.status == "pass" and check.points == RUBRIC.regularization.effective_points
    assert check.message == (
        "with it: gap 1.0 pp, validation 98.0%; without (Dropout(0.2) -> rate 0): gap 3.0 pp, "
        "validation 97.0%: it helped beyond seed noise"
    )


def test_regularization_within_seed_noise_is_not_effective():
    same = model("mnist/multi", 0.99, 0.98, 0.98, ablation=ablated("mnist/multi", train=0.9905, val=0.9795))
    check = checks(same)["regularization_effective"]
    assert check.status == "fail"
    assert "no difference beyond seed noise (gap 0.2 pp, validation 0.1 pp)" in check.message


def test_without_an_ablation_run_effectiveness_is_not_scored():
    check = checks(model("mnist/multi", ablation_ran=False))["regularization_effective"]
    assert (check.status, check.max_points) == ("skipped", 0)


def test_dropout_left_on_at_inference_is_caught_two_ways():
    random = model("mnist/multi", probes=ModelProbes(affine=False, inference_deterministic=False))
    assert checks(random)["dropout_at_inference"].message.startswith("two predictions of the same inputs differ")
    assert "F.dropout(x, p) is on unless you pass training=self.training" in checks(random)["dropout_at_inference"].hint
    never_eval = model("mnist/multi", probes=ModelProbes(inference_deterministic=True, evaluated_in_training_mode=12))
    check = checks(never_eval)["dropout_at_inference"]
    assert check.status == "fail"
    assert check.message.startswith(
        "your train() ran 12 evaluation passes (without gradients) with the model in training mode"
    )
    assert check.hint == "call model.eval() before evaluating and model.train() before training again"


def test_training_with_dropout_switched_off_is_caught():
    eval_mode = model("mnist/multi", probes=ModelProbes(inference_deterministic=True, trained_in_eval_mode=30))
    check = checks(eval_mode)["dropout_at_inference"]
    assert check.status == "fail"
    assert check.message.startswith("your train() ran 30 training passes (with gradients) with the model in eval")


def test_a_dropout_rate_of_095_is_outside_the_sensible_range():
    check = checks(model("mnist/multi", layers=[dense(128), RELU, dropout(0.95), dense(10)]))["dropout_rate"]
    assert check.status == "fail"
    assert check.message == "Dropout(0.95) drops 95% of the activations it sees: outside the sensible 0.05-0.7"


def test_dropout_after_the_output_layer_is_flagged():
    check = checks(model("mnist/multi", layers=[dense(128), RELU, dense(10), dropout(0.2)]))["dropout_on_output"]
    assert check.status == "fail" and "after the output layer" in check.message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (EarlyStoppingSpec(monitor="loss"), "early stopping monitors loss, a training metric"),
        (
            EarlyStoppingSpec(restore_best_weights=False),
            "early stopping on val_loss keeps the last epoch's weights, 5 epochs past the best",
        ),
        (EarlyStoppingSpec(), "monitors val_loss and restores the best weights"),
    ],
)
def test_early_stopping_must_watch_validation_and_restore_the_best_weights(spec, message):
    assert checks(model("mnist/multi", early_stopping=spec))["early_stopping"].message.startswith(message)


def test_weight_decay_and_kernel_factors_out_of_range_are_flagged():
    assert checks(model("mnist/multi", weight_decay=0.5))["weight_decay"].message == (
        "weight decay 0.5 is outside the sensible 1e-06-0.1"
    )
    heavy_l2 = [dense(128), RELU, LayerInfo("dense", "Dense", units=10, regularizers={"kernel_l2": 0.5})]
    assert checks(model("mnist/multi", layers=heavy_l2))["weight_decay"].status == "fail"
    assert checks(model("mnist/multi", weight_decay=1e-4))["weight_decay"].status == "pass"


def test_rising_validation_loss_is_found_after_its_lowest_point_but_noise_is_not():
    u_shape = [1.0, 0.6, 0.4, 0.3, 0.25, 0.24, 0.25, 0.27, 0.3, 0.33, 0.36, 0.4, 0.44, 0.48]
    assert rising_validation_loss(history(u_shape), epochs=5, margin=0.2) == 7
    noisy = [1.0, 0.6, 0.4, 0.3, 0.25, 0.24, 0.26, 0.23, 0.25, 0.24, 0.26, 0.24, 0.25, 0.26]
    assert rising_validation_loss(history(noisy), epochs=5, margin=0.2) is None
    rising_train_loss = [1.0 + 0.1 * i for i in range(14)]
    assert rising_validation_loss(history(u_shape, rising_train_loss), epochs=5, margin=0.2) is None


def test_overfitting_the_run_did_not_stop_for_costs_gap_points_and_says_where_it_began():
    u_shape = [1.0, 0.6, 0.4, 0.3, 0.25, 0.24, 0.25, 0.27, 0.3, 0.33, 0.36, 0.4, 0.44, 0.48]
    overfit = model("mnist/multi", 0.99, 0.975, 0.975, epochs=history(u_shape))
    check = gap_check(overfit, REFERENCE, RUBRIC.gap, RUBRIC.gap.bands["mnist"])
    assert check.points == RUBRIC.gap.points * (1 - RUBRIC.gap.rising_penalty)
    assert check.message.endswith(
        "validation loss rose from epoch 7 while training loss kept falling, and training went on to epoch 14"
    )
    stopped = model("mnist/multi", 0.99, 0.975, 0.975, epochs=history(u_shape), stop_reason="early_stopping")
    assert gap_check(stopped, REFERENCE, RUBRIC.gap, RUBRIC.gap.bands["mnist"]).points == RUBRIC.gap.points
