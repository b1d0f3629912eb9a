"""Learning curves as PNG figures, for the feedback pages: a student sees overfitting faster than reads it.

Drawn on a bare ``Figure`` with matplotlib's default style (never pyplot, never the user's matplotlibrc),
so the same report gives the same bytes on any machine with the same matplotlib.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from grader.records import EpochRecord
from grader.report import ModelScore, Report

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: a page without figures never loads it
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

SIZE_INCHES, DPI = (7.0, 2.8), 100
TRAIN, VAL, ONSET = "#1f77b4", "#ff7f0e", "#b2182b"  # matplotlib's blue and orange, and a dark red
ABLATION_STYLE = {"linestyle": "--", "alpha": 0.45, "linewidth": 1.2}
ABLATION_LABEL = "without regularization"

Series = Callable[[EpochRecord], "float | None"]
PANELS: tuple[tuple[str, Series, Series], ...] = (
    ("Loss", lambda r: r.loss, lambda r: r.val_loss),
    ("Accuracy", lambda r: r.accuracy, lambda r: r.val_accuracy),
)


def learning_curves(report: Report) -> dict[str, bytes]:
    """One PNG per model that has a training history, keyed by model key."""
    figures = {}
    for model in report.measurements.models:
        if model.run is None or not model.run.history:
            continue
        ablation = model.ablation.run.history if model.ablation is not None and model.ablation.run else []
        score = report.score(model.key) or ModelScore(model.key, [])
        figures[model.key] = _png(model.run.history, ablation, score.overfitting_onset)
    return figures


def png_data_uri(png: bytes) -> str:
    """A PNG as a page embeds it: no file beside the page to lose."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(history: list[EpochRecord], ablation: list[EpochRecord], onset: int | None) -> bytes:
    import matplotlib.style
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    with matplotlib.style.context("default"):
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        loss_axes, accuracy_axes = figure.subplots(1, 2)
        for axes, (name, train, val) in zip((loss_axes, accuracy_axes), PANELS, strict=True):
            _panel(axes, name, history, ablation, train, val)
        accuracy_axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        handles = _mark_best_epoch(loss_axes, history) + _mark_onset((loss_axes, accuracy_axes), onset)
        figure.legend(handles=_legend(bool(ablation)) + handles, loc="outside upper center", ncols=3, fontsize=8)
        figure.get_layout_engine().set(w_pad=0.05, h_pad=0.02)  # type: ignore[union-attr, call-arg]
        return png_bytes(figure)


def png_bytes(figure: Figure) -> bytes:
    """A figure as PNG without the timestamp or version a PNG usually carries: the same figure, the same bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _panel(
    axes: Axes, name: str, history: list[EpochRecord], ablation: list[EpochRecord], train: Series, val: Series
) -> None:
    """Training and validation lines, the run without regularization faded behind them."""
    from matplotlib.ticker import MaxNLocator

    for records, style in ((ablation, ABLATION_STYLE), (history, {"linewidth": 1.8})):
        axes.plot(*_points(records, train), color=TRAIN, **style)
        axes.plot(*_points(records, val), color=VAL, **style)
    axes.set_title(name, fontsize=9, loc="left")
    axes.set_xlabel("epoch", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def _points(records: list[EpochRecord], series: Series) -> tuple[list[int], list[float]]:
    pairs = [(r.epoch, value) for r in records if (value := series(r)) is not None]
    return [epoch for epoch, _ in pairs], [value for _, value in pairs]


def _mark_best_epoch(axes: Axes, history: list[EpochRecord]) -> list[Line2D]:
    """A dot where validation loss bottomed out: the model worth keeping."""
    epochs, losses = _points(history, lambda r: r.val_loss)
    if not losses:
        return []
    best = min(range(len(losses)), key=losses.__getitem__)
    label = f"lowest validation loss (epoch {epochs[best]})"
    return axes.plot(epochs[best], losses[best], "o", color=VAL, markeredgecolor="black", markersize=6, label=label)


def _mark_onset(panels: tuple[Axes, ...], onset: int | None) -> list[Line2D]:
    if onset is None:
        return []
    label = f"overfitting from epoch {onset}"
    return [axes.axvline(onset, color=ONSET, linestyle=":", linewidth=1.5, label=label) for axes in panels][:1]


def _legend(with_ablation: bool) -> list[Line2D]:
    from matplotlib.lines import Line2D

    lines = [Line2D([], [], color=TRAIN, label="training"), Line2D([], [], color=VAL, label="validation")]
    if with_ablation:
        lines.append(Line2D([], [], color="grey", label=ABLATION_LABEL, **ABLATION_STYLE))  # type: ignore[arg-type]
    return lines
