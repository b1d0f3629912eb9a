"""The feedback page as Markdown: ``view.report_view`` says what a feedback page shows, in which words;
this module only lays it out, so the Markdown and the HTML page always show the same things. Every piece
of report text goes through ``md_text`` (or into a code block) on its way out: messages quote the
student's code.
"""

from __future__ import annotations

import re

from grader.render.parts import DiagnosisView
from grader.render.plots import learning_curves, png_data_uri
from grader.render.text import clean, md_text
from grader.render.view import CheckLine, FailureView, ModelView, UnreportedView, report_view
from grader.report import Report


def render_markdown(report: Report, *, plots: bool = True, images: dict[str, bytes] | None = None) -> str:
    """The feedback page as Markdown; ``plots=False`` leaves the images out (for diffs and golden files)."""
    content = report_view(report)
    if images is None:  # drawn here unless the caller drew them once for several pages
        images = learning_curves(report) if plots else {}
    parts = [f"# {md_text(content.title)}", f"**{md_text(content.verdict)}**", md_text(content.about)]
    parts += ["\n".join(f"> {md_text(line)}" for line in content.quick)] if content.quick else []
    if content.freeform:
        parts += ["## What the run built", md_text(content.freeform.intro)]
        parts += [md_table(content.freeform.models.header, _md_rows(content.freeform.models.rows))]
        parts += [md_list(content.freeform.problems)] if content.freeform.problems else []
    if content.submission_failure:
        parts += _md_failure(content.submission_failure)
    if content.next_steps:
        parts += ["## Next steps", "\n".join(f"{n}. {md_text(step)}" for n, step in enumerate(content.next_steps, 1))]
    if content.all_warnings:
        parts += ["## Warnings", md_list(content.all_warnings)]
    if content.summary:
        parts += ["## Models", md_table(content.summary.header, _md_rows(content.summary.rows))]
    for model in content.models:
        parts += _md_model(model, images.get(model.key))
    if content.log_tail:
        parts += ["## Last lines the submission printed", _code(content.log_tail)]
    parts += [
        "## Data",
        md_table(content.data.header, _md_rows(content.data.rows)) if content.data else "No data recorded.",
    ]
    parts += ["## Environment", _md_facts(content.environment)]
    return "\n\n".join(parts) + "\n"


def render_unreported_markdown(content: UnreportedView) -> str:
    """The page of a student whose grading left no report, laid out like the report pages."""
    log = _code(content.log_tail) if content.log_tail else "Nothing was logged."
    parts = [f"# {md_text(content.title)}", f"**{md_text(content.verdict)}**", _md_facts(content.facts)]
    return "\n\n".join([*parts, "## Last lines of the grader's log", log]) + "\n"


def _md_model(model: ModelView, png: bytes | None) -> list[str]:
    parts = [f"## {md_text(model.key)} · {md_text(model.points)}"]
    if model.facts:
        parts.append(_md_facts(model.facts))
    if png is not None:
        parts.append(f"![learning curves for {md_text(model.key)}]({png_data_uri(png)})")
    if model.failure:
        parts += _md_failure(model.failure)
    if model.diagnosis:
        parts += _md_diagnosis(model.diagnosis)
    if model.regularization:
        parts.append(f"**Regularization found:** {md_text(model.regularization)}")
    if model.ablation_note:
        parts.append(md_text(model.ablation_note))
    if model.ablation:
        parts.append(md_table(model.ablation.header, _md_rows(model.ablation.rows)))
    parts.append(md_table(["Check", "Points", "Status", "What was measured"], [_md_check(c) for c in model.checks]))
    return parts


def _md_diagnosis(diagnosis: DiagnosisView) -> list[str]:
    parts = [f"**Diagnosis:** {md_text(diagnosis.headline)}"]
    parts += [md_list(diagnosis.lines())] if diagnosis.lines() else []
    return parts + ([f"→ {md_text(diagnosis.advice)}"] if diagnosis.advice else [])


def _md_check(check: CheckLine) -> list[str]:
    """A check's row; one with nothing to check in italics, so the ones that matter stand out."""
    measured = md_text(check.message) + (f" → {md_text(check.hint)}" if check.hint else "")
    cells = [md_text(check.title), check.points, md_text(check.words), measured]
    return [f"_{cell}_" if check.quiet and cell else cell for cell in cells]


def _md_failure(failure: FailureView) -> list[str]:
    lines = [f"**{md_text(failure.headline)}:** {md_text(failure.message)}"]
    if failure.location:
        lines.append(f"At {md_text(failure.location)}")
    if failure.hint:
        lines.append(f"→ {md_text(failure.hint)}")
    return lines + ([_code(failure.traceback.splitlines())] if failure.traceback else [])


def _md_facts(facts: list[tuple[str, str]]) -> str:
    return "\n".join(f"- **{md_text(label)}:** {md_text(value)}" for label, value in facts)


def md_list(items: list[str]) -> str:
    return "\n".join(f"- {md_text(item)}" for item in items)


def _md_rows(rows: list[list[str]]) -> list[list[str]]:
    return [[md_text(cell) for cell in row] for row in rows]


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub table of cells already in Markdown."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cell or " " for cell in line) + " |" for line in lines)


def _code(lines: list[str]) -> str:
    """A fenced block whose fence no line of the text can close."""
    lines = [clean(line) for line in lines]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])
