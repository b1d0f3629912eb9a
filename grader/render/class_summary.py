"""The class summary: the page an instructor reads first after a batch, as one self-contained HTML file.

How the class did (students per status, points, pass rate, a histogram), how each model did beside its
reference, which checks cost the most points, which submissions were not graded and why (an ungradable one
scores 0 out of the full total; a roster student with nothing handed in is ``missing``), the entries that
match no roster student, and which are the same files (likely copies). Figures are drawn the way ``plots``
draws them (a bare ``Figure`` in matplotlib's default style, a PNG without a timestamp), so the same rows
give the same bytes. Every piece of student text passes through ``html_text``.
"""

from __future__ import annotations

import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable

import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from grader.batch.export import full_points, model_keys, not_on_roster, points_of
from grader.batch.gradebook import MISSING, Row
from grader.batch.run_one import STATUSES
from grader.records import Accuracy
from grader.render.html import STYLE
from grader.render.markdown import png_data_uri
from grader.render.similar_pairs import class_summary_section as similar_pairs_section
from grader.render.text import html_text, percent
from grader.report import Report

DPI = 100
BARS, REFERENCE, PASS_MARK = "#1f77b4", "#ff7f0e", "#b2182b"  # matplotlib's blue and orange, and a dark red
CHECKS_SHOWN = 15
STATUS_WORDS = {
    "graded": "graded",
    "ungradable": "could not be graded",
    "timed_out": "timed out",
    "error": "grader error",
    MISSING: "nothing handed in",
}
NOT_HASHED = ("", "not-read")  # a missing student's and a refused entry's stand-in hashes: no files compared
TOO_LARGE = "too-large-"  # the stand-in hash of an entry too large to hash: equal sizes, not equal files
SUMMARY_STYLE = """
.figures { display: flex; flex-wrap: wrap; gap: .8rem; } .figures figure { margin: 0; flex: 0 1 20rem; }
td.number { text-align: right; }
"""

Graded = tuple[Row, Report]


def render_class_summary(rows: Iterable[Row], *, plots: bool = True) -> str:
    """The summary page; ``plots=False`` leaves the figures out (for golden files)."""
    ordered = sorted(rows, key=lambda row: row.student.id)
    results = [(row, row.report()) for row in ordered]
    graded = [(row, report) for row, report in results if row.status == "graded" and report is not None]
    body = ["<h1>Class summary</h1>"]
    if not ordered:
        body.append("<p>The gradebook holds no results yet.</p>")
    else:
        body.append(f'<p class="about">{html_text(_about(ordered))}</p>')
        body += _overview(ordered, graded)
        body += _points(graded, plots)
        body += _models(graded, plots)
        body += _costly_checks(graded)
        body += _not_graded(results)
        body += _not_on_roster(ordered)
        body += _identical(ordered)
        body += similar_pairs_section([row for row in ordered if row.content_hash not in NOT_HASHED])
        body += _every_student(ordered)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Class summary</title>\n<style>{STYLE}{SUMMARY_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _about(rows: list[Row]) -> str:
    rubrics = ", ".join(sorted({f"{row.rubric_name} {row.rubric_digest}".strip() for row in rows}))
    versions = ", ".join(sorted({row.grader_version for row in rows}))
    stored = [row for row in rows if row.status != MISSING]
    rubrics = ", ".join(sorted({f"{row.rubric_name} {row.rubric_digest}".strip() for row in stored}))
    versions = ", ".join(sorted({row.grader_version for row in stored}))
    times = sorted(row.graded_at for row in stored) or ["-"]
    return f"{len(rows)} students · rubric {rubrics} · nn-grader {versions} · graded {times[0]} to {times[-1]}"


def _overview(rows: list[Row], graded: list[Graded]) -> list[str]:
    """The numbers first: how many were graded, how many passed, the points' centre."""
    passed = sum(1 for row in rows if row.passed)
    pass_rate = f"{passed} of {len(rows)} students ({percent(passed / len(rows))})"
    if graded:
        pass_rate += f"; {percent(passed / len(graded))} of those graded"
    facts = [("Students", str(len(rows))), ("Graded", f"{len(graded)} of {len(rows)}"), ("Passed", pass_rate)]
    if graded:
        facts.append(("Points", _centre([report for _, report in graded])))
    late = sum(1 for row in rows if row.late)
    facts += [("Late", f"{late} handed in late")] if late else []
    outside = not_on_roster(rows)
    facts += [("Not on the roster", f"{len(outside)} entries")] if outside else []
    counts = Counter(row.status for row in rows)
    statuses = [*STATUSES, *([MISSING] if MISSING in counts else []), *sorted(set(counts) - {*STATUSES, MISSING})]
    table = _table(["Status", "Students"], [[STATUS_WORDS.get(s, s), str(counts[s])] for s in statuses], numbers={1})
    return ["<h2>Overview</h2>", _facts(facts), table]


def _centre(reports: list[Report]) -> str:
    points = [report.points for report in reports]
    maxima = sorted({report.max_points for report in reports})
    out_of = f"{maxima[0]:g}" if len(maxima) == 1 else f"{maxima[0]:g} to {maxima[-1]:g}"
    return f"mean {statistics.mean(points):.1f}, median {statistics.median(points):g}, out of {out_of}"


def _points(graded: list[Graded], plots: bool) -> list[str]:
    """The histogram; the numbers behind it are in the overview."""
    scored = [report for _, report in graded if report.max_points]
    if not plots:
        return []
    if not scored:
        return ["<h2>Points</h2>", "<p>No submission was scored.</p>"]
    percents = [100 * report.points / report.max_points for report in scored]
    pass_mark = Counter(round(100 * report.pass_mark / report.max_points, 1) for report in scored).most_common(1)[0][0]
    caption = f"Points of the {len(scored)} graded submissions, as a share of the maximum; dashed: the pass mark."
    return ["<h2>Points</h2>", _figure(_histogram(percents, pass_mark), "histogram of the points", caption)]


def _models(graded: list[Graded], plots: bool) -> list[str]:
    """Each model's test accuracy over the class, beside the reference it was scored against."""
    keys = model_keys([report for _, report in graded])
    if not keys:
        return []
    lines, figures = [], []
    for key in keys:
        accuracies = [a.test for _, report in graded if (a := _accuracy(report, key)) is not None]
        references = Counter(s.reference.test_accuracy for _, r in graded if (s := r.score(key)) and s.reference)
        reference = references.most_common(1)[0][0] if references else None
        lines.append(_model_line(key, graded, accuracies, reference))
        if plots and accuracies:
            caption = f"{key}: each trained model's test accuracy (dots), their quartiles (box), the reference."
            figures.append(_figure(_strip(key, accuracies, reference), f"test accuracy for {key}", caption))
    header = ["Model", "Trained", "Not trained", "Median test accuracy", "Range", "Reference"]
    parts = ["<h2>Models</h2>", _table(header, lines, numbers={1, 2, 3, 5})]
    return parts + ([f'<div class="figures">{"".join(figures)}</div>'] if figures else [])


def _model_line(key: str, graded: list[Graded], accuracies: list[float], reference: float | None) -> list[str]:
    untrained = sum(1 for _, report in graded if report.score(key) and _accuracy(report, key) is None)
    shown = percent(reference) if reference is not None else "-"
    if not accuracies:
        return [key, "0", str(untrained), "-", "-", shown]
    spread = f"{percent(min(accuracies))} to {percent(max(accuracies))}"
    return [key, str(len(accuracies)), str(untrained), percent(statistics.median(accuracies)), spread, shown]


def _costly_checks(graded: list[Graded]) -> list[str]:
    """The checks that cost the class the most points: what to explain again in class."""
    lost: dict[tuple[str, str], list[float]] = defaultdict(list)
    titles = {}
    for _, report in graded:
        for score in report.scores:
            for check in (c for c in score.checks if c.lost > 0):
                lost[score.key, check.id].append(check.lost)
                titles[score.key, check.id] = check.title
    if not lost:
        return ["<h2>Checks that cost points</h2>", "<p>No graded submission lost a point.</p>"]
    ranked = sorted(lost.items(), key=lambda item: (-sum(item[1]), -len(item[1]), item[0]))[:CHECKS_SHOWN]
    rows = [
        [
            titles[where],
            where[0],
            f"{len(losses)} of {len(graded)}",
            f"{statistics.mean(losses):.2f}",
            f"{round(sum(losses), 2):g}",
        ]
        for where, losses in ranked
    ]
    header = ["Check", "Model", "Students who lost points", "Mean points lost", "Total points lost"]
    intro = f"<p>The {len(rows)} checks that cost graded submissions the most points, most first.</p>"
    return ["<h2>Checks that cost points</h2>", intro, _table(header, rows, numbers={2, 3, 4})]


def _not_graded(results: list[tuple[Row, Report | None]]) -> list[str]:
    """Every student without a graded result, and why: an ungradable one with its 0 out of the total."""
    full = full_points([row for row, _ in results])
    rows = [
        [
            row.student.id,
            row.student.name,
            STATUS_WORDS.get(row.status, row.status),
            _score(row, full),
            _reason(row, report),
        ]
        for row, report in results
        if row.status != "graded"
    ]
    if not rows:
        return ["<h2>Not graded</h2>", "<p>Every submission was graded.</p>"]
    return ["<h2>Not graded</h2>", _table(["Student", "Name", "Status", "Points", "Reason"], rows, numbers={3})]


def _not_on_roster(rows: list[Row]) -> list[str]:
    """Entries that matched no roster student: graded under the id their name gave, in no LMS file."""
    outside = not_on_roster(rows)
    if not outside:
        return []
    table = [[row.student.id, row.entry, _grade(row)] for row in outside]
    intro = (
        "<p>Entries that match no roster student: graded under the id their name gives, and left out of "
        "the Moodle file. Map them with <code>grade batch --map FILE.csv</code>.</p>"
    )
    return ["<h2>Not on the roster</h2>", intro, _table(["Graded as", "Entry", "Grade"], table)]


def _every_student(rows: list[Row]) -> list[str]:
    """The class, one line each: every roster student (missing ones too) and every entry on no roster."""
    full = full_points(rows)
    table = [
        [
            row.student.id,
            row.student.name,
            STATUS_WORDS.get(row.status, row.status),
            _score(row, full),
            "late" if row.late else "",
            {None: "", True: "", False: "not on the roster"}[row.on_roster],
        ]
        for row in rows
    ]
    header = ["Student", "Name", "Status", "Points", "Late", "Roster"]
    return ["<h2>Every student</h2>", _table(header, table, numbers={3})]


def _score(row: Row, full: float | None) -> str:
    points, max_points = points_of(row, full)
    if points is None:
        return "-"
    return f"{points:g} / {max_points:g}" if max_points else f"{points:g}"


def _identical(rows: list[Row]) -> list[str]:
    """Students who handed in the same files byte for byte: a copy, or the starter code unchanged."""
    by_content: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if not row.content_hash.startswith(TOO_LARGE) and row.content_hash not in NOT_HASHED:
            by_content[row.content_hash].append(row)
    groups = sorted((same for same in by_content.values() if len(same) > 1), key=lambda same: same[0].student.id)
    if not groups:
        return ["<h2>Identical submissions</h2>", "<p>No two submissions are the same files.</p>"]
    table = [
        ["; ".join(_who(row) for row in same), ", ".join(dict.fromkeys(map(_grade, same))), same[0].content_hash[:12]]
        for same in groups
    ]
    intro = "<p>Submissions that are the same files, byte for byte: copies, or starter code handed in unchanged.</p>"
    return ["<h2>Identical submissions</h2>", intro, _table(["Students", "Grade", "Content hash"], table)]


def _accuracy(report: Report, key: str) -> Accuracy | None:
    model = report.measurements.model(key)
    return model.accuracy if model is not None else None


def _reason(row: Row, report: Report | None) -> str:
    failure = report.measurements.failure if report else None
    return row.error or (failure.message if failure else "") or "no reason was recorded"


def _who(row: Row) -> str:
    return f"{row.student.id} ({row.student.name})" if row.student.name else row.student.id


def _grade(row: Row) -> str:
    if row.status != "graded" or row.points is None or row.max_points is None:
        return STATUS_WORDS.get(row.status, row.status)
    return f"{row.points:g} / {row.max_points:g}"


def _histogram(percents: list[float], pass_mark: float) -> bytes:
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(7.0, 2.6), dpi=DPI, layout="constrained")
        axes = figure.subplots()
        axes.hist(percents, bins=np.linspace(0, 100, 21), color=BARS, edgecolor="white")
        axes.axvline(pass_mark, color=PASS_MARK, linestyle="--", linewidth=1.5, label=f"pass mark ({pass_mark:g}%)")
        axes.set_xlim(0, 100)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("points, as a share of the maximum", fontsize=8)
        axes.set_ylabel("students", fontsize=8)
        axes.legend(fontsize=8, loc="upper left")
        _style(axes)
        return _png(figure)


def _strip(key: str, accuracies: list[float], reference: float | None) -> bytes:
    """Every student's model as a dot, spread sideways by a fixed jitter so that equal scores stay visible."""
    values = 100 * np.array(accuracies)
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(3.2, 2.6), dpi=DPI, layout="constrained")
        axes = figure.subplots()
        axes.boxplot(values, widths=0.5, showfliers=False, medianprops={"color": BARS})
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(values))
        axes.plot(1 + jitter, values, "o", color=BARS, alpha=0.6, markersize=4, label="students")
        if reference is not None:
            axes.axhline(100 * reference, color=REFERENCE, linestyle="--", linewidth=1.5, label="reference")
        axes.set_xlim(0.5, 1.5)
        axes.set_xticks([])
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=1))
        axes.set_title(f"{key} · test accuracy", fontsize=9, loc="left", parse_math=False)
        axes.legend(fontsize=7, loc="lower right")
        _style(axes)
        return _png(figure)


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=8)
    axes.grid(alpha=0.3, axis="y")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _figure(png: bytes, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{png_data_uri(png)}" alt="{html_text(alt)}">'
        f"<figcaption>{html_text(caption)}</figcaption></figure>"
    )


def _table(header: list[str], rows: list[list[str]], numbers: Collection[int] = ()) -> str:
    """A table of plain text, escaped here; the columns in ``numbers`` aligned right."""
    head = "<tr>" + "".join(f"<th>{html_text(cell)}</th>" for cell in header) + "</tr>"
    lines = [
        "<tr>"
        + "".join(f"<td{' class=number' if n in numbers else ''}>{html_text(cell)}</td>" for n, cell in enumerate(row))
        + "</tr>"
        for row in rows
    ]
    return f"<table>{head}{''.join(lines)}</table>"


def _facts(facts: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{html_text(label)}</dt><dd>{html_text(value)}</dd>" for label, value in facts)
    return f'<dl class="facts">{items}</dl>'
