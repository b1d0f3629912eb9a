"""The full report as JSON, with a schema version: for programs, and for ``grade rescore`` later."""

from __future__ import annotations

from grader.report import Report


def render_json(report: Report) -> str:
    return report.to_json() + "\n"
