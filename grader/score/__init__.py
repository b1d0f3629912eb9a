"""Score stage: a pure function of (measurements, baselines, rubric).

Nothing here trains, reads files or looks at the clock (the caller stamps the report's time), so a
changed rubric re-scores stored measurements in milliseconds, and the same measurements always get
the same report.
"""

from __future__ import annotations

import dataclasses

from grader.baselines import Baselines, ReferenceStats
from grader.records import MODEL_KEYS, Measurements, ModelMeasurement, model_key
from grader.report import SCHEMA_VERSION, Check, ModelScore, Reference, Report
from grader.rubric import Rubric
from grader.score.accuracy import accuracy_check, gap_check, learning_check, overfitting_onset
from grader.score.checks import framework_of, not_trained
from grader.score.diagnosis import diagnose, what_if_results
from grader.score.freeform import deduct
from grader.score.regularization import ablation_summary, detect, regularization_checks
from grader.score.steps import model_warnings, next_steps
from grader.score.structure import structure_checks

NEXT_STEPS = 3

__all__ = ["score", "score_model"]


def score(measurements: Measurements, baselines: Baselines | None, rubric: Rubric, *, created: str) -> Report:
    """The report on ``measurements``, stamped ``created`` (``grader.report.created_now()`` for a grade made now)."""
    scores, warnings = [], []
    mode = measurements.settings.mode
    for problem, variant in MODEL_KEYS:
        if problem not in measurements.settings.problems:
            continue
        model = measurements.model(model_key(problem, variant)) or ModelMeasurement(problem, variant)
        found = _reference(model, mode, baselines)
        if found is None and baselines is not None:
            warnings.append(f"no reference baseline for {model.key} ({mode} mode): its accuracy is not scored")
        scored = score_model(model, found, rubric, mode, measurements.settings.mode == "quick")
        scores.append(_not_graded(scored) if measurements.failure is not None else scored)
    if measurements.freeform is not None:
        deduct(measurements.freeform, scores, rubric)
    warnings += _data_warnings(measurements, baselines) + model_warnings(measurements.models)
    points = round(sum(s.points for s in scores), 2)
    max_points = round(sum(s.max_points for s in scores), 2)
    graded = measurements.failure is None
    pass_mark = rubric.pass_mark_for(max_points)
    steps = next_steps(scores)
    if measurements.failure is not None:  # nothing else matters until the submission runs
        steps = [measurements.failure.hint] if measurements.failure.hint else []
    return Report(
        schema_version=SCHEMA_VERSION,
        created=created,
        status="graded" if graded else "ungradable",
        measurements=measurements,
        scores=scores,
        points=points,
        max_points=max_points,
        pass_mark=pass_mark,
        passed=graded and max_points > 0 and points >= pass_mark,
        rubric={"name": rubric.name, "digest": rubric.digest, "training": rubric.training.digest},
        next_steps=steps[:NEXT_STEPS],
        warnings=warnings,
    )


def score_model(
    model: ModelMeasurement, found: tuple[ReferenceStats, str] | None, rubric: Rubric, mode: str, quick: bool = False
) -> ModelScore:
    """Every check for one model. Accuracy and gap need a reference; the rest read the model alone."""
    checks: list[Check] = []
    reference = None
    stats = found[0] if found else None
    gap_band = rubric.gap.bands[model.problem]
    allowed_gap = gap_band.min_tolerance
    if found is not None:
        stats, framework = found
        band = rubric.accuracy.bands[model.problem]
        full_from = stats.test_accuracy.mean - max(
            rubric.accuracy.tolerance_sigmas * stats.test_accuracy.std, band.min_tolerance
        )
        reference = Reference(
            framework, mode, stats.test_accuracy.mean, stats.test_accuracy.std, stats.gap.mean, round(full_from, 6)
        )
        checks.append(accuracy_check(model, stats, rubric.accuracy.points, full_from, band))
        allowed_gap = stats.gap.mean + max(rubric.gap.tolerance_sigmas * stats.gap.std, gap_band.min_tolerance)
        if model.variant in rubric.gap.variants:
            checks.append(gap_check(model, stats, rubric.gap, gap_band))
    learns = learning_check(model, rubric.accuracy.bands[model.problem])  # with or without a reference
    if learns is not None:
        checks.append(learns)
    checks += structure_checks(model, rubric.structure)
    ablation_due = rubric.ablation.runs_for(model.problem, quick)
    checks += regularization_checks(model, rubric.regularization, rubric.ablation, stats, ablation_due)
    if model.failure is not None:
        checks = [_failed_model(check, model) for check in checks]
    onset = overfitting_onset(model, rubric.gap)
    what_ifs = what_if_results(model)
    return ModelScore(
        model.key,
        checks,
        reference,
        regularization=detect(model).found(),
        ablation=ablation_summary(model),
        overfitting_onset=onset,
        diagnosis=diagnose(model, checks, what_ifs, allowed_gap, onset, rubric.regularization),
        what_ifs=what_ifs,
    )


# What a model that was built but ran out of time keeps: how it is built and regularized needs no finished
# training. Its accuracy, gap and the ablation's verdict do.
NEEDS_TRAINING = ("accuracy", "gap", "learns", "regularization_effective")


def _failed_model(check: Check, model: ModelMeasurement) -> Check:
    """A model that did not train earns nothing but what its build shows (when it ran out of time); its
    first check carries the reason."""
    if check.max_points == 0:
        return check
    timed_out = model.failure is not None and model.failure.kind == "timeout" and model.description is not None
    if timed_out and check.id not in NEEDS_TRAINING:
        return check
    if check.id == "accuracy":
        return not_trained(check.id, check.title, check.max_points, model)
    return Check(check.id, check.title, 0.0, check.max_points, "fail", "not trained (see its accuracy check)")


def _not_graded(scored: ModelScore) -> ModelScore:
    """A submission that could not run earns nothing, out of the same total a graded one is out of: the rules
    that give a model without dropout full points have no model to look at."""
    checks = [
        Check(c.id, c.title, 0.0, c.max_points, "fail", "not graded: the submission could not be run")
        for c in scored.checks
    ]
    return dataclasses.replace(scored, checks=checks)


def _reference(model: ModelMeasurement, mode: str, baselines: Baselines | None) -> tuple[ReferenceStats, str] | None:
    if baselines is None:
        return None
    framework = framework_of(model)
    return baselines.reference(mode, framework, model.key)


def _data_warnings(measurements: Measurements, baselines: Baselines | None) -> list[str]:
    if baselines is None:
        return ["no reference baselines were found: accuracy is not scored (generate them with: grade baselines)"]
    expected = baselines.data.get(measurements.settings.mode, {})
    return [
        f"{problem}: the data (fingerprint {info.fingerprint}) differs from the references' "
        f"({expected[problem]}); accuracies may not be comparable"
        for problem, info in measurements.data.items()
        if problem in expected and expected[problem] != info.fingerprint
    ]
