"""The one view of a report: the verdict, the figures, the isolation warning and the log excerpt worded once,
and every format saying them in those words."""

from __future__ import annotations

import dataclasses
import html
import json

import pytest
from report_factory import isolation_report, passing_report, sample_report, ungradable_report

from grader.records import CapturedOutput
from grader.render.github import job_summary, render_annotations
from grader.render.gradescope import render_gradescope
from grader.render.html import render_html
from grader.render.markdown import render_markdown
from grader.render.terminal import render_text
from grader.render.text import md_text
from grader.render.view import LOG_LINES_SHOWN, isolation_warning, log_excerpt, report_view, verdict

REPORTS = {"sample": sample_report, "ungradable": ungradable_report, "passing": passing_report}


def test_the_verdict_gives_the_points_the_outcome_and_the_pass_mark():
    assert verdict(sample_report()) == "Total 65.75 / 100 points · PASS (pass mark 60)"
    below = sample_report().with_pass_mark(70)
    assert verdict(below) == "Total 65.75 / 100 points · BELOW THE PASS MARK (pass mark 70)"
    assert verdict(ungradable_report()) == "Not graded: the submission could not be run"
    unscored = dataclasses.replace(sample_report(), max_points=0.0)
    assert verdict(unscored).startswith("Not scored: there is no reference baseline")


@pytest.mark.parametrize("name", REPORTS)
def test_every_format_states_the_one_verdict_in_the_same_words(name):
    report = REPORTS[name]()
    said = report_view(report).verdict
    assert said in " ".join(render_text(report).split())
    assert md_text(said) in render_markdown(report, plots=False)
    assert html.escape(said) in render_html(report, plots=False)
    assert said in render_annotations(report) and said in job_summary(report)
    assert json.loads(render_gradescope(report))["output"].startswith(said)


def test_the_outcome_colours_a_page_pass_fail_or_ungraded():
    assert report_view(sample_report()).outcome == "pass"
    assert report_view(sample_report().with_pass_mark(70)).outcome == "fail"
    assert report_view(ungradable_report()).outcome == "ungraded"


def test_each_models_figures_are_formatted_once_in_percent_and_percentage_points():
    figures = {f.key: f for f in report_view(sample_report()).figures}
    multi = figures["mnist/multi"]
    assert (multi.test, multi.reference, multi.spread) == ("96.9%", "97.8%", "± 0.1%")
    assert (multi.train_val, multi.gap, multi.gap_number, multi.epochs) == ("99.9% / 97.0%", "2.9 pp", "2.9", "14")
    failed = figures["iris/multi"]
    assert (failed.trained, failed.test, failed.gap, failed.points) == (False, "failed", "-", "0/27.25")
    assert report_view(ungradable_report()).figures == []  # nothing ran: no table of models


def test_the_isolation_warning_names_only_what_the_code_could_reach():
    assert isolation_warning(["network", "processes", "files"]) == ""
    assert isolation_warning(["network", "files", "grader files"]).startswith(
        "isolation is partial on this machine: the submission's code was not walled off from processes ("
    )
    assert "network, processes, files" in isolation_warning([])


def test_the_isolation_warning_follows_the_reports_own_warnings_and_only_where_isolation_was_partial():
    partial = report_view(isolation_report(["network"]))
    assert partial.all_warnings == [*partial.warnings, partial.isolation] and "processes, files" in partial.isolation
    whole = report_view(isolation_report(["network", "processes", "files"]))
    assert whole.isolation == "" and whole.all_warnings == whole.warnings


def test_the_log_excerpt_is_the_last_lines_printed_and_only_where_something_failed():
    printed = "".join(f"line {n}\n" for n in range(40))
    assert log_excerpt(printed) == [f"line {n}" for n in range(40 - LOG_LINES_SHOWN, 40)]
    assert log_excerpt("") == []
    failed = sample_report()  # iris/multi did not train
    failed.measurements.log = CapturedOutput(printed)
    assert report_view(failed).log_tail == log_excerpt(printed)
    fine = passing_report()
    fine.measurements.log = CapturedOutput(printed)
    assert report_view(fine).log_tail == []
