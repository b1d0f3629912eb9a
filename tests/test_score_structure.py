"""Structure checks: each variant is the network it claims to be, trained with a loss that fits it."""

from __future__ import annotations

from measurements_factory import RELU, dense, model

from grader.records import LayerInfo, ModelProbes
from grader.rubric import load_rubric
from grader.score.structure import structure_checks

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
    assert unseen["loss_matches_output"].points == RULE.loss_points
