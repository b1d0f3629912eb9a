"""The class summary: the page an instructor reads first after a batch, as one self-contained HTML file.

It lays out the class's view (``class_view.ClassView``, built from the gradebook by ``batch/summary.py``):
how the class did, how each model did beside its reference, which checks cost the most points, who was not
graded and why, the entries on no roster, and which are the same files or similar code. Figures are drawn
the way ``plots`` draws them (a bare ``Figure`` in matplotlib's default style, a PNG without a timestamp),
so the same view gives the same bytes. Every piece of student text passes through ``html_text``.
"""

from __future__ import annotations

import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from grader.render.class_view import ClassView
from grader.render.html import document, facts, figure, table
from grader.render.plots import DPI, png_bytes
from grader.render.similar_pairs import pairs_section
from grader.render.text import html_text

BARS, REFERENCE, PASS_MARK = "#1f77b4", "#ff7f0e", "#b2182b"  # matplotlib's blue and orange, and a dark red
SUMMARY_STYLE = """
.figures { display: flex; flex-wrap: wrap; gap: .8rem; } .figures figure { margin: 0; flex: 0 1 20rem; }
td.number { text-align: right; }
"""


def render_class_summary(view: ClassView, *, plots: bool = True) -> str:
    """The summary page; ``plots=False`` leaves the figures out (for golden files)."""
    body = ["<h1>Class summary</h1>"]
    if not view.students:
        body.append("<p>The gradebook holds no results yet.</p>")
    else:
        body.append(f'<p class="about">{html_text(view.about)}</p>')
        body += ["<h2>Overview</h2>", facts(view.overview), table(["Status", "Students"], view.statuses, numbers={1})]
        body += _points(view) if plots else []
        body += _models(view, plots)
        body += _costly_checks(view)
        body += _not_graded(view)
        body += _not_on_roster(view)
        body += _identical(view)
        body += pairs_section(view.similar) if view.similar is not None else []
        header = ["Student", "Name", "Status", "Points", "Late", "Roster"]
        body += ["<h2>Every student</h2>", table(header, view.every_student, numbers={3})]
    return document("Class summary", body, SUMMARY_STYLE)


def _points(view: ClassView) -> list[str]:
    """The histogram; the numbers behind it are in the overview."""
    if not view.scored_percents:
        return ["<h2>Points</h2>", "<p>No submission was scored.</p>"]
    png = _histogram(view.scored_percents, view.pass_mark_percent)
    caption = (
        f"Points of the {len(view.scored_percents)} graded submissions, as a share of the maximum; "
        "dashed: the pass mark."
    )
    return ["<h2>Points</h2>", figure(png, "histogram of the points", caption)]


def _models(view: ClassView, plots: bool) -> list[str]:
    """Each model's test accuracy over the class, beside the reference it was scored against."""
    if not view.models:
        return []
    header = ["Model", "Trained", "Not trained", "Median test accuracy", "Range", "Reference"]
    parts = ["<h2>Models</h2>", table(header, view.models, numbers={1, 2, 3, 5})]
    figures = [
        figure(
            _strip(spread.key, spread.accuracies, spread.reference),
            f"test accuracy for {spread.key}",
            f"{spread.key}: each trained model's test accuracy (dots), their quartiles (box), the reference.",
        )
        for spread in view.spreads
        if plots and spread.accuracies
    ]
    return parts + ([f'<div class="figures">{"".join(figures)}</div>'] if figures else [])


def _costly_checks(view: ClassView) -> list[str]:
    """The checks that cost the class the most points: what to explain again in class."""
    if not view.costly_checks:
        return ["<h2>Checks that cost points</h2>", "<p>No graded submission lost a point.</p>"]
    header = ["Check", "Model", "Students who lost points", "Mean points lost", "Total points lost"]
    intro = f"<p>The {len(view.costly_checks)} checks that cost graded submissions the most points, most first.</p>"
    return ["<h2>Checks that cost points</h2>", intro, table(header, view.costly_checks, numbers={2, 3, 4})]


def _not_graded(view: ClassView) -> list[str]:
    if not view.not_graded:
        return ["<h2>Not graded</h2>", "<p>Every submission was graded.</p>"]
    header = ["Student", "Name", "Status", "Points", "Reason"]
    return ["<h2>Not graded</h2>", table(header, view.not_graded, numbers={3})]


def _not_on_roster(view: ClassView) -> list[str]:
    """Entries that matched no roster student: graded under the id their name gave, in no LMS file."""
    if not view.not_on_roster:
        return []
    intro = (
        "<p>Entries that match no roster student: graded under the id their name gives, and left out of "
        "the Moodle file. Map them with <code>grade batch --map FILE.csv</code>.</p>"
    )
    return ["<h2>Not on the roster</h2>", intro, table(["Graded as", "Entry", "Grade"], view.not_on_roster)]


def _identical(view: ClassView) -> list[str]:
    """Students who handed in the same files byte for byte: a copy, or the starter code unchanged."""
    if not view.identical:
        return ["<h2>Identical submissions</h2>", "<p>No two submissions are the same files.</p>"]
    intro = "<p>Submissions that are the same files, byte for byte: copies, or starter code handed in unchanged.</p>"
    return ["<h2>Identical submissions</h2>", intro, table(["Students", "Grade", "Content hash"], view.identical)]


def _histogram(percents: list[float], pass_mark: float) -> bytes:
    with matplotlib.style.context("default"):
        drawing = Figure(figsize=(7.0, 2.6), dpi=DPI, layout="constrained")
        axes = drawing.subplots()
        axes.hist(percents, bins=np.linspace(0, 100, 21).tolist(), color=BARS, edgecolor="white")
        axes.axvline(pass_mark, color=PASS_MARK, linestyle="--", linewidth=1.5, label=f"pass mark ({pass_mark:g}%)")
        axes.set_xlim(0, 100)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("points, as a share of the maximum", fontsize=8)
        axes.set_ylabel("students", fontsize=8)
        axes.legend(fontsize=8, loc="upper left")
        _style(axes)
        return png_bytes(drawing)


def _strip(key: str, accuracies: list[float], reference: float | None) -> bytes:
    """Every student's model as a dot, spread sideways by a fixed jitter so that equal scores stay visible."""
    values = 100 * np.array(accuracies)
    with matplotlib.style.context("default"):
        drawing = Figure(figsize=(3.2, 2.6), dpi=DPI, layout="constrained")
        axes = drawing.subplots()
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
        return png_bytes(drawing)


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=8)
    axes.grid(alpha=0.3, axis="y")
