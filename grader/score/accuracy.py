"""Accuracy against the reference, and the train/validation gap: how well the model learned, and how much
of that it only memorised."""

from __future__ import annotations

from grader.baselines import ReferenceStats
from grader.figures import percent, pp
from grader.records import N_CLASSES, EpochRecord, ModelMeasurement
from grader.report import Check
from grader.rubric import AccuracyBand, GapBand, GapRule
from grader.score.checks import failed, fraction_above, graded, not_trained, passed, terms_of

ACCURACY = "Test accuracy vs reference"
GAP = "Train/validation gap (overfitting)"
LEARNS = "Learns from its training data"
SMOOTHING = 5  # epochs of validation loss averaged before looking for a trend
NOT_LEARNED_HINT = (
    "build_model must return a fresh model whose predictions come from the weights training gives it: "
    "no stored answers, pretrained weights or lookups of the inputs"
)


def accuracy_check(
    model: ModelMeasurement, stats: ReferenceStats, worth: float, full_from: float, band: AccuracyBand
) -> Check:
    if model.failure is not None or model.accuracy is None:
        return not_trained("accuracy", ACCURACY, worth, model)
    measured = model.accuracy.test
    learns = learning_check(model, band)
    if learns is not None and learns.status == "fail":
        return failed(
            "accuracy",
            ACCURACY,
            worth,
            f"test accuracy {percent(measured)} earns no points, because {learns.message}",
            NOT_LEARNED_HINT,
        )
    fraction = fraction_above(measured, full_from, full_from - band.zero_below)
    reference = f"reference {percent(stats.test_accuracy.mean)} ± {percent(stats.test_accuracy.std)}"
    if fraction == 1.0:
        return graded(
            "accuracy",
            ACCURACY,
            worth,
            1.0,
            f"test accuracy {percent(measured)} ({reference}; full marks from {percent(full_from)})",
        )
    message = (
        f"test accuracy {percent(measured)} is {pp(stats.test_accuracy.mean - measured)} below the {reference} "
        f"(full marks from {percent(full_from)}, none below {percent(full_from - band.zero_below)})"
    )
    return graded("accuracy", ACCURACY, worth, fraction, message, accuracy_hint(model))


def learning_check(model: ModelMeasurement, band: AccuracyBand) -> Check | None:
    """Whether the model's accuracy comes from training, read off its validation accuracy before any: worth
    no points itself (failing it costs the accuracy points), and None where that was not measured."""
    if model.failure is not None or model.accuracy is None or model.accuracy.untrained is None:
        return None
    untrained, chance = model.accuracy.untrained, 1 / N_CLASSES[model.problem]
    limit = chance + band.untrained_max_above_chance
    # Rounded: 28 of 30 flowers is 1e-16 above a limit of 0.6 above chance, and must not fail it.
    if round(untrained - limit, 6) > 0:
        message = (
            f"before any training this model already scores {percent(untrained)} on data it never trained on (chance: "
            f"{percent(chance)}): its predictions do not come from what it learned"
        )
        return failed("learns", LEARNS, 0.0, message, NOT_LEARNED_HINT)
    message = (
        f"before any training this model scores {percent(untrained)} on data it never trained on "
        f"(chance: {percent(chance)})"
    )
    return passed("learns", LEARNS, 0.0, f"{message}, no more than untrained weights may ({percent(limit)})")


def gap_check(model: ModelMeasurement, stats: ReferenceStats, rule: GapRule, band: GapBand) -> Check:
    if model.failure is not None or model.accuracy is None:
        return not_trained("gap", GAP, rule.points, model)
    gap = model.accuracy.gap
    allowed = stats.gap.mean + max(rule.tolerance_sigmas * stats.gap.std, band.min_tolerance)
    fraction = fraction_above(-gap, -allowed, -(allowed + band.zero_above))
    message = (
        f"validation accuracy {percent(model.accuracy.val)} vs training {percent(model.accuracy.train)}: a gap of "
        f"{pp(gap)} (the reference's gap is {pp(stats.gap.mean)}; full marks up to {pp(allowed)})"
    )
    onset = overfitting_onset(model, rule)
    if onset is not None:
        fraction = min(fraction, 1 - rule.rising_penalty)
        last = model.run.epochs_run if model.run else onset
        message += (
            f"; validation loss rose from epoch {onset} while training loss kept falling, and training went on "
            f"to epoch {last}"
        )
    return graded("gap", GAP, rule.points, fraction, message, overfitting_hint(model))


def overfitting_onset(model: ModelMeasurement, rule: GapRule) -> int | None:
    """The epoch where overfitting began and the run did not stop for it, or None.

    A run that early stopping ended is not held against the student: it did stop.
    """
    if model.run is None or model.run.stop_reason == "early_stopping":
        return None
    margin = rule.bands[model.problem].rising_margin
    return rising_validation_loss(model.run.history, rule.rising_epochs, margin)


def rising_validation_loss(history: list[EpochRecord], epochs: int, margin: float) -> int | None:
    """The epoch after which validation loss rose for good while training loss kept falling, or None.

    Validation loss is smoothed over a few epochs first, so that noise (30 Iris flowers) is not taken for
    a trend: it must end at least ``margin`` (relative) above its lowest point, reached at least ``epochs``
    epochs before the end, while the training loss ends lower than it was there.
    """
    usable = [r for r in history if r.val_loss is not None and r.loss is not None]
    if len(usable) < SMOOTHING + epochs:
        return None
    smooth = [
        sum(r.val_loss for r in usable[i - SMOOTHING + 1 : i + 1]) / SMOOTHING  # type: ignore[misc]
        for i in range(SMOOTHING - 1, len(usable))
    ]
    best = min(range(len(smooth)), key=smooth.__getitem__)
    if len(smooth) - 1 - best < epochs or smooth[-1] < smooth[best] * (1 + margin):
        return None
    at_best = usable[best + SMOOTHING // 2]  # the middle of the lowest window
    if usable[-1].loss >= at_best.loss:  # type: ignore[operator]
        return None
    return at_best.epoch + 1


def accuracy_hint(model: ModelMeasurement) -> str:
    """One concrete next step, read off how the model was built and trained."""
    accuracy = model.accuracy
    if accuracy is not None and accuracy.train >= accuracy.test + 0.02:
        return overfitting_hint(model)
    return underfitting_hint(model)


def underfitting_hint(model: ModelMeasurement) -> str:
    """What to change for a model that has not learned enough: its build or its training, not regularization."""
    description, run, accuracy = model.description, model.run, model.accuracy
    n_classes = N_CLASSES[model.problem]
    if description is not None and model.variant == "multi":
        hidden = [layer.units for layer in description.layers if layer.kind == "dense" and layer.units][:-1]
        if hidden and min(hidden) < n_classes * 2:
            return f"a hidden layer of {min(hidden)} units is too narrow for {n_classes} classes: try 64 to 256 units"
    if run is not None and run.stop_reason == "time_budget":
        return f"training hit the time budget after {run.epochs_run} epochs: use a larger batch size or a smaller model"
    low = f"training accuracy is low too ({percent(accuracy.train)}): " if accuracy is not None else ""
    return (
        f"{low}the model underfits; train for more epochs, raise the learning rate, or (multi) use a wider hidden layer"
    )


def overfitting_hint(model: ModelMeasurement) -> str:
    words = terms_of(model)
    if model.variant == "single":
        return f'stop early on val_loss ({words.stop_early}), or add "weight_decay": 1e-4 to HYPERPARAMS'
    return f"add {words.dropout} after each hidden layer, or stop early on val_loss: {words.stop_early}"
