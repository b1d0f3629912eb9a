"""The contract between the grader and its worker: what to train, where the data is, where to write.

The parent writes ``job.json`` and the data arrays; the worker writes one result per model into
``out_dir`` and reports progress as JSON lines on the events file descriptor. Nothing crosses the
boundary as a pickle, and the test labels never cross it at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.records import model_key

DATA_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test")  # no y_test: the worker never sees it
SPLITS = ("train", "val", "test")
ABLATION_SUFFIX = "+ablation"


@dataclass
class Task:
    """One model to build, train and predict with."""

    problem: str
    variant: str
    defaults: dict[str, Any]  # the rubric's hyperparameters for this problem
    max_epochs: int
    max_seconds: float
    quick: bool = False
    # Retrain with the model's regularization switched off, to see what it did (an ablation).
    ablation: bool = False

    @property
    def key(self) -> str:
        return model_key(self.problem, self.variant) + (ABLATION_SUFFIX if self.ablation else "")


@dataclass
class Job:
    submission_dir: str  # a copy of the submission, inside the worker's scratch directory
    entry: str  # the file to import, relative to submission_dir
    data_dir: str
    out_dir: str
    tasks: list[Task]
    seed: int
    device: str  # "auto" | "cpu" | "cuda"
    threads: int
    events_fd: int = -1
    lifeline_fd: int = -1  # closes when the grader dies: the worker must not outlive it
    n_classes: dict[str, int] = field(default_factory=dict)
    memory_bytes: int = 0  # the worker's data-segment limit; 0: none


def result_paths(out_dir: Path, key: str) -> tuple[Path, Path]:
    """Where the worker writes one model's measurement (JSON) and predictions (NumPy .npz)."""
    stem = key.replace("/", "-")
    return out_dir / f"{stem}.json", out_dir / f"{stem}.npz"


SUBMISSION_RESULT = "submission.json"  # a failure of the whole submission (it did not import)
ENVIRONMENT_RESULT = "environment.json"  # library versions the worker ran with
