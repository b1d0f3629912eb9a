"""Progress while the worker trains: a live status line on a terminal, one quiet line per model elsewhere."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.status import Status


class ProgressPrinter:
    """Turns the worker's events into progress on stderr; use as a context manager."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.status: Status | None = None

    def __enter__(self) -> ProgressPrinter:
        if self.live:
            self.status = self.console.status("starting the worker")
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        kind, task = event.get("event"), event.get("task")
        if kind == "phase":
            self._show(f"{task}: {event.get('phase')}" if task else "importing the submission")
        elif kind == "epoch":
            accuracy = event.get("val_accuracy")
            shown = f" · val acc {100 * accuracy:.1f}%" if isinstance(accuracy, float) else ""
            self._show(f"{task}: epoch {event.get('epoch')}/{event.get('epochs')}{shown}")
        elif kind == "result" and not self.live:
            self.console.print(f"{task}: done")

    def _show(self, text: str) -> None:
        if self.status is not None:
            self.status.update(text)
