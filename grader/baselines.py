"""Reference baselines: how the reference solutions score, over several seeds, per mode and framework.

Student scores are set relative to these numbers, with tolerance bands from their seed spread. The
committed ``reference/baselines.json`` is produced by ``grade baselines`` through the same pipeline
that grades students.
"""

from __future__ import annotations

import importlib.resources
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dacite

from grader.errors import BaselineError
from grader.records import ModelMeasurement, from_dict

SCHEMA_VERSION = 1
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"  # in a checkout of the repository
REPOSITORY_BASELINES = REFERENCE_DIR / "baselines.json"
PACKAGED_BASELINES = "reference_baselines.json"  # where the wheel carries a copy (see pyproject.toml)


@dataclass
class Stat:
    mean: float
    std: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        values = [float(v) for v in values]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(round(statistics.fmean(values), 6), round(spread, 6), [round(v, 6) for v in values])


@dataclass
class ReferenceStats:
    """One model of one reference solution, across seeds."""

    test_accuracy: Stat
    val_accuracy: Stat
    train_accuracy: Stat
    gap: Stat
    epochs: Stat
    seconds: Stat
    device: str

    @classmethod
    def of(cls, runs: Sequence[ModelMeasurement]) -> ReferenceStats:
        failed = [
            run.failure.message if run.failure else f"{run.key} was not measured"
            for run in runs
            if run.failure or not run.accuracy or not run.run
        ]
        if failed:
            raise BaselineError(
                f"a reference model failed to train: {failed[0]}",
                "the reference solutions must train cleanly; fix them before writing baselines",
            )
        accuracies = [run.accuracy for run in runs if run.accuracy]
        trainings = [run.run for run in runs if run.run]
        return cls(
            test_accuracy=Stat.of([a.test for a in accuracies]),
            val_accuracy=Stat.of([a.val for a in accuracies]),
            train_accuracy=Stat.of([a.train for a in accuracies]),
            gap=Stat.of([a.gap for a in accuracies]),
            epochs=Stat.of([t.epochs_run for t in trainings]),
            seconds=Stat.of([t.seconds for t in trainings]),
            device=trainings[0].device,
        )


@dataclass
class SolutionInfo:
    framework: str
    path: str
    libraries: dict[str, str]
    python: str
    platform: str


@dataclass
class Baselines:
    schema_version: int
    grader_version: str
    created: str
    seeds: list[int]
    # mode ("full" | "quick") -> framework -> "problem/variant" -> stats
    modes: dict[str, dict[str, dict[str, ReferenceStats]]]
    # mode -> problem -> data fingerprint the references were measured on
    data: dict[str, dict[str, str]]
    solutions: list[SolutionInfo] = field(default_factory=list)

    def reference(self, mode: str, framework: str, key: str) -> tuple[ReferenceStats, str] | None:
        """The reference for a model, preferring the student's own framework; also says whose it is."""
        frameworks = self.modes.get(mode, {})
        for candidate in (framework, *sorted(frameworks)):
            stats = frameworks.get(candidate, {}).get(key)
            if stats is not None:
                return stats, candidate
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())


def load_baselines(path: Path | None = None) -> Baselines | None:
    """Baselines from ``path``; by default the repository's file, else the copy packaged with the grader."""
    if path is None:
        if REPOSITORY_BASELINES.exists():
            path = REPOSITORY_BASELINES
        else:
            packaged = importlib.resources.files("grader") / PACKAGED_BASELINES
            if not packaged.is_file():
                return None
            return _parse(packaged.read_bytes(), PACKAGED_BASELINES)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise BaselineError(
            f"{path}: cannot read the baselines file ({error.strerror})", "regenerate it with: grade baselines"
        ) from None
    return _parse(content, str(path))


def _parse(content: bytes, where: str) -> Baselines:
    """The baselines in ``content``, or one line saying what is wrong with them: any JSON at all may
    arrive here, and scores must never be computed from NaN or from half a file."""

    def refuse(problem: str) -> BaselineError:
        one_line = problem.replace("\r", "\\r").replace("\n", "\\n")  # a key in the file may hold a line break
        return BaselineError(f"{where}: not a valid baselines file ({one_line})", "regenerate it with: grade baselines")

    try:
        data = json.loads(content.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as error:
        raise refuse(f"byte {error.start} is not UTF-8 text") from None
    except RecursionError:
        raise refuse("nested too deeply") from None
    except ValueError as error:
        raise refuse(str(error)) from None
    if not isinstance(data, dict):
        raise refuse(f"it holds {_JSON_KINDS.get(type(data), 'something')} instead of an object of baselines")
    try:
        baselines = from_dict(Baselines, data)
    except dacite.WrongTypeError as error:
        kind = _JSON_KINDS.get(type(error.value), "something")
        raise refuse(f'"{error.field_path}" holds {kind} of the wrong shape') from None
    except dacite.DaciteError as error:
        raise refuse(str(error)) from None
    if baselines.schema_version != SCHEMA_VERSION:
        raise BaselineError(
            f"{where}: baselines schema {baselines.schema_version}, this grader reads {SCHEMA_VERSION}",
            "regenerate it with: grade baselines",
        )
    return baselines


_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a baseline can be")
