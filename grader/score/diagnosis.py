"""Diagnosis: the state of each model in the lesson's words, and the cause that explains it.

The checks say what earned points; this says what to fix first. It reads only what was measured (the
curves, the ablation, the what-if retrains, the probes, the structure) and the checks already scored, and
claims the points of the checks its cause explains, so that next steps can be ranked by what a fix would
win back: an over-strong dropout that costs the accuracy comes before "train for longer".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from grader.figures import percent, pp
from grader.records import N_CLASSES, ModelMeasurement
from grader.report import Check, Diagnosis, DiagnosisState, WhatIf
from grader.rubric import RegularizationRule
from grader.score.accuracy import overfitting_hint, underfitting_hint
from grader.score.regularization import Regularization, detect

NOT_LEARNING_ABOVE_CHANCE = 0.1  # training accuracy within this of chance: the model learned nothing
DIVERGING_RISE = 1.2  # training loss ending this many times above where it started
AHEAD = 0.02  # the ablation beats the regularized model by more than this: the regularization held it back


@dataclass
class Cause:
    """A mistake that explains lost points: what it is, what to do, and the checks whose points it claims."""

    text: str
    advice: str
    claims: tuple[str, ...]
    evidence: str = ""
    state: DiagnosisState | None = None  # the state it puts the model in whatever the curves say, or let them decide


def diagnose(
    model: ModelMeasurement,
    checks: list[Check],
    what_ifs: list[WhatIf],
    allowed_gap: float,
    onset: int | None,
    rule: RegularizationRule,
) -> Diagnosis:
    """One model's state and cause. ``allowed_gap`` is the largest train/validation gap that earns full
    marks (or the band's tolerance where the gap is not scored); ``onset`` is where overfitting began."""
    failing = {check.id: check for check in checks if check.lost > 0 or check.status == "fail"}
    lost = {check_id: check.lost for check_id, check in failing.items()}
    if model.failure is not None or model.accuracy is None or model.run is None:
        failure = model.failure
        return Diagnosis(
            "not trained",
            failure.message if failure else "the model was not trained",
            "",
            failure.hint if failure else "",
            round(sum(lost.values()), 2),
            list(lost),
        )
    found = detect(model)
    cause = _cause(model, failing, _too_strong(found, rule), what_ifs)
    state, evidence, usual = _state(model, lost, found, allowed_gap, onset, cause)
    if state == "fine":
        return Diagnosis(state, "", evidence, "", 0.0)
    cause = cause or usual
    if cause is None:  # a state that cost no points, e.g. overfitting that the rubric tolerates
        return Diagnosis(state, "", evidence, "", 0.0)
    evidence = "; ".join(part for part in (cause.evidence, evidence) if part)
    explains = [check_id for check_id in lost if check_id in (*cause.claims, "accuracy", "gap")]
    return Diagnosis(state, cause.text, evidence, cause.advice, round(sum(lost[i] for i in explains), 2), explains)


State = tuple[DiagnosisState, str, Cause | None]  # the state, its evidence, and the cause that usually explains it


def _state(
    model: ModelMeasurement,
    lost: dict[str, float],
    found: Regularization,
    allowed_gap: float,
    onset: int | None,
    cause: Cause | None,
) -> State:
    """The state in the lesson's words, its evidence, and the cause that usually explains it: the first of
    a training that went wrong, a cause that names its own state, too much regularization, and the fit."""
    assert model.accuracy is not None and model.run is not None
    diverging = _diverging(model)
    if diverging is not None:
        return diverging
    if cause is not None and cause.state is not None:
        return cause.state, "", None
    return _not_learning(model) or _over_regularized(model, found, cause) or _fit(model, lost, allowed_gap, onset)


def _losses(model: ModelMeasurement) -> list[float]:
    assert model.run is not None
    return [r.loss for r in model.run.history if r.loss is not None]


def _diverging(model: ModelMeasurement) -> State | None:
    """Training loss that rose far above where it started, or left the numbers."""
    assert model.run is not None
    losses = _losses(model)
    loss_rose = len(losses) >= 3 and losses[-1] > losses[0] * DIVERGING_RISE
    if not loss_rose and all(math.isfinite(loss) for loss in losses):
        return None
    return (
        "diverging",
        f"training loss went from {losses[0]:.3g} to {losses[-1]:.3g}",
        Cause(
            "the steps are too large for the loss surface",
            f"lower the learning rate ({model.run.plan.learning_rate:g} now): try a tenth of it",
            ("accuracy",),
        ),
    )


def _not_learning(model: ModelMeasurement) -> State | None:
    """Training accuracy barely above chance."""
    assert model.accuracy is not None and model.run is not None
    chance = 1 / N_CLASSES[model.problem]
    if model.accuracy.train > chance + NOT_LEARNING_ABOVE_CHANCE:
        return None
    losses = _losses(model)
    curve = f"; training loss {losses[0]:.3g} -> {losses[-1]:.3g}" if losses else ""
    return (
        "not learning",
        f"training accuracy {percent(model.accuracy.train)}, chance is {percent(chance)}{curve}",
        Cause(
            "the loss is not going down",
            "check that the optimizer updates this model's parameters and that the learning rate is not tiny "
            f"({model.run.plan.learning_rate:g} now)",
            ("accuracy",),
        ),
    )


def _over_regularized(model: ModelMeasurement, found: Regularization, cause: Cause | None) -> State | None:
    """The model retrained without its regularization did better, or a cause blames a rate or a decay."""
    assert model.accuracy is not None
    ahead = _ablation_ahead(model)
    if ahead is not None:
        return (
            "over-regularized",
            ahead,
            Cause(
                f"its regularization ({', '.join(found.found())}) costs more than it saves",
                "weaken the regularization: dropout 0.1 to 0.3, weight decay about 1e-4",
                ("regularization_effective",),
            ),
        )
    if cause is not None and cause.claims[-1] in ("dropout_rate", "weight_decay"):
        return "over-regularized", f"training accuracy only {percent(model.accuracy.train)}", None
    return None


def _fit(model: ModelMeasurement, lost: dict[str, float], allowed_gap: float, onset: int | None) -> State:
    """A model that learned: overfitting, underfitting or fine, by its gap and its lost points."""
    assert model.accuracy is not None and model.run is not None
    accuracy = model.accuracy
    if lost.get("gap") or onset is not None or (accuracy.gap > allowed_gap and "accuracy" in lost):
        rising = f"; validation loss rising from epoch {onset} of {model.run.epochs_run}" if onset is not None else ""
        return (
            "overfitting",
            f"training {percent(accuracy.train)} vs validation {percent(accuracy.val)}: a gap of {pp(accuracy.gap)} "
            f"(up to {pp(allowed_gap)} is expected){rising}",
            Cause("the model memorises its training data", overfitting_hint(model), ("gap", "regularization_used")),
        )
    if "accuracy" in lost:
        return (
            "underfitting",
            f"training accuracy {percent(accuracy.train)}, validation {percent(accuracy.val)}: no gap to close",
            Cause("", underfitting_hint(model), ("accuracy",)),
        )
    return "fine", f"validation {percent(accuracy.val)}, gap {pp(accuracy.gap)}", None


def what_if_results(model: ModelMeasurement) -> list[WhatIf]:
    """The what-if retrains in a few numbers: what changed and the test accuracy it reached."""
    return [
        WhatIf(
            run.what_if or "",
            run.switched_off or [],
            run.accuracy.test if run.accuracy else None,
            run.failure.message if run.failure else "",
        )
        for run in model.what_ifs
    ]


def _ablation_ahead(model: ModelMeasurement) -> str | None:
    """The ablation's words when the model without its regularization both trains and validates better."""
    run, without = model.accuracy, model.ablation
    if run is None or without is None or without.accuracy is None or not without.switched_off:
        return None
    if without.accuracy.val - run.val <= AHEAD or without.accuracy.train - run.train <= AHEAD:
        return None
    return (
        f"without its regularization this model reaches {percent(without.accuracy.train)} train / "
        f"{percent(without.accuracy.val)} validation; with it, {percent(run.train)} / {percent(run.val)}"
    )


def _too_strong(found: Regularization, rule: RegularizationRule) -> Regularization:
    """Only the regularization past the rubric's upper bounds: a rate or a decay below the lower one does
    nothing, so it cannot be what holds a model back."""
    return Regularization(
        dropout=[(name, rate) for name, rate in found.dropout if rate > rule.dropout_rate[1]],
        weight_decay=found.weight_decay if found.weight_decay > rule.weight_decay[1] else 0.0,
        kernel={name: value for name, value in found.kernel.items() if value > rule.kernel_regularizer[1]},
    )


def _cause(
    model: ModelMeasurement, failing: dict[str, Check], found: Regularization, what_ifs: list[WhatIf]
) -> Cause | None:
    """The first mistake that the checks caught and that explains lost accuracy or gap points: in order of
    how much accuracy it usually costs, but regularization first when the ablation showed it was the cost."""
    if not ({"accuracy", "gap"} & failing.keys()):
        return None
    detectors = _DETECTORS
    if _ablation_ahead(model) is not None:
        detectors = (_strong_dropout, _strong_decay, *_DETECTORS)
    for detector in detectors:
        cause = detector(model, failing, found)
        if cause is not None:
            fix = _FIX_OF.get(cause.claims[-1])
            measured = next((w for w in what_ifs if fix in w.fix.split("+") and w.test is not None), None)
            if measured is not None and model.accuracy is not None:
                cause.evidence = (
                    f"with {'; '.join(measured.changed)}: {percent(measured.test or 0.0)} test accuracy instead of "
                    f"{percent(model.accuracy.test)}"
                )
            return cause
    return None


def _answers_not_learned(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    if "learns" not in failing:
        return None
    untrained = model.accuracy.untrained if model.accuracy else None
    return Cause(
        "its predictions do not come from what it learned",
        failing["learns"].hint,
        ("learns",),
        f"before any training it already scores {percent(untrained or 0.0)} on data it never trained on",
        state="not learning",
    )


def _double_softmax(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    check = failing.get("loss_matches_output")
    if check is None:
        return None
    return Cause(
        "its loss does not take what the model outputs (a softmax into a loss that applies softmax again)"
        if check.message.startswith("double softmax")
        else check.message,
        check.hint,
        ("loss_matches_output",),
    )


def _strong_dropout(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    if "dropout_rate" not in failing or not found.dropout:
        return None
    name, rate = max(found.dropout, key=lambda layer: layer[1])
    return Cause(
        f"{name}({rate:g}) drops {rate:.0%} of the activations it sees",
        failing["dropout_rate"].hint,
        ("regularization_effective", "dropout_rate"),
    )


def _strong_decay(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    values = [f"weight decay {found.weight_decay:g}"] if found.weight_decay else []
    values += [f"{name.replace('_', ' ')} {value:g}" for name, value in found.kernel.items()]
    if "weight_decay" not in failing or not values:
        return None
    return Cause(
        f"{', '.join(values)} pulls the weights towards zero harder than the data pushes",
        failing["weight_decay"].hint,
        ("regularization_effective", "weight_decay"),
    )


def _eval_mode(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    check = failing.get("dropout_at_inference")
    return None if check is None else Cause(check.message, check.hint, ("dropout_at_inference",))


def _linear_stack(model: ModelMeasurement, failing: dict[str, Check], found: Regularization) -> Cause | None:
    check = failing.get("layers")
    if check is None or model.variant != "multi":
        return None
    return Cause(check.message, check.hint, ("layers",))


_DETECTORS: tuple[Callable[[ModelMeasurement, dict[str, Check], Regularization], Cause | None], ...] = (
    _answers_not_learned,
    _double_softmax,
    _strong_dropout,
    _strong_decay,
    _eval_mode,
    _linear_stack,
)
_FIX_OF = {
    "loss_matches_output": "final_softmax",
    "dropout_rate": "dropout_rate",
    "weight_decay": "weight_decay",
    "dropout_at_inference": "eval_mode",
}
