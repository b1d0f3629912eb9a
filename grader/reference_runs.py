"""``grade baselines``: grade the reference solutions over several seeds through the student pipeline."""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from grader import __version__
from grader.baselines import REFERENCE_DIR, SCHEMA_VERSION, Baselines, ReferenceStats, SolutionInfo
from grader.errors import BaselineError, UngradableError
from grader.pipeline import GradeOptions, measure_submission
from grader.records import ModelMeasurement
from grader.rubric import Rubric

REFERENCE_SOLUTIONS = [REFERENCE_DIR / "torch_solution.py", REFERENCE_DIR / "keras_solution.py"]


def measure_baselines(
    solutions: list[Path],
    seeds: list[int],
    modes: list[str],
    rubric: Rubric,
    options: GradeOptions,
    log: Callable[[str], None] = lambda line: None,
) -> Baselines:
    rubric = dataclasses.replace(rubric, ablation=dataclasses.replace(rubric.ablation, enabled=False))  # not needed
    stats: dict[str, dict[str, dict[str, ReferenceStats]]] = {}
    fingerprints: dict[str, dict[str, str]] = {}
    infos: dict[str, SolutionInfo] = {}
    for mode in modes:
        stats[mode] = {}
        for solution in solutions:
            runs: dict[str, list[ModelMeasurement]] = defaultdict(list)
            for seed in seeds:
                log(f"{solution.name}: {mode} mode, seed {seed}")
                run_options = dataclasses.replace(options, quick=mode == "quick", seed=seed)
                measurements = measure_submission(solution, run_options, rubric)
                if measurements.failure is not None:  # a reference that cannot be graded, as a submission's
                    failure = measurements.failure
                    message, hint = f"{solution}: {failure.message}", "the reference solutions must run cleanly"
                    raise UngradableError(dataclasses.replace(failure, message=message, hint=hint))
                for model in measurements.models:
                    runs[model.key].append(model)
                fingerprints[mode] = {p: info.fingerprint for p, info in measurements.data.items()}
            framework = _framework(solution, runs)
            stats[mode][framework] = {key: ReferenceStats.of(models) for key, models in runs.items()}
            env = measurements.environment
            infos[framework] = SolutionInfo(framework, solution.name, env.libraries, env.python, env.platform)
    return Baselines(
        schema_version=SCHEMA_VERSION,
        grader_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        seeds=seeds,
        modes=stats,
        data=fingerprints,
        solutions=list(infos.values()),
    )


def _framework(solution: Path, runs: dict[str, list[ModelMeasurement]]) -> str:
    frameworks = {m.description.framework for models in runs.values() for m in models if m.description}
    if len(frameworks) != 1:
        raise BaselineError(f"{solution}: a reference solution must use one framework, found {sorted(frameworks)}")
    return frameworks.pop()
