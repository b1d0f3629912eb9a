"""A free-form report says how the notebook was read, what it built and what it cost, in every format."""

from __future__ import annotations

import dataclasses
import json

from measurements_factory import BASELINES
from report_factory import CREATED, freeform_report

from grader.render import FORMATS
from grader.render.github import job_summary
from grader.render.terminal import render_text
from grader.rubric import load_rubric
from grader.score import score


def test_every_format_says_the_notebook_was_graded_free_form_and_what_it_built():
    report = freeform_report()
    text = render_text(report)
    assert "Graded free-form" in text and "Net(hidden=32) [torch], 4 -> 3, iris multi, trained" in text
    assert "cell 12, line 1 failed: NameError: name 'hist' is not defined" in text
    for name in ("markdown", "html"):
        page = FORMATS[name].render(report)
        assert "What the run built" in page and "Net(hidden=32)" in page and "iris/multi (the last one trained)" in page
    assert "Graded free-form" in job_summary(report)
    assert "Graded free-form" in json.loads(FORMATS["gradescope"].render(report))["output"]
    assert (
        json.loads(FORMATS["json"].render(report))["measurements"]["freeform"]["models"][0]["chosen_for"]
        == "iris/multi"
    )


def test_a_failing_cell_and_a_mistake_take_points_once_from_the_model_they_concern():
    report = freeform_report()
    multi = report.score("iris/multi")
    taken = {check.id: check.points for check in multi.checks if check.max_points == 0 and check.points < 0}
    assert taken == {"mistake:softmax_before_cross_entropy": -1.0, "cells_fail": -1.0}
    assert report.score("iris/single").points == report.score("iris/single").max_points  # charged once, not twice
    unrun = dataclasses.replace(report.measurements, freeform=None)
    without_run = score(unrun, BASELINES, load_rubric(), created=CREATED)
    assert report.max_points == without_run.max_points  # scored out of the same total as a contract submission
    assert report.points == without_run.points - 2.0
    assert any("remove the final nn.Softmax" in step for step in report.next_steps)
