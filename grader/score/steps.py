"""Next steps and warnings for the whole report: each said once, for every model it concerns.

A student reads the first step first, so steps are ranked by the rubric points they would win back, and a
step that several models share (the same double softmax in all four) is one step naming them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.records import ModelMeasurement
from grader.report import ModelScore


@dataclass
class _Step:
    advice: str
    lead: str  # what is wrong, in full (state, cause and evidence) for the first model it was seen in
    cause: str  # what is wrong, in words that fit every model sharing the step
    keys: list[str] = field(default_factory=list)
    points: float = 0.0


def next_steps(scores: list[ModelScore]) -> list[str]:
    """Every lost point's advice, a model's diagnosis first where it explains the loss."""
    steps: dict[str, _Step] = {}

    def add(advice: str, lead: str, cause: str, key: str, lost: float) -> None:
        step = steps.setdefault(advice, _Step(advice, lead, cause))
        step.keys.append(key)
        step.points += lost

    for score in scores:
        diagnosis, explained = score.diagnosis, set()
        if diagnosis is not None and diagnosis.advice and diagnosis.recovers > 0:
            cause = f": {diagnosis.cause}" if diagnosis.cause else ""
            evidence = f" ({diagnosis.evidence})" if diagnosis.evidence else ""
            lead = f"{diagnosis.state}{cause}{evidence}"
            add(diagnosis.advice, lead, diagnosis.cause or diagnosis.state, score.key, diagnosis.recovers)
            explained = set(diagnosis.explains)
        for check in score.checks:
            if check.lost > 0 and check.hint and check.id not in explained:
                lead = f"{check.title.lower()}: {check.message}"
                add(check.hint, lead, lead, score.key, check.lost)
    ranked = sorted(steps.values(), key=lambda step: -step.points)
    return [_words(step) for step in ranked]


def _words(step: _Step) -> str:
    """One model's step in full; a shared one by its cause alone, each model's evidence being its own."""
    keys = list(dict.fromkeys(step.keys))
    lead = step.lead if len(keys) == 1 else step.cause
    worth = round(step.points, 2)
    return f"{', '.join(keys)}: {lead}. Next: {step.advice} (up to {worth:g} point{'' if worth == 1 else 's'})"


def model_warnings(models: list[ModelMeasurement]) -> list[str]:
    """The submission's warnings, each once, then the models' training warnings, each once with the models it
    was raised for."""
    notes = list(dict.fromkeys(note for model in models for note in (model.run.notes if model.run else [])))
    seen: dict[str, list[str]] = {}
    for model in models:
        for warning in model.run.warnings if model.run else []:
            seen.setdefault(warning, []).append(model.key)
    return notes + [f"{', '.join(keys)}: {warning}" for warning, keys in seen.items()]
