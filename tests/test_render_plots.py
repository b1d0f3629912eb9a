"""Learning curves: one PNG per trained model, the same bytes for the same report, the overfitting onset and
the run without regularization drawn only where there is one."""

from __future__ import annotations

from measurements_factory import BASELINES
from png_colours import has_colour
from report_factory import CREATED, sample_report

from grader.render.html import render_html
from grader.render.plots import ONSET, learning_curves
from grader.rubric import load_rubric
from grader.score import score


def test_each_trained_model_gets_its_learning_curves_and_the_same_report_draws_the_same_bytes():
    report = sample_report()
    curves = learning_curves(report)
    assert sorted(curves) == ["iris/single", "mnist/multi", "mnist/single"]  # iris/multi never trained
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in curves.values())
    assert learning_curves(report) == curves


def test_the_overfitting_onset_is_marked_only_where_there_is_one():
    curves = learning_curves(sample_report())
    assert sample_report().score("mnist/multi").overfitting_onset is not None
    assert has_colour(curves["mnist/multi"], ONSET)
    assert sample_report().score("iris/single").overfitting_onset is None
    assert not has_colour(curves["iris/single"], ONSET)


def test_the_ablation_run_is_drawn_behind_the_model_and_explained_under_the_plot():
    report = sample_report()
    with_ablation = learning_curves(report)["mnist/multi"]
    caption = "the same model retrained without its regularization"
    assert caption in render_html(report)
    report.measurements.model("mnist/multi").ablation = None
    report = score(report.measurements, BASELINES, load_rubric(), created=CREATED)
    assert learning_curves(report)["mnist/multi"] != with_ablation
    assert caption not in render_html(report)
