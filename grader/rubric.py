"""The rubric: budgets, seeds and scoring rules, from a TOML file an instructor can override in part.

The shipped ``default_rubric.toml`` is the schema: an override may only use keys it has, with values
of the same type, so a typo is an error that names the key rather than a silent no-op.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dacite

from grader.errors import RubricError
from grader.records import FIXES, Fixes, from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_RUBRIC = Path(__file__).with_name("default_rubric.toml")
POINTS = "_points"  # [structure]'s keys: <check>_points


@dataclass(frozen=True)
class Limits:
    import_seconds: float
    build_seconds: float
    grace_seconds: float
    memory_gib: float
    run_all_seconds: float


@dataclass(frozen=True)
class Defaults:
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    weight_decay: float
    early_stopping: bool


@dataclass(frozen=True)
class ProblemRules:
    max_epochs: int
    quick_max_epochs: int
    seconds_per_model: float
    defaults: Defaults

    def epoch_budget(self, quick: bool) -> int:
        return self.quick_max_epochs if quick else self.max_epochs


@dataclass(frozen=True)
class AccuracyBand:
    min_tolerance: float
    zero_below: float
    untrained_max_above_chance: float  # more than this above chance before training: it did not learn


@dataclass(frozen=True)
class AccuracyRule:
    points: float
    tolerance_sigmas: float
    bands: dict[str, AccuracyBand]


@dataclass(frozen=True)
class GapBand:
    min_tolerance: float
    zero_above: float
    rising_margin: float


@dataclass(frozen=True)
class GapRule:
    points: float
    tolerance_sigmas: float
    variants: list[str]
    rising_epochs: int
    rising_penalty: float
    bands: dict[str, GapBand]


@dataclass(frozen=True)
class StructureRule:
    """The points of each structure check, by its name: [structure]'s ``layers_points = 2.0`` is the check
    "layers" (grader.score.structure), worth 2. The checks are the scorer's, which the rubric does not import:
    the scorer refuses a name it has no check for, and a check with no points, when it scores."""

    points: dict[str, float]

    @classmethod
    def of(cls, table: dict[str, Any], path: Path) -> StructureRule:
        """From [structure] as the TOML writes it."""
        for key in table:
            if not key.endswith(POINTS):
                raise RubricError(
                    f"{path}: [structure] {key} is not a check's points",
                    f"each key of [structure] is <check>{POINTS}, the points of the structure check <check>",
                )
        return cls({key.removesuffix(POINTS): worth for key, worth in table.items()})

    def table(self) -> dict[str, float]:
        """As [structure] writes it."""
        return {f"{name}{POINTS}": worth for name, worth in self.points.items()}


@dataclass(frozen=True)
class RegularizationRule:
    required: list[str]
    used_points: float
    effective_points: float
    rule_points: float
    dropout_rate: list[float]
    weight_decay: list[float]
    kernel_regularizer: list[float]
    early_stopping_monitors: list[str]


@dataclass(frozen=True)
class AblationRule:
    enabled: bool
    quick_problems: list[str]
    noise_sigmas: float
    min_noise: dict[str, float]

    def runs_for(self, problem: str, quick: bool) -> bool:
        return self.enabled and (not quick or problem in self.quick_problems)


@dataclass(frozen=True)
class WhatIfRule:
    fixes: list[str]  # of grader.records.FIXES: the mistakes a what-if may undo
    problems: list[str]
    quick_problems: list[str]
    seconds_per_run: float  # 0: the model's own seconds_per_model

    def runs_for(self, problem: str, quick: bool) -> bool:
        return bool(self.fixes) and problem in (self.quick_problems if quick else self.problems)


@dataclass(frozen=True)
class FreeformRule:
    dry_run_seconds: float
    cell_seconds: float
    train_seconds: float
    failed_cell_points: float
    failed_cells_counted: int


@dataclass(frozen=True)
class Training:
    """The rubric's training part: what decides what training measures (the seed, the limits, each problem's
    epoch budgets and defaults, the ablation and what-if runs, the free-form run's budgets). Measurements
    hold only under the training part they were made with: the measurements cache keys on its digest, and
    ``grade regrade`` refuses a rubric whose training part is another. The rest of the rubric only scores."""

    seed: int
    limits: Limits
    problems: dict[str, ProblemRules]
    ablation: AblationRule
    what_if: WhatIfRule
    regularization: dict[str, float]  # each regularization rule's upper bound: what a what-if fixes past
    freeform: dict[str, float]  # the free-form run's budgets, by their [freeform] key

    def what_if_fixes(self) -> Fixes:
        """What a what-if undoes: past the upper bounds of the regularization rules, no further."""
        return Fixes(list(self.what_if.fixes), **self.regularization)

    def to_dict(self) -> dict[str, Any]:
        """As JSON has it (lists, not tuples): what a gradebook stores, and what ``changed_from`` compares."""
        return dict(json.loads(json.dumps(asdict(self))))

    @functools.cached_property
    def digest(self) -> str:
        """Identifies the training part: another epoch budget is another digest, other points are not."""
        return _short_digest(asdict(self))

    def changed_from(self, before: dict[str, Any]) -> list[str]:
        """The keys (``problems.mnist.max_epochs``) whose values differ from ``before`` (a ``to_dict``)."""
        old, new = _leaves(before), _leaves(self.to_dict())
        return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """A nested dict as its leaves, each under its dotted path."""
    if not isinstance(value, dict):
        return {path: value}
    leaves: dict[str, Any] = {}
    for key, item in value.items():
        leaves |= _leaves(item, f"{path}.{key}" if path else key)
    return leaves


@dataclass(frozen=True)
class Rubric:
    name: str
    pass_mark: float  # percent of the points available
    seed: int
    limits: Limits
    problems: dict[str, ProblemRules]
    accuracy: AccuracyRule
    gap: GapRule
    structure: StructureRule
    regularization: RegularizationRule
    ablation: AblationRule
    what_if: WhatIfRule
    freeform: FreeformRule
    mistakes: dict[str, float]  # mistake id (grader.mistakes.MISTAKES) -> points it costs

    def pass_mark_for(self, max_points: float) -> float:
        """The points needed to pass a run that could earn ``max_points``."""
        return round(self.pass_mark * max_points / 100, 2)

    @functools.cached_property
    def training(self) -> Training:
        """The part of the rubric that changes what training measures (the rest only scores)."""
        rule, freeform = self.regularization, self.freeform
        return Training(
            seed=self.seed,
            limits=self.limits,
            problems=self.problems,
            ablation=self.ablation,
            what_if=self.what_if,
            regularization={name: getattr(rule, name)[1] for name in _INTERVALS["regularization"]},
            freeform={name: getattr(freeform, name) for name in ("dry_run_seconds", "cell_seconds", "train_seconds")},
        )

    def to_dict(self) -> dict[str, Any]:
        """As the TOML names it: what ``grade rubric`` shows, and what the digest is over (so the same file
        keeps its digest whatever shape the records take)."""
        return asdict(self) | {"structure": self.structure.table()}

    @functools.cached_property
    def digest(self) -> str:
        """Identifies the rubric's content: a changed rubric is a different digest."""
        return _short_digest(self.to_dict())


def _short_digest(value: Any) -> str:
    """16 hex digits of the sha256 of ``value`` as canonical JSON: a rubric's (or its training part's) name."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def load_rubric(path: Path | None = None) -> Rubric:
    """The default rubric, with the file at ``path`` (if any) laid over it."""
    defaults = settings = _read_toml(DEFAULT_RUBRIC)
    if path is not None:
        override = _read_toml(path)
        _check_keys(override, settings, path, prefix="")
        settings = _merge(settings, override)
    _check_values(settings, defaults, path or DEFAULT_RUBRIC, section="")
    _check_what_if(settings, defaults, path or DEFAULT_RUBRIC)
    structure = StructureRule.of(settings["structure"], DEFAULT_RUBRIC)  # its keys are the default rubric's
    try:
        return from_dict(Rubric, settings | {"structure": asdict(structure)})
    except dacite.DaciteError as error:  # the schema check above should catch this first
        raise RubricError(f"{path or DEFAULT_RUBRIC}: {error}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        settings: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return settings
    except FileNotFoundError:
        raise RubricError(f"{path}: no such rubric file", "check the path given to --rubric") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RubricError(f"{path}: not valid TOML: {error}", "see https://toml.io for the syntax") from None


def _check_keys(override: dict[str, Any], schema: dict[str, Any], path: Path, prefix: str) -> None:
    """Every key in an override must exist in the default rubric, with a value of the same kind."""
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            suggestion = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise RubricError(
                f"{path}: unknown key {name!r}{suggestion}",
                "the keys are those of the default rubric: grade rubric",
            )
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise RubricError(f"{path}: {name!r} must be a table ([{name}]), got {value!r}")
            _check_keys(value, expected, path, prefix=f"{name}.")
        elif not _same_kind(value, expected):
            raise RubricError(
                f"{path}: {name!r} must be {_kind(expected)}, got {value!r}",
                f"the default is {name} = {json.dumps(expected)}",
            )


@dataclass(frozen=True)
class _Range:
    """The numbers a rubric value may be: finite, from ``low`` (excluded when ``open_low``) to ``high``."""

    what: str  # as an error says it: "must be a positive number"
    low: float = 0.0
    high: float = math.inf
    open_low: bool = False

    def allows(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    def requirement(self, value: float) -> str:
        return f"at most {self.high:g}" if math.isfinite(value) and value > self.high else self.what


MAX_SECONDS = 7 * 24 * 3600.0  # a week: longer timeouts overflow the clocks they are waited on with
_POSITIVE_SECONDS = _Range("a positive number", high=MAX_SECONDS, open_low=True)
_POSITIVE = _Range("a positive number", open_low=True)
_NOT_NEGATIVE = _Range("0 or a positive number")
# Every number of the rubric is finite and 0 or more; these keys (in any table) are held to more.
_RANGES = {
    "import_seconds": _POSITIVE_SECONDS,
    "build_seconds": _POSITIVE_SECONDS,
    "run_all_seconds": _POSITIVE_SECONDS,
    "dry_run_seconds": _POSITIVE_SECONDS,
    "cell_seconds": _POSITIVE_SECONDS,
    "train_seconds": _POSITIVE_SECONDS,
    "seconds_per_model": _POSITIVE_SECONDS,
    "seconds_per_run": _Range("0 or a positive number", high=MAX_SECONDS),
    "grace_seconds": _Range("0 or a positive number", high=MAX_SECONDS),
    "memory_gib": _Range("a positive number", high=2.0**20, open_low=True),  # 0 would mean no limit at all
    "max_epochs": _POSITIVE,
    "quick_max_epochs": _POSITIVE,
    "epochs": _POSITIVE,
    "batch_size": _POSITIVE,
    "learning_rate": _POSITIVE,
    "rising_penalty": _Range("a fraction from 0 to 1", high=1.0),
    "dropout_rate": _Range("a fraction from 0 to 1", high=1.0),
    "untrained_max_above_chance": _Range("a fraction from 0 to 1", high=1.0),  # 1 switches the check off
    "seed": _Range("a whole number from 0 to 4294967295", high=2**32 - 1),  # what NumPy seeds with
}
_INTERVALS = {"regularization": ("dropout_rate", "weight_decay", "kernel_regularizer")}  # [low, high]


def _check_values(settings: dict[str, Any], defaults: dict[str, Any], path: Path, section: str) -> None:
    """Refuse numbers that make no sense where they are (NaN, infinities, negative budgets, zero memory),
    naming the table and key: grading with them would crash, or silently grade nothing."""
    for key, value in settings.items():
        if isinstance(value, dict):
            _check_values(value, defaults.get(key, {}), path, f"{section}.{key}" if section else key)
            continue
        name = f"[{section}] {key}" if section else key
        default = f"the default is {key} = {json.dumps(defaults.get(key))}"
        allowed = _RANGES.get(key, _NOT_NEGATIVE)
        numbers = [item for item in (value if isinstance(value, list) else [value]) if _is_number(item)]
        for number in numbers:
            if not allowed.allows(number):
                raise RubricError(f"{path}: {name} must be {allowed.requirement(number)}, got {number!r}", default)
        if key in _INTERVALS.get(section, ()) and (len(value) != 2 or len(numbers) != 2 or value[0] > value[1]):
            raise RubricError(f"{path}: {name} must be [low, high], got {value!r}", default)


def _check_what_if(settings: dict[str, Any], defaults: dict[str, Any], path: Path) -> None:
    """The what-ifs name fixes the grader knows and problems the rubric has: a typo would silently run none."""
    what_if = settings["what_if"]
    for key, known in (("fixes", FIXES), ("problems", settings["problems"]), ("quick_problems", settings["problems"])):
        for name in what_if[key]:
            if name not in known:
                raise RubricError(
                    f"{path}: [what_if] {key} has {name!r}, which is not one of {', '.join(known)}",
                    f"the default is {key} = {json.dumps(defaults['what_if'][key])}",
                )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "a string"


def _same_kind(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(expected, bool)
    if isinstance(expected, float):
        return isinstance(value, int | float)
    return isinstance(value, type(expected))


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) else value
    return merged
