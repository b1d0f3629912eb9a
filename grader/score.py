"""Score stage: a pure function of (measurements, baselines, rubric).

Nothing here trains, reads files or looks at the clock except for the report's timestamp, so a
changed rubric re-scores stored measurements in milliseconds, and the same measurements always get
the same points.
"""

from __future__ import annotations

import datetime

from grader.baselines import Baselines, ReferenceStats
from grader.measure import Measurements
from grader.records import MODEL_KEYS, ModelMeasurement, model_key
from grader.report import SCHEMA_VERSION, Check, ModelScore, Reference, Report
from grader.rubric import AccuracyBand, GapBand, Rubric

NEXT_STEPS = 3


def score(measurements: Measurements, baselines: Baselines | None, rubric: Rubric) -> Report:
    scores, warnings = [], []
    for problem, variant in MODEL_KEYS:
        if problem not in measurements.settings.problems:
            continue
        model = measurements.model(model_key(problem, variant))
        if model is None:
            model = ModelMeasurement(problem, variant)
        found = _reference(model, measurements.settings.mode, baselines)
        if found is None and baselines is not None:
            warnings.append(
                f"no reference baseline for {model.key} ({measurements.settings.mode} mode): it is not scored"
            )
        scores.append(score_model(model, found, rubric, measurements.settings.mode))
    warnings += _data_warnings(measurements, baselines)
    points = round(sum(s.points for s in scores), 2)
    max_points = round(sum(s.max_points for s in scores), 2)
    graded = measurements.failure is None
    pass_mark = rubric.pass_mark_for(max_points)
    lost = sorted((c for s in scores for c in s.checks if c.lost > 0 and c.hint), key=lambda c: -c.lost)
    steps = list(dict.fromkeys(c.hint for c in lost))[:NEXT_STEPS]
    if measurements.failure is not None and measurements.failure.hint:
        steps.insert(0, measurements.failure.hint)
    return Report(
        schema_version=SCHEMA_VERSION,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        status="graded" if graded else "ungradable",
        measurements=measurements,
        scores=scores,
        points=points,
        max_points=max_points,
        pass_mark=pass_mark,
        passed=graded and max_points > 0 and points >= pass_mark,
        rubric={"name": rubric.name, "digest": rubric.digest},
        next_steps=steps[:NEXT_STEPS],
        warnings=warnings,
    )


def score_model(
    model: ModelMeasurement, found: tuple[ReferenceStats, str] | None, rubric: Rubric, mode: str
) -> ModelScore:
    """The checks for one model: accuracy always, the train/validation gap for the variants the rubric names."""
    if found is None:
        return ModelScore(model.key, [])
    stats, framework = found
    accuracy_band = rubric.accuracy.bands[model.problem]
    full_from = stats.test_accuracy.mean - max(
        rubric.accuracy.tolerance_sigmas * stats.test_accuracy.std, accuracy_band.min_tolerance
    )
    reference = Reference(
        framework, mode, stats.test_accuracy.mean, stats.test_accuracy.std, stats.gap.mean, round(full_from, 6)
    )
    checks = [accuracy_check(model, stats, rubric.accuracy.points, full_from, accuracy_band)]
    if model.variant in rubric.gap.variants:
        checks.append(gap_check(model, stats, rubric, rubric.gap.bands[model.problem]))
    return ModelScore(model.key, checks, reference)


def accuracy_check(
    model: ModelMeasurement, stats: ReferenceStats, points: float, full_from: float, band: AccuracyBand
) -> Check:
    title = "Test accuracy vs reference"
    if model.failure is not None or model.accuracy is None:
        return _not_trained("accuracy", title, model, points)
    measured = model.accuracy.test
    fraction = _fraction_above(measured, full_from, full_from - band.zero_below)
    reference = f"reference {_pct(stats.test_accuracy.mean)} ± {_pct(stats.test_accuracy.std)}"
    if fraction == 1.0:
        message = f"test accuracy {_pct(measured)} ({reference}; full marks from {_pct(full_from)})"
        hint = ""
    else:
        message = (
            f"test accuracy {_pct(measured)} is {_points(stats.test_accuracy.mean - measured)} below the "
            f"{reference} (full marks from {_pct(full_from)}, none below {_pct(full_from - band.zero_below)})"
        )
        hint = accuracy_hint(model)
    return _check("accuracy", title, points, fraction, message, hint)


def gap_check(model: ModelMeasurement, stats: ReferenceStats, rubric: Rubric, band: GapBand) -> Check:
    title = "Train/validation gap (overfitting)"
    points = rubric.gap.points
    if model.failure is not None or model.accuracy is None:
        return _not_trained("gap", title, model, points)
    gap = model.accuracy.gap
    allowed = stats.gap.mean + max(rubric.gap.tolerance_sigmas * stats.gap.std, band.min_tolerance)
    fraction = _fraction_above(-gap, -allowed, -(allowed + band.zero_above))
    summary = (
        f"validation accuracy {_pct(model.accuracy.val)} vs training {_pct(model.accuracy.train)}: "
        f"a gap of {_points(gap)} (the reference's gap is {_points(stats.gap.mean)}"
    )
    if fraction == 1.0:
        return _check("gap", title, points, fraction, f"{summary}; allowed up to {_points(allowed)})")
    return _check(
        "gap", title, points, fraction, f"{summary}; full marks up to {_points(allowed)})", overfitting_hint(model)
    )


def accuracy_hint(model: ModelMeasurement) -> str:
    """One concrete next step, read off how the model was built and trained."""
    description, run, accuracy = model.description, model.run, model.accuracy
    n_classes = 3 if model.problem == "iris" else 10
    if description is not None and model.variant == "multi":
        hidden = [layer.units for layer in description.layers if layer.kind == "dense" and layer.units][:-1]
        if hidden and min(hidden) < n_classes * 2:
            return f"a hidden layer of {min(hidden)} units is too narrow for {n_classes} classes: try 64 to 256 units"
    if run is not None and run.stop_reason == "time_budget":
        return f"training hit the time budget after {run.epochs_run} epochs: use a larger batch size or a smaller model"
    if accuracy is not None and accuracy.train < accuracy.test + 0.02:
        return (
            f"training accuracy is low too ({_pct(accuracy.train)}): the model underfits; train for more "
            "epochs, raise the learning rate, or (multi) use a wider hidden layer"
        )
    return overfitting_hint(model)


def overfitting_hint(model: ModelMeasurement) -> str:
    keras = model.description is not None and model.description.framework == "keras"
    dropout = "keras.layers.Dropout(0.2)" if keras else "nn.Dropout(0.2)"
    stop = (
        "pass keras.callbacks.EarlyStopping(monitor='val_loss', restore_best_weights=True) from callbacks()"
        if keras
        else 'set "early_stopping": True in HYPERPARAMS'
    )
    return f"add {dropout} after each hidden layer, or stop early on val_loss: {stop}"


def _not_trained(check_id: str, title: str, model: ModelMeasurement, points: float) -> Check:
    failure = model.failure
    if failure is None:
        return Check(check_id, title, 0.0, points, "fail", f"{model.key} was not graded", "")
    where = f" ({failure.location})" if failure.location else ""
    return Check(check_id, title, 0.0, points, "fail", f"not trained: {failure.message}{where}", failure.hint)


def _check(check_id: str, title: str, points: float, fraction: float, message: str, hint: str = "") -> Check:
    status = "pass" if fraction == 1.0 else "partial" if fraction > 0 else "fail"
    return Check(check_id, title, round(points * fraction, 2), points, status, message, hint)


def _fraction_above(value: float, full_at: float, zero_at: float) -> float:
    """1 at or above ``full_at``, 0 at or below ``zero_at``, linear in between."""
    if value >= full_at:
        return 1.0
    if value <= zero_at:
        return 0.0
    return round((value - zero_at) / (full_at - zero_at), 4)


def _reference(model: ModelMeasurement, mode: str, baselines: Baselines | None) -> tuple[ReferenceStats, str] | None:
    if baselines is None:
        return None
    framework = model.description.framework if model.description else "torch"
    return baselines.reference(mode, framework, model.key)


def _data_warnings(measurements: Measurements, baselines: Baselines | None) -> list[str]:
    if baselines is None:
        return ["no reference baselines were found: nothing is scored (generate them with: grade baselines)"]
    expected = baselines.data.get(measurements.settings.mode, {})
    return [
        f"{problem}: the data (fingerprint {info.fingerprint}) differs from the references' "
        f"({expected[problem]}); accuracies may not be comparable"
        for problem, info in measurements.data.items()
        if problem in expected and expected[problem] != info.fingerprint
    ]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:.1f} points"
