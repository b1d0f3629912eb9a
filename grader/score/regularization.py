"""Regularization: detected, used correctly, and effective (shown by the ablation run).

Detection reads the model's layers, the training plan (hyperparameters, a compiled optimizer, Keras
callbacks) and what the grader saw a student's own training loop do. A rule every model is held to is a
function ``(model, found, rule) -> Check`` decorated with ``@rule_check(name)``: it runs for every model, in
the order of this file, worth [regularization] rule_points (its bounds, if any, read from the same table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grader.baselines import ReferenceStats
from grader.figures import percent, pp
from grader.records import EarlyStoppingSpec, ModelMeasurement
from grader.report import AblationSummary, Check, RunSummary
from grader.rubric import AblationRule, RegularizationRule
from grader.score.checks import Registry, failed, not_applicable, not_measured, passed, terms_of

USED = "Regularization used"
EFFECTIVE = "Regularization effective (ablation)"
DROPOUT_AT_INFERENCE = "Dropout on in training, off at inference"
DROPOUT_RATE = "Dropout rate sensible"
DROPOUT_ON_OUTPUT = "No dropout on the output"
EARLY_STOPPING = "Early stopping set up right"
WEIGHT_DECAY = "Weight decay sensible"


@dataclass
class Regularization:
    """The regularization a model was trained with."""

    dropout: list[tuple[str, float]] = field(default_factory=list)  # (layer, rate)
    weight_decay: float = 0.0
    kernel: dict[str, float] = field(default_factory=dict)  # e.g. {"kernel_l2": 1e-4}
    normalisation: list[str] = field(default_factory=list)
    early_stopping: EarlyStoppingSpec | None = None

    def found(self) -> list[str]:
        """What was found, in words."""
        words = [f"{name}({rate:g})" for name, rate in self.dropout]
        if self.weight_decay:
            words.append(f"weight decay {self.weight_decay:g}")
        words += [f"{name.replace('_', ' ')} {value:g}" for name, value in self.kernel.items()]
        words += list(dict.fromkeys(self.normalisation))
        if self.early_stopping:
            words.append(f"early stopping on {self.early_stopping.monitor}")
        return words


rule_check: Registry[Callable[[ModelMeasurement, Regularization, RegularizationRule], Check]] = Registry(
    "regularization rule check"
)


def detect(model: ModelMeasurement) -> Regularization:
    found = Regularization()
    if model.description is not None:
        for layer in model.description.layers:
            if layer.kind == "dropout" and layer.rate:
                found.dropout.append((layer.name, layer.rate))
            if layer.kind in ("batchnorm", "layernorm"):
                found.normalisation.append(layer.name)
            for name, value in layer.regularizers.items():
                if value:
                    found.kernel[name] = max(value, found.kernel.get(name, 0.0))
    if model.run is not None:
        found.weight_decay = model.run.plan.weight_decay
        found.early_stopping = model.run.plan.early_stopping
    if model.probes is not None and model.probes.optimizer_weight_decay:
        found.weight_decay = max(found.weight_decay, model.probes.optimizer_weight_decay)
    return found


def regularization_checks(
    model: ModelMeasurement,
    rule: RegularizationRule,
    ablation: AblationRule,
    stats: ReferenceStats | None,
    ablation_due: bool = False,
) -> list[Check]:
    """The rules for every model; for the models that must be regularized, whether it is and whether it worked.
    ``ablation_due``: this mode runs the ablation for the model's problem, so its check counts even when
    nothing came back."""
    found = detect(model)
    checks = [check(model, found, rule) for _, check in rule_check.items()]
    if model.key in rule.required:
        effective = effective_check(model, found, rule, ablation, stats, ablation_due)
        checks += [used_check(model, found, rule.used_points), effective]
    return checks


def used_check(model: ModelMeasurement, found: Regularization, worth: float) -> Check:
    if found.found():
        return passed("regularization_used", USED, worth, "found " + ", ".join(found.found()))
    return failed(
        "regularization_used",
        USED,
        worth,
        "no dropout, weight decay, kernel regularizer, normalisation or early stopping found: this model is "
        "strong enough to overfit its training data",
        terms_of(model).regularize,
    )


def effective_check(
    model: ModelMeasurement,
    found: Regularization,
    rule: RegularizationRule,
    ablation: AblationRule,
    stats: ReferenceStats | None,
    due: bool = False,
) -> Check:
    """Compare the model with its ablation: regularization should lower the gap or raise validation accuracy
    by more than the reference's seed noise."""
    worth = rule.effective_points
    uncompared = _no_comparison(model, found, worth, due)
    if uncompared is not None:
        return uncompared
    run, without = model.accuracy, model.ablation
    assert run is not None and without is not None and without.accuracy is not None and without.switched_off
    noise = ablation.min_noise.get(model.problem, 0.0)
    gap_noise = max(ablation.noise_sigmas * (stats.gap.std if stats else 0.0), noise)
    val_noise = max(ablation.noise_sigmas * (stats.val_accuracy.std if stats else 0.0), noise)
    gap_cut = without.accuracy.gap - run.gap
    val_gain = run.val - without.accuracy.val
    compared = (
        f"with it: gap {pp(run.gap)}, validation {percent(run.val)}; without ({'; '.join(without.switched_off)}): "
        f"gap {pp(without.accuracy.gap)}, validation {percent(without.accuracy.val)}"
    )
    if gap_cut > gap_noise or val_gain > val_noise:
        return passed("regularization_effective", EFFECTIVE, worth, f"{compared}: it helped beyond seed noise")
    return failed(
        "regularization_effective",
        EFFECTIVE,
        worth,
        f"{compared}: no difference beyond seed noise (gap {pp(gap_noise)}, validation {pp(val_noise)})",
        "the regularization is too weak to matter: raise the dropout rate (0.2 to 0.5) or add weight decay, "
        "and compare the learning curves",
    )


def _no_comparison(model: ModelMeasurement, found: Regularization, worth: float, due: bool) -> Check | None:
    """The check when there is nothing to compare: no trained model, no ablation run, no regularization, an
    ablation that failed or switched nothing off. None when the two runs can be compared."""
    run, without = model.accuracy, model.ablation
    if run is None and (due or without is not None):
        return failed("regularization_effective", EFFECTIVE, worth, "the model did not train", "")
    if without is None or run is None:
        return not_measured("regularization_effective", EFFECTIVE, "no ablation run in this mode")
    if not found.found():
        return failed(
            "regularization_effective",
            EFFECTIVE,
            worth,
            "no regularization to switch off",
            "",  # the regularization_used check says what to add
        )
    if without.failure is not None or without.accuracy is None:
        reason = without.failure.message if without.failure else "nothing the grader can switch off"
        return not_measured("regularization_effective", EFFECTIVE, f"the ablation run did not train: {reason}")
    if not without.switched_off:
        return not_measured(
            "regularization_effective",
            EFFECTIVE,
            f"the grader cannot switch off {', '.join(found.found())}, so there is nothing to compare",
        )
    return None


@rule_check("dropout_at_inference")
def dropout_at_inference_check(model: ModelMeasurement, found: Regularization, rule: RegularizationRule) -> Check:
    probes, worth = model.probes, rule.rule_points
    random_at_inference = probes is not None and probes.inference_deterministic is False
    if not found.dropout and not random_at_inference:
        return not_applicable("dropout_at_inference", DROPOUT_AT_INFERENCE, worth, "no dropout")
    if random_at_inference:
        return failed(
            "dropout_at_inference",
            DROPOUT_AT_INFERENCE,
            worth,
            "two predictions of the same inputs differ: something random (dropout) is still on at inference",
            terms_of(model).dropout_off_at_inference,
        )
    trained_off = probes.trained_in_eval_mode if probes else None
    if trained_off and found.dropout:
        return failed(
            "dropout_at_inference",
            DROPOUT_AT_INFERENCE,
            worth,
            f"your train() ran {trained_off} training passes (with gradients) with the model in eval mode: "
            "dropout was never on while it learned",
            terms_of(model).train_in_training_mode,
        )
    evaluated = probes.evaluated_in_training_mode if probes else None
    if evaluated:
        return failed(
            "dropout_at_inference",
            DROPOUT_AT_INFERENCE,
            worth,
            f"your train() ran {evaluated} evaluation passes (without gradients) with the model in training "
            "mode: dropout was on while it measured validation accuracy",
            terms_of(model).evaluate_in_eval_mode,
        )
    return passed("dropout_at_inference", DROPOUT_AT_INFERENCE, worth, "predictions are repeatable")


@rule_check("dropout_rate")
def dropout_rate_check(model: ModelMeasurement, found: Regularization, rule: RegularizationRule) -> Check:
    if not found.dropout:
        return not_applicable("dropout_rate", DROPOUT_RATE, rule.rule_points, "no dropout")
    low, high = rule.dropout_rate
    wrong = [(name, rate) for name, rate in found.dropout if not low <= rate <= high]
    if not wrong:
        rates = ", ".join(f"{rate:g}" for _, rate in found.dropout)
        return passed("dropout_rate", DROPOUT_RATE, rule.rule_points, f"rate {rates}, within {low:g}-{high:g}")
    name, rate = wrong[0]
    return failed(
        "dropout_rate",
        DROPOUT_RATE,
        rule.rule_points,
        f"{name}({rate:g}) drops {rate:.0%} of the activations it sees: outside the sensible {low:g}-{high:g}",
        "use a rate between 0.1 and 0.5; 0.2 after each hidden layer is a good start",
    )


@rule_check("dropout_on_output")
def dropout_on_output_check(model: ModelMeasurement, found: Regularization, rule: RegularizationRule) -> Check:
    worth = rule.rule_points
    if not found.dropout or model.description is None:
        return not_applicable("dropout_on_output", DROPOUT_ON_OUTPUT, worth, "no dropout")
    kinds = [layer.kind for layer in model.description.layers]
    last_dense = max((i for i, kind in enumerate(kinds) if kind == "dense"), default=-1)
    if "dropout" in kinds[last_dense + 1 :]:
        return failed(
            "dropout_on_output",
            DROPOUT_ON_OUTPUT,
            worth,
            "a dropout layer comes after the output layer: it zeroes class scores at random",
            "put dropout after hidden layers only, never after the last one",
        )
    return passed("dropout_on_output", DROPOUT_ON_OUTPUT, worth, "dropout only between hidden layers")


@rule_check("early_stopping")
def early_stopping_check(model: ModelMeasurement, found: Regularization, rule: RegularizationRule) -> Check:
    spec = found.early_stopping
    if spec is None:
        return not_applicable("early_stopping", EARLY_STOPPING, rule.rule_points, "no early stopping")
    if spec.monitor not in rule.early_stopping_monitors:
        return failed(
            "early_stopping",
            EARLY_STOPPING,
            rule.rule_points,
            f"early stopping monitors {spec.monitor}, a training metric: it keeps improving while the model "
            "overfits, so it never stops in time",
            'monitor "val_loss" (or "val_accuracy")',
        )
    if not spec.restore_best_weights:
        return failed(
            "early_stopping",
            EARLY_STOPPING,
            rule.rule_points,
            f"early stopping on {spec.monitor} keeps the last epoch's weights, {spec.patience} epochs past the best",
            terms_of(model).restore_best_weights,
        )
    return passed(
        "early_stopping",
        EARLY_STOPPING,
        rule.rule_points,
        f"monitors {spec.monitor} and restores the best weights",
    )


@rule_check("weight_decay")
def weight_decay_check(model: ModelMeasurement, found: Regularization, rule: RegularizationRule) -> Check:
    values = ([("weight decay", found.weight_decay)] if found.weight_decay else []) + [
        (name.replace("_", " "), value) for name, value in found.kernel.items()
    ]
    if not values:
        return not_applicable("weight_decay", WEIGHT_DECAY, rule.rule_points, "no weight decay")
    for name, value in values:
        low, high = rule.weight_decay if name == "weight decay" else rule.kernel_regularizer
        if not low <= value <= high:
            return failed(
                "weight_decay",
                WEIGHT_DECAY,
                rule.rule_points,
                f"{name} {value:g} is outside the sensible {low:g}-{high:g}",
                "too much decay drives the weights to zero, too little does nothing: try 1e-4",
            )
    return passed(
        "weight_decay", WEIGHT_DECAY, rule.rule_points, ", ".join(f"{name} {value:g}" for name, value in values)
    )


def ablation_summary(model: ModelMeasurement) -> AblationSummary | None:
    """Both runs side by side, for the report."""
    if model.ablation is None or model.accuracy is None or model.run is None:
        return None
    without = model.ablation
    ablated = None
    if without.accuracy is not None and without.run is not None:
        ablated = RunSummary.of(without.accuracy, without.run)
    return AblationSummary(without.switched_off or [], RunSummary.of(model.accuracy, model.run), ablated)
