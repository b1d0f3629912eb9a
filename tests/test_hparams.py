"""HYPERPARAMS: how a student's settings become the plan the grader trains with."""

from __future__ import annotations

import pytest

from grader.hparams import HyperparamError, resolve_plan, top_level_warnings
from grader.records import EarlyStoppingSpec

DEFAULTS = {
    "epochs": 10,
    "batch_size": 64,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "early_stopping": False,
}


def plan_for(hyperparams, problem="mnist", variant="multi", max_epochs=30, quick=False):
    return resolve_plan(
        hyperparams, problem, variant, defaults=DEFAULTS, max_epochs=max_epochs, max_seconds=300, quick=quick
    )


def test_without_hyperparams_the_rubric_defaults_are_used():
    plan, warnings = plan_for(None)
    assert (plan.epochs, plan.batch_size, plan.optimizer, plan.learning_rate) == (10, 64, "adam", 1e-3)
    assert plan.early_stopping is None and plan.chosen_by_student == [] and warnings == []


def test_the_most_specific_section_wins():
    hyperparams = {
        "epochs": 5,
        "mnist": {"epochs": 7, "batch_size": 128},
        "mnist/multi": {"epochs": 9},
        "iris": {"epochs": 29},
    }
    plan, _ = plan_for(hyperparams)
    assert (plan.epochs, plan.batch_size) == (9, 128)
    assert plan.chosen_by_student == ["batch_size", "epochs"]
    assert plan_for(hyperparams, variant="single")[0].epochs == 7
    assert plan_for(hyperparams, problem="iris", variant="single")[0].epochs == 29


def test_an_unknown_key_is_a_warning_with_a_suggestion():
    _, warnings = plan_for({"mnist": {"learning_rte": 0.01}})
    assert warnings == ["HYPERPARAMS['mnist']: unknown key 'learning_rte' is ignored (did you mean 'learning_rate'?)"]
    assert top_level_warnings({"mnsit": {}}) == ["HYPERPARAMS: unknown key 'mnsit' is ignored (did you mean 'mnist'?)"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"batch_size": "64"}, "HYPERPARAMS for mnist/multi: batch_size must be a positive whole number, got '64'"),
        ({"epochs": 0}, "HYPERPARAMS for mnist/multi: epochs must be a positive whole number, got 0"),
        ({"learning_rate": -1}, "HYPERPARAMS for mnist/multi: learning_rate must be a positive number, got -1"),
        ({"weight_decay": "a lot"}, "HYPERPARAMS for mnist/multi: weight_decay must be a number >= 0, got 'a lot'"),
        ({"optimizer": "lbfgs"}, "HYPERPARAMS for mnist/multi: optimizer must be one of adam, adamw, sgd, rmsprop, "),
    ],
)
def test_an_invalid_value_is_an_error_naming_the_key(section, message):
    with pytest.raises(HyperparamError) as raised:
        plan_for({"mnist/multi": section})
    assert raised.value.message.startswith(message)


def test_hyperparams_that_are_not_a_dict_say_what_to_write():
    with pytest.raises(HyperparamError, match="HYPERPARAMS must be a dict, got list"):
        plan_for([("epochs", 3)])
    with pytest.raises(HyperparamError, match=r"HYPERPARAMS\['mnist'\] must be a dict"):
        plan_for({"mnist": 3})


def test_epochs_beyond_the_budget_are_cut_with_a_warning_except_in_quick_mode():
    plan, warnings = plan_for({"epochs": 100}, max_epochs=30)
    assert plan.epochs == 30
    assert warnings == ["HYPERPARAMS for mnist/multi: 100 epochs asked, the rubric's budget is 30; trained 30"]
    plan, warnings = plan_for({"epochs": 100}, max_epochs=3, quick=True)
    assert plan.epochs == 3 and warnings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, None),
        (True, EarlyStoppingSpec(patience=5)),
        (3, EarlyStoppingSpec(patience=3)),
        (
            {"monitor": "val_accuracy", "patience": 2, "restore_best_weights": False},
            EarlyStoppingSpec(monitor="val_accuracy", patience=2, restore_best_weights=False),
        ),
    ],
)
def test_early_stopping_takes_a_flag_a_patience_or_keras_style_arguments(value, expected):
    assert plan_for({"early_stopping": value})[0].early_stopping == expected


def test_early_stopping_rejects_what_it_cannot_honour():
    with pytest.raises(HyperparamError, match="monitor must be one of"):
        plan_for({"early_stopping": {"monitor": "val_acc"}})
    with pytest.raises(HyperparamError, match="unknown key 'patients' \\(did you mean 'patience'\\?\\)"):
        plan_for({"early_stopping": {"patients": 3}})
