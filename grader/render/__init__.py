"""Render stage: the one report object, written for each place a grade is read.

Every format is a function ``Report -> str`` in a module of its own (those a person reads say what the
report's one view, ``view.report_view``, says) and one line of ``FORMATS`` below: that line is all
``--format`` and ``--out`` know of it. A module is imported only when its format is asked for
(matplotlib, for one, is not loaded to print a terminal table).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from grader.report import Report


@dataclass(frozen=True)
class Format:
    name: str
    file_name: str | None  # its file under --out; None for a format that only goes to standard output
    function: str  # "module:function", rendering a Report as text
    what: str  # for --help

    def render(self, report: Report) -> str:
        module, function = self.function.split(":")
        renderer: Callable[[Report], str] = getattr(importlib.import_module(module), function)
        return renderer(report)


def file_of(name: str) -> str:
    """The file a format is written to under ``--out``; a format that only goes to standard output has none."""
    file_name = FORMATS[name].file_name
    if file_name is None:
        raise ValueError(f"the {name} format is not written to a file")
    return file_name


FORMATS = {
    f.name: f
    for f in (
        Format("terminal", "report.txt", "grader.render.terminal:render_text", "the summary a person reads"),
        Format("json", "report.json", "grader.render.json_report:render_json", "everything, with a schema version"),
        Format("markdown", "report.md", "grader.render.markdown:render_markdown", "a feedback page with plots"),
        Format("html", "report.html", "grader.render.html:render_html", "a self-contained feedback page"),
        Format("gradescope", "results.json", "grader.render.gradescope:render_gradescope", "Gradescope's results"),
        Format("junit", "junit.xml", "grader.render.junit:render_junit", "one testcase per check"),
        Format(
            "github",
            None,  # the runner reads annotations from the log, never from a file
            "grader.render.github:render_annotations",
            "GitHub Actions annotations (and a job summary in $GITHUB_STEP_SUMMARY)",
        ),
    )
}
