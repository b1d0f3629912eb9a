"""Structure: is each model the kind of network its variant asks for, trained with a loss that fits it.

A structure check is a function ``(model, worth) -> Check`` decorated with ``@structure_check(name)``: it
runs for every model, in the order of this file, worth the rubric's ``<name>_points`` in [structure].
"""

from __future__ import annotations

from collections.abc import Callable

from grader.errors import RubricError
from grader.records import LayerInfo, ModelMeasurement
from grader.report import Check
from grader.rubric import StructureRule
from grader.score.checks import Registry, failed, not_applicable, passed, terms_of

LAYERS = "Layers fit the variant"
FULLY_CONNECTED = "Fully connected"
LOSS = "Loss matches the output"
NOT_FULLY_CONNECTED = ("conv", "recurrent")

structure_check: Registry[Callable[[ModelMeasurement, float], Check]] = Registry("structure check")


def structure_checks(model: ModelMeasurement, rule: StructureRule) -> list[Check]:
    """Every registered structure check, each worth its points in the rubric."""
    worths = _points_by_check(rule)
    return [check(model, worths[name]) for name, check in structure_check.items()]


def _points_by_check(rule: StructureRule) -> dict[str, float]:
    """The rubric's points for each registered check. The rubric does not import the scorer, so the two are
    matched here, when a rubric scores: a key no check reads and a check with no points are both mistakes."""
    names = [name for name, _ in structure_check.items()]
    for name in rule.points:
        if name not in names:
            raise RubricError(
                f"the rubric's [structure] {name}_points scores no structure check (the checks: {', '.join(names)})",
                f"remove {name}_points, or write its check in grader/score/structure.py: @structure_check({name!r})",
            )
    for name in names:
        if name not in rule.points:
            raise RubricError(
                f"the rubric's [structure] has no {name}_points for the structure check {name!r}",
                f"add {name}_points = <its points> to [structure] in grader/default_rubric.toml",
            )
    return rule.points


@structure_check("layers")
def layers_check(model: ModelMeasurement, worth: float) -> Check:
    """single: exactly one dense layer; multi: a hidden dense layer and a non-linearity that works."""
    description, probes = model.description, model.probes
    if description is None:
        return failed("layers", LAYERS, worth, "the model was never built", "")
    dense = [layer for layer in description.layers if layer.kind == "dense"]
    linear = probes is not None and probes.affine
    activation = terms_of(model).activation
    if model.variant == "single":
        if len(dense) == 1:
            return passed("layers", LAYERS, worth, "one dense layer: softmax regression")
        if not dense:
            return failed("layers", LAYERS, worth, "no dense layer found", "build one Linear/Dense layer")
        if linear:
            return failed(
                "layers",
                LAYERS,
                worth,
                f"{len(dense)} stacked dense layers where the single-layer model has one (stacked without an "
                "activation they are one linear map anyway)",
                "use a single Linear/Dense layer from the inputs to the classes",
            )
        return failed(
            "layers",
            LAYERS,
            worth,
            f"{len(dense)} dense layers with a non-linearity: that is a hidden layer, which the single-layer "
            "model must not have",
            "keep the hidden layers for the multi-layer model; the single one maps inputs straight to classes",
        )
    if len(dense) < 2:
        return failed(
            "layers",
            LAYERS,
            worth,
            f"{len(dense)} dense layer{'s' if len(dense) != 1 else ''}: no hidden dense layer",
            f"add a hidden layer, e.g. Linear/Dense with 128 units followed by {activation}",
        )
    if linear:
        return failed(
            "layers",
            LAYERS,
            worth,
            f"{len(dense)} dense layers with no working activation between them: stacked linear layers are "
            "still one linear map, no more expressive than the single-layer model",
            f"add {activation} after each hidden layer",
        )
    return passed("layers", LAYERS, worth, f"hidden layers of {_units(dense[:-1])} units with a non-linearity")


@structure_check("fully_connected")
def fully_connected_check(model: ModelMeasurement, worth: float) -> Check:
    if model.description is None:
        return failed("fully_connected", FULLY_CONNECTED, worth, "the model was never built", "")
    others = [layer for layer in model.description.layers if layer.kind in NOT_FULLY_CONNECTED]
    if not others:
        return passed("fully_connected", FULLY_CONNECTED, worth, "dense layers only")
    names = ", ".join(dict.fromkeys(layer.name for layer in others))
    return failed(
        "fully_connected",
        FULLY_CONNECTED,
        worth,
        f"the model has {names} layers: the assignment asks for fully-connected networks",
        "replace them with Linear/Dense layers (flatten the image first)",
    )


@structure_check("loss")
def loss_check(model: ModelMeasurement, worth: float) -> Check:
    """The loss must take what the model outputs: a softmax output into a loss that applies softmax
    itself is the classic double softmax, which trains slowly and badly."""
    description, probes = model.description, model.probes
    if description is None or probes is None or probes.loss_expects is None:
        return not_applicable("loss_matches_output", LOSS, worth, "the loss could not be seen")
    output, expects, chosen_by = description.output, probes.loss_expects, probes.loss_chosen_by
    if expects == output:
        who = "the grader picked a loss for" if chosen_by == "grader" else f"the {chosen_by}'s loss takes"
        return passed("loss_matches_output", LOSS, worth, f"{who} the model's {output.replace('_', ' ')}")
    if expects == "logits" and output == "probabilities":
        return failed(
            "loss_matches_output",
            LOSS,
            worth,
            f"double softmax: the model ends in a softmax and the {chosen_by}'s loss applies softmax again",
            terms_of(model).no_double_softmax,
        )
    return failed(
        "loss_matches_output",
        LOSS,
        worth,
        f"the {chosen_by}'s loss expects {expects.replace('_', ' ')} but the model outputs {output.replace('_', ' ')}",
        terms_of(model).loss_for_output,
    )


def _units(layers: list[LayerInfo]) -> str:
    return ", ".join(str(layer.units) for layer in layers)
