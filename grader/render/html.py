"""The feedback page as one self-contained HTML file: styles inline, plots embedded as data URIs.

It shows what ``view.report_view`` says a feedback page shows; this module only lays it out. No scripts,
no fonts, no external assets, so the file opens the same from a CI artifact, an e-mail or a disk. Every
HTML page the grader writes (the class summary and the similar pairs too) is ``document`` around its body,
built of ``table``, ``facts`` and ``figure``. Every piece of report text passes through ``html_text``:
messages quote the student's code.
"""

from __future__ import annotations

from collections.abc import Collection

from grader.render.parts import DiagnosisView
from grader.render.plots import learning_curves, png_data_uri
from grader.render.text import html_text
from grader.render.view import CheckLine, FailureView, ModelView, Table, UnreportedView, report_view
from grader.report import Report

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 0 auto;
       max-width: 60rem; padding: 1.5rem; }
h1 { font-size: 1.4rem; margin-bottom: .25rem; word-break: break-all; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.verdict { font-size: 1.2rem; font-weight: 600; padding: .5rem .8rem; border-radius: 6px; }
.about { color: #57606a; font-size: .85rem; }
.pass { background: #dafbe1; } .partial { background: #fff8c5; } .fail, .ungraded { background: #ffebe9; }
.quick { border-left: 4px solid #bf8700; background: #fff8c5; padding: .4rem .8rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr.quiet td { color: #6e7781; font-style: italic; }
td.status-pass { color: #1a7f37; } td.status-partial { color: #9a6700; } td.status-fail { color: #cf222e; }
.hint { color: #0550ae; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
figure { margin: .8rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: .85rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; }
.failure { border-left: 4px solid #cf222e; padding: .2rem .8rem; background: #fff5f5; }
.diagnosis { border-left: 4px solid #0550ae; padding: .2rem .8rem; background: #f6f8fa; }
"""


def document(title: str, body: list[str], style: str = "") -> str:
    """A whole self-contained page: every HTML page the grader writes is this skeleton around its body,
    with the pages' one stylesheet and a page's own additions (``style``). ``title`` is plain text."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_text(title)}</title>\n<style>{STYLE}{style}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def render_html(report: Report, *, plots: bool = True, images: dict[str, bytes] | None = None) -> str:
    """The feedback page; ``plots=False`` leaves the images out (for golden files)."""
    content = report_view(report)
    if images is None:  # drawn here unless the caller drew them once for several pages
        images = learning_curves(report) if plots else {}
    body = [
        f"<h1>{html_text(content.title)}</h1>",
        f'<p class="verdict {content.outcome}">{html_text(content.verdict)}</p>',
        f'<p class="about">{html_text(content.about)}</p>',
    ]
    if content.quick:
        body.append('<div class="quick">' + "<br>".join(html_text(line) for line in content.quick) + "</div>")
    if content.freeform:
        body += ["<h2>What the run built</h2>", f"<p>{html_text(content.freeform.intro)}</p>"]
        body.append(table(content.freeform.models.header, content.freeform.models.rows))
        if content.freeform.problems:
            body.append(_list("ul", content.freeform.problems))
    if content.submission_failure:
        body.append(_failure(content.submission_failure))
    if content.next_steps:
        body += ["<h2>Next steps</h2>", _list("ol", content.next_steps)]
    if content.all_warnings:
        body += ["<h2>Warnings</h2>", _list("ul", content.all_warnings)]
    if content.summary:
        body += ["<h2>Models</h2>", table(content.summary.header, content.summary.rows, links=_anchors(content.models))]
    body += [_model(model, images.get(model.key)) for model in content.models]
    if content.log_tail:
        body += ["<h2>Last lines the submission printed</h2>", _pre("\n".join(content.log_tail))]
    body += ["<h2>Data</h2>", _table(content.data) if content.data else "<p>No data recorded.</p>"]
    body += ["<h2>Environment</h2>", facts(content.environment)]
    return document(content.verdict, body)


def render_unreported_html(content: UnreportedView) -> str:
    """The page of a student whose grading left no report, laid out like the report pages."""
    body = [
        f"<h1>{html_text(content.title)}</h1>",
        f'<p class="verdict ungraded">{html_text(content.verdict)}</p>',
        facts(content.facts),
        "<h2>Last lines of the grader's log</h2>",
        _pre("\n".join(content.log_tail)) if content.log_tail else "<p>Nothing was logged.</p>",
    ]
    return document(content.verdict, body)


def _anchors(models: list[ModelView]) -> list[str]:
    return [model.anchor for model in models]


def _list(tag: str, items: list[str]) -> str:
    return f"<{tag}>" + "".join(f"<li>{html_text(item)}</li>" for item in items) + f"</{tag}>"


def _model(model: ModelView, png: bytes | None) -> str:
    parts = [
        f'<section id="{model.anchor}">',
        f'<h2 class="{model.outcome}">{html_text(model.key)} · {model.points}</h2>',
    ]
    if model.facts:
        parts.append(facts(model.facts))
    if png is not None:
        caption = "Training (blue) and validation (orange) loss and accuracy per epoch"
        if model.ablation is not None:
            caption += "; faded dashed lines: the same model retrained without its regularization"
        parts.append(figure(png, f"learning curves for {model.key}", caption + "."))
    if model.failure:
        parts.append(_failure(model.failure))
    if model.diagnosis:
        parts.append(_diagnosis(model.diagnosis))
    if model.regularization:
        parts.append(f"<p><strong>Regularization found:</strong> {html_text(model.regularization)}</p>")
    if model.ablation_note:
        parts.append(f"<p>{html_text(model.ablation_note)}</p>")
    if model.ablation:
        parts.append(_table(model.ablation))
    parts += [_checks(model.checks), "</section>"]
    return "\n".join(parts)


def _diagnosis(diagnosis: DiagnosisView) -> str:
    parts = [f"<p><strong>Diagnosis:</strong> {html_text(diagnosis.headline)}</p>"]
    if diagnosis.lines():
        parts.append(_list("ul", diagnosis.lines()))
    if diagnosis.advice:
        parts.append(f'<p class="hint">→ {html_text(diagnosis.advice)}</p>')
    return '<div class="diagnosis">' + "".join(parts) + "</div>"


def _checks(checks: list[CheckLine]) -> str:
    rows = []
    for check in checks:
        hint = f'<br><span class="hint">→ {html_text(check.hint)}</span>' if check.hint else ""
        rows.append(
            f"<tr{' class=quiet' if check.quiet else ''}><td>{html_text(check.title)}</td><td>{check.points}</td>"
            f'<td class="status-{html_text(check.status)}">{html_text(check.words)}</td>'
            f"<td>{html_text(check.message)}{hint}</td></tr>"
        )
    header = "<tr><th>Check</th><th>Points</th><th>Status</th><th>What was measured</th></tr>"
    return f"<table>{header}{''.join(rows)}</table>"


def _failure(failure: FailureView) -> str:
    parts = [f"<p><strong>{html_text(failure.headline)}:</strong> {html_text(failure.message)}</p>"]
    if failure.location:
        parts.append(f"<p>At <code>{html_text(failure.location)}</code></p>")
    if failure.hint:
        parts.append(f'<p class="hint">→ {html_text(failure.hint)}</p>')
    if failure.traceback:
        parts.append(_pre(failure.traceback))
    return '<div class="failure">' + "".join(parts) + "</div>"


def _table(content: Table) -> str:
    return table(content.header, content.rows)


def table(
    header: list[str], rows: list[list[str]], *, links: list[str] | None = None, numbers: Collection[int] = ()
) -> str:
    """A table of plain text, escaped here; with ``links``, each row's first cell links to that anchor; the
    columns in ``numbers`` aligned right."""
    head = "<tr>" + "".join(f"<th>{html_text(cell)}</th>" for cell in header) + "</tr>"
    lines = []
    for n, row in enumerate(rows):
        cells = [html_text(cell) for cell in row]
        if links and n < len(links):
            cells[0] = f'<a href="#{links[n]}">{cells[0]}</a>'
        lines.append("<tr>" + "".join(_cell(cell, column in numbers) for column, cell in enumerate(cells)) + "</tr>")
    return f"<table>{head}{''.join(lines)}</table>"


def _cell(html: str, number: bool) -> str:
    return f"<td{' class=number' if number else ''}>{html}</td>"


def figure(png: bytes, alt: str, caption: str) -> str:
    """An embedded PNG with its caption, both plain text."""
    return (
        f'<figure><img src="{png_data_uri(png)}" alt="{html_text(alt)}">'
        f"<figcaption>{html_text(caption)}</figcaption></figure>"
    )


def facts(facts: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{html_text(label)}</dt><dd>{html_text(value)}</dd>" for label, value in facts)
    return f'<dl class="facts">{items}</dl>'


def _pre(text: str) -> str:
    return f"<pre>{html_text(text)}</pre>"
