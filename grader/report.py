"""The report: one object holding the measurements and their scores, rendered many ways.

``measurements`` is kept whole so that a changed rubric re-scores a stored report without retraining.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from grader.measure import Measurements
from grader.records import Accuracy, TrainingRun, from_dict

SCHEMA_VERSION = 1
EXIT_PASSED, EXIT_BELOW_PASS_MARK, EXIT_USAGE, EXIT_UNGRADABLE = 0, 1, 2, 3


@dataclass
class Check:
    """One thing that earns points, with what was measured and what to do about it."""

    id: str
    title: str
    points: float
    max_points: float
    status: str  # "pass" | "partial" | "fail" | "n/a" (nothing to check: full points) | "skipped" (not measured)
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
class ModelScore:
    key: str
    checks: list[Check]
    reference: Reference | None = None
    regularization: list[str] = field(default_factory=list)  # what was found, in words
    ablation: AblationSummary | None = None
    overfitting_onset: int | None = None  # the epoch validation loss started rising, the run going on

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
    status: str  # "graded" | "ungradable"
    measurements: Measurements
    scores: list[ModelScore]
    points: float
    max_points: float
    pass_mark: float
    passed: bool
    rubric: dict[str, str]  # name, digest
    next_steps: list[str] = field(default_factory=list)
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
