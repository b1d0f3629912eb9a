"""Structure checks: each variant is the network it claims to be, trained with a loss that fits it."""

from __future__ import annotations

import pytest
from measurements_factory import RELU, dense, model

from grader.errors import RubricError
from grader.records import LayerInfo, ModelProbes
from grader.rubric import DEFAULT_RUBRIC, StructureRule, load_rubric
from grader.score import score_model
from grader.score.checks import passed
from grader.score.structure import structure_check, structure_checks

RULE = load_rubric().structure


def checks(measurement) -> dict:
    return {check.id: check for check in structure_checks(measurement, RULE)}


def probes(**values) -> ModelProbes:
    return ModelProbes(**{"affine": False, "inference_deterministic": True, "loss_expects": "logits", **values})


def test_a_softmax_regression_and_a_relu_mlp_pass():
    assert checks(model("mnist/single"))["layers"].message == "one dense layer: softmax regression"
    layers = checks(model("mnist/multi"))["layers"]
    assert layers.status == "pass" and layers.message == "hidden layers of 128 units with a non-linearity"


def test_stacked_linear_layers_are_one_linear_map():
    stacked = model("mnist/multi", layers=[dense(256), dense(128), dense(10)], probes=probes(affine=True))
    check = checks(stacked)["layers"]
    assert check.status == "fail" and check.points == 0
    assert "stacked linear layers are still one linear map" in check.message
    assert check.hint == "add nn.ReLU() after each hidden layer"
    keras = model("mnist/multi", layers=[dense(256), dense(10)], probes=probes(affine=True), framework="keras")
    assert checks(keras)["layers"].hint == 'add activation="relu" after each hidden layer'


def test_a_multi_layer_model_needs_a_hidden_dense_layer():
    check = checks(model("iris/multi", layers=[dense(3)]))["layers"]
    assert check.status == "fail" and check.message == "1 dense layer: no hidden dense layer"


def test_a_single_layer_model_must_not_hide_a_hidden_layer():
    check = checks(model("iris/single", layers=[dense(16), RELU, dense(3)]))["layers"]
    assert check.status == "fail" and "that is a hidden layer" in check.message


def test_convolutions_are_not_fully_connected():
    conv = [LayerInfo("conv", "Conv2d"), RELU, LayerInfo("flatten", "Flatten"), dense(128), RELU, dense(10)]
    check = checks(model("mnist/multi", layers=conv))["fully_connected"]
    assert check.status == "fail"
    assert check.message == "the model has Conv2d layers: the assignment asks for fully-connected networks"


def test_double_softmax_is_flagged_with_the_fix():
    double = model(
        "mnist/single",
        output="probabilities",
        framework="keras",
        probes=probes(loss_expects="logits", loss_chosen_by="compiled model"),
    )
    check = checks(double)["loss_matches_output"]
    assert check.status == "fail"
    assert check.message == (
        "double softmax: the model ends in a softmax and the compiled model's loss applies softmax again"
    )
    assert check.hint == 'drop activation="softmax" from the last layer, or compile with from_logits=False'


def test_logits_into_a_loss_that_expects_probabilities_are_flagged():
    wrong = model(
        "mnist/single",
        output="logits",
        framework="keras",
        probes=probes(loss_expects="probabilities", loss_chosen_by="compiled model"),
    )
    check = checks(wrong)["loss_matches_output"]
    assert check.status == "fail" and "expects probabilities but the model outputs logits" in check.message


def test_a_loss_the_grader_picked_always_matches_and_an_unseen_one_is_not_held_against_anyone():
    assert (
        checks(model("iris/single", output="probabilities", probes=probes(loss_expects="probabilities")))[
            "loss_matches_output"
        ].status
        == "pass"
    )
    unseen = checks(model("iris/single", probes=probes(loss_expects=None, loss_chosen_by="train()")))
    assert unseen["loss_matches_output"].status == "n/a"
    assert unseen["loss_matches_output"].points == RULE.points["loss"]


def hidden_units_check(measurement, worth):
    """A check as a contributor would add one: wide enough hidden layers."""
    return passed("hidden_units", "Hidden layers wide enough", worth, "128 units")


def test_a_check_registered_with_its_points_in_the_rubric_is_scored_after_the_others(tmp_path, monkeypatch):
    default = DEFAULT_RUBRIC.read_text().replace(
        "loss_points = 0.5\n", "loss_points = 0.5\nhidden_units_points = 1.5\n"
    )
    (tmp_path / "default.toml").write_text(default)
    monkeypatch.setattr("grader.rubric.DEFAULT_RUBRIC", tmp_path / "default.toml")
    rubric = load_rubric()
    with structure_check.added("hidden_units", hidden_units_check):
        scored = score_model(model("mnist/multi"), None, rubric, "full")
    ids = [check.id for check in scored.checks]
    assert ids[ids.index("layers") : ids.index("layers") + 4] == [
        "layers",
        "fully_connected",
        "loss_matches_output",
        "hidden_units",
    ]
    added = next(check for check in scored.checks if check.id == "hidden_units")
    assert (added.points, added.max_points, added.status) == (1.5, 1.5, "pass")


def test_a_check_added_in_a_test_is_gone_after_it_even_when_the_test_fails():
    with pytest.raises(AssertionError), structure_check.added("hidden_units", hidden_units_check):
        raise AssertionError
    assert [name for name, _ in structure_check.items()] == ["layers", "fully_connected", "loss"]


def test_two_checks_of_one_name_are_refused():
    with pytest.raises(ValueError, match="two structure checks are named 'layers'"):
        structure_check("layers")(hidden_units_check)


def test_rubric_points_for_no_registered_check_are_refused_when_scoring_naming_the_key():
    rule = StructureRule({**RULE.points, "hidden_units": 1.5})
    with pytest.raises(RubricError) as raised:
        structure_checks(model("mnist/multi"), rule)
    assert raised.value.message == (
        "the rubric's [structure] hidden_units_points scores no structure check (the checks: layers, "
        "fully_connected, loss)"
    )
    assert "@structure_check('hidden_units')" in raised.value.hint


def test_a_registered_check_without_points_in_the_rubric_is_refused_naming_the_key_to_add():
    with structure_check.added("hidden_units", hidden_units_check), pytest.raises(RubricError) as raised:
        structure_checks(model("mnist/multi"), RULE)
    assert (
        raised.value.message
        == "the rubric's [structure] has no hidden_units_points for the structure check 'hidden_units'"
    )
    assert raised.value.hint == "add hidden_units_points = <its points> to [structure] in grader/default_rubric.toml"
