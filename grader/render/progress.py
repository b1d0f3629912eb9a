"""Progress while the worker trains: a live bar per model on a terminal, one quiet line per model elsewhere
(CI logs, files), so a log stays readable and a person at a terminal sees how long is left.

What an event says comes from the worker's pipe, which the student's code can write to too, and a batch's
student ids are the names of folders students chose: every piece is shown as plain text (``terminal_text``,
``Text``, columns that read no markup) that a CI runner cannot read as a workflow command (``workflow_inert``).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from grader.figures import percent
from grader.render.text import terminal_text, workflow_inert

STARTING = "grader"  # the line shown from the first second, until the worker's first event about a model
PHASE_WORDS = {"build": "building the model and loading data", "train": "training", "predict": "predicting"}


class ProgressPrinter:
    """Turns the worker's events into progress on stderr; use as a context manager.

    A model is shown from its first event: its phase, epochs done of those planned (from ``epoch`` events,
    or ``progress`` events of a student's own loop, in fractional epochs), elapsed time and its time budget
    where the event carries one (``budget_s``). A model whose result comes before it reached ``predict``
    failed, and says so. Before any model's event, a line says the grader is starting."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.phases: dict[str, str] = {}  # the last phase each model reached
        self.budgets: dict[str, float] = {}

    def __enter__(self) -> ProgressPrinter:
        if self.live:
            self.bar = Progress(
                TextColumn("{task.description:<20}", markup=False),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}", markup=False),
                TimeElapsedColumn(),
                TextColumn("{task.fields[budget]}", markup=False),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.tasks[STARTING] = self.bar.add_task(STARTING, total=None, status="starting the worker", budget="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        kind, task = event.get("event"), str(event.get("task"))
        if isinstance(event.get("budget_s"), (int, float)):
            self.budgets[task] = float(event["budget_s"])
        if kind == "phase" and event.get("task"):
            self.started.setdefault(task, time.monotonic())
            phase = str(event.get("phase"))
            self.phases[task] = phase
            self._update(task, status=PHASE_WORDS.get(phase, phase))
        elif kind == "epoch":
            self.last[task] = event
            accuracy = event.get("val_accuracy")
            status = f"val acc {percent(accuracy)}" if isinstance(accuracy, (int, float)) else "training"
            self._update(task, status=status, completed=event.get("epoch"), total=event.get("epochs"))
        elif kind == "progress":  # a student's own loop: epochs done, maybe a fraction
            self.last[task] = event
            done = event.get("epochs")
            status = f"epoch {done:.1f}" if isinstance(done, (int, float)) else "training"
            self._update(task, status=status, completed=done, total=event.get("planned"))
        elif kind == "result":
            self._finish(task, event)
        elif kind == "stage" and self.bar is not None and STARTING in self.tasks:  # the grader's own, before any model
            self.bar.update(self.tasks[STARTING], status=str(event.get("status", "")))

    def _update(self, task: str, *, status: str, completed: Any = None, total: Any = None) -> None:
        if self.bar is None:
            return
        if STARTING in self.tasks:  # the worker is up: a model's own line takes over
            self.bar.remove_task(self.tasks.pop(STARTING))
        if task not in self.tasks:
            self.tasks[task] = self.bar.add_task(_shown(_label(task)), total=None, status="", budget="")
        extra: dict[str, Any] = {}
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            extra["total"] = total
        if isinstance(completed, (int, float)) and not isinstance(completed, bool):
            extra["completed"] = completed
        budget = f"of {self.budgets[task]:.0f} s" if task in self.budgets else ""
        self.bar.update(self.tasks[task], status=_shown(status), budget=budget, **extra)

    def _finish(self, task: str, event: dict[str, Any]) -> None:
        seconds = time.monotonic() - self.started.get(task, time.monotonic())
        last = self.last.get(task, {})
        accuracy = last.get("val_accuracy")
        shown = f", val acc {percent(accuracy)}" if isinstance(accuracy, (int, float)) else ""
        phase = self.phases.get(task)
        if "epoch" in last:
            outcome = f"{last['epoch']} epochs"
        elif isinstance(last.get("epochs"), (int, float)):  # a student's own loop said how far it got
            outcome = f"{last['epochs']:g} epochs"
        else:
            outcome = "done"
        retrain = next((suffix for suffix in NOTHING_TO_CHANGE if task.endswith(suffix)), None)
        if retrain and phase in (None, "build") and not event.get("failure"):
            outcome = NOTHING_TO_CHANGE[retrain]  # it stopped after building: it would be the same model again
        elif event.get("failure") or phase in ("build", "train"):  # a result before predictions: it failed
            outcome = "failed" + (f" while {PHASE_WORDS.get(phase, phase)}" if phase else "")
        line = f"{_label(task)}: {outcome}{shown} ({seconds:.1f} s)"
        if self.bar is not None and task in self.tasks:
            self.bar.remove_task(self.tasks.pop(task))
        _print(self.console, line)


# The retrains the grader adds to a model, by the suffix of their task, and what a retrain that stopped after
# building means: there was nothing to change.
NOTHING_TO_CHANGE = {"+ablation": "no regularization to switch off", "+what-if": "no mistake to undo"}


def _label(task: str) -> str:
    """ "mnist/multi+ablation" as a student reads it: "mnist/multi (ablation)"."""
    for suffix in NOTHING_TO_CHANGE:
        if task.endswith(suffix):
            return f"{task.removesuffix(suffix)} ({suffix[1:]})"
    return task


class BatchProgress:
    """A batch's progress on stderr: a bar with done/total, failures and ETA, and a live count of statuses
    on a terminal; one line per student elsewhere."""

    def __init__(self, console: Console, total: int, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.total = total
        self.counts: dict[str, int] = {}
        self.bar: Progress | None = None
        if enabled and console.is_terminal:
            self.bar = Progress(
                TextColumn("grading"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failures]} failed"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[statuses]}", markup=False),
                console=console,
                transient=True,
            )
        self.task = self.bar.add_task("batch", total=total, failures=0, statuses="") if self.bar else None

    def __enter__(self) -> BatchProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, student_id: str, status: str, detail: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if not self.enabled:
            return
        if self.bar is not None and self.task is not None:
            failures = sum(n for s, n in self.counts.items() if s != "graded")
            statuses = _shown(" · ".join(f"{s} {n}" for s, n in sorted(self.counts.items())))
            self.bar.update(self.task, advance=1, failures=failures, statuses=statuses)
        done = sum(self.counts.values())
        _print(self.console, f"[{done}/{self.total}] {student_id}: {status}" + (f" ({detail})" if detail else ""))


def _shown(text: str) -> str:
    """What a progress line shows of text it was sent: one line, nothing a terminal or a CI runner acts on."""
    return workflow_inert(terminal_text(text, one_line=True))


def _print(console: Console, line: str) -> None:
    console.print(Text(_shown(line)), highlight=False)
