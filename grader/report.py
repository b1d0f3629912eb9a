"""The report: one object holding the measurements and their scores, rendered many ways.

``measurements`` is kept whole so that a changed rubric re-scores a stored report without retraining.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from grader.errors import EXIT_BELOW_PASS_MARK, EXIT_PASSED, EXIT_UNGRADABLE
from grader.records import Accuracy, Measurements, TrainingRun, from_dict

SCHEMA_VERSION = 1


def created_now() -> str:
    """A report's ``created`` stamp for one made now: UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# "n/a": nothing to check, full points; "skipped": not measured, no points either way
CheckStatus = Literal["pass", "partial", "fail", "n/a", "skipped"]


@dataclass
class Check:
    """One thing that earns points, with what was measured and what to do about it."""

    id: str
    title: str
    points: float
    max_points: float
    status: CheckStatus
    message: str
    hint: str = ""

    @property
    def lost(self) -> float:
        return self.max_points - self.points


@dataclass
class Reference:
    """The reference numbers a model was scored against."""

    framework: str
    mode: str
    test_accuracy: float
    test_spread: float
    gap: float
    full_marks_from: float


@dataclass
class RunSummary:
    """One training run in a few numbers, for side-by-side comparisons."""

    train: float
    val: float
    gap: float
    epochs: int
    best_epoch: int | None  # where validation loss bottomed out

    @classmethod
    def of(cls, accuracy: Accuracy, run: TrainingRun) -> RunSummary:
        losses = [(r.val_loss, r.epoch) for r in run.history if r.val_loss is not None]
        return cls(accuracy.train, accuracy.val, accuracy.gap, run.epochs_run, min(losses)[1] if losses else None)


@dataclass
class AblationSummary:
    """The model against itself retrained with its regularization switched off."""

    switched_off: list[str]
    regularized: RunSummary
    ablated: RunSummary | None  # None when there was nothing to switch off or the run failed


@dataclass
class WhatIf:
    """The model retrained once with one of its mistakes undone mechanically, same seed and data: what the
    fix would buy, measured rather than promised."""

    fix: str  # the rubric's names for what it undid (grader.records.FIXES), joined by "+"
    changed: list[str]  # what was changed, in words: "Softmax after the last layer -> removed"
    test: float | None  # test accuracy with the fix, None when the retrained model failed
    failure: str = ""  # why it did not train


DiagnosisState = Literal[
    "fine", "underfitting", "overfitting", "over-regularized", "not learning", "diverging", "not trained"
]


@dataclass
class Diagnosis:
    """The state of one model in the lesson's words, what explains it and the evidence, read off what was
    measured (the curves, the ablation, the probes, the structure): the first thing a student should fix."""

    state: DiagnosisState
    cause: str  # what explains the state, "" when nothing specific does: "Dropout(0.9) drops 90% ..."
    evidence: str  # the measured numbers behind it
    advice: str  # what to change, "" for a model that is fine
    recovers: float  # rubric points the advice would win back at most: the lost points of `explains`
    explains: list[str] = field(default_factory=list)  # the ids of the lost checks the cause accounts for


DIAGNOSES: tuple[DiagnosisState, ...] = get_args(DiagnosisState)


@dataclass
class ModelScore:
    key: str
    checks: list[Check]
    reference: Reference | None = None
    regularization: list[str] = field(default_factory=list)  # what was found, in words
    ablation: AblationSummary | None = None
    overfitting_onset: int | None = None  # the epoch validation loss started rising, the run going on
    diagnosis: Diagnosis | None = None
    what_ifs: list[WhatIf] = field(default_factory=list)

    @property
    def points(self) -> float:
        return round(sum(check.points for check in self.checks), 2)

    @property
    def max_points(self) -> float:
        return round(sum(check.max_points for check in self.checks), 2)


@dataclass
class Report:
    schema_version: int
    created: str
    status: Literal["graded", "ungradable"]
    measurements: Measurements
    scores: list[ModelScore]
    points: float
    max_points: float
    pass_mark: float
    passed: bool
    rubric: dict[str, str]  # name, digest, training (the training part's digest: what rescore may not change)
    # Ranked by the points each would win back, a step for several models said once: the diagnoses' advice
    # first where it explains the lost points, then the hints of the checks nothing explained.
    next_steps: list[str] = field(default_factory=list)
    # About the data and the run, each model's training warnings included ("iris/multi, mnist/multi: ...").
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status != "graded":
            return EXIT_UNGRADABLE
        return EXIT_PASSED if self.passed else EXIT_BELOW_PASS_MARK

    def with_pass_mark(self, points: float) -> Report:
        """The same report judged against another pass mark, in points."""
        return dataclasses.replace(self, pass_mark=points, passed=self.status == "graded" and self.points >= points)

    def score(self, key: str) -> ModelScore | None:
        return next((s for s in self.scores if s.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
