"""What a batch backend is given and gives back: one job per submission to grade, one outcome each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.batch.run_one import Outcome
from grader.batch.submissions import Entry


@dataclass(frozen=True)
class GradingJob:
    """One entry to grade, and how. A backend that grades elsewhere ships the entry's files, the rubric
    and the baselines there, and passes their new places to ``grade_args``."""

    entry: Entry
    options: tuple[str, ...]  # grade options that name no file: --quick, --device, --problem, --seed, --threads
    rubric: Path | None
    baselines: Path | None
    timeout: float  # seconds for the whole grading of this entry
    gpu: bool  # it trains on a GPU

    def grade_args(self, rubric: Path | None = None, baselines: Path | None = None) -> list[str]:
        args = list(self.options)
        for option, path in (("--rubric", rubric or self.rubric), ("--baselines", baselines or self.baselines)):
            if path is not None:
                args += [option, str(path)]
        return args


OnResult = Callable[[GradingJob, Outcome], None]


class Backend(Protocol):
    """Grades jobs somewhere and hands each outcome to ``on_result`` in the calling thread, as it comes."""

    def run(self, jobs: Sequence[GradingJob], on_result: OnResult) -> None: ...
