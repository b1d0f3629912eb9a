"""The report: its totals, its verdict against a pass mark, its exit code, and its JSON."""

from __future__ import annotations

import datetime
import json

from report_factory import passing_report, sample_report, ungradable_report

from grader.errors import EXIT_BELOW_PASS_MARK, EXIT_PASSED, EXIT_UNGRADABLE
from grader.report import Check, ModelScore, Report, created_now


def test_a_models_points_are_its_checks_points_rounded_to_the_hundredth():
    checks = [Check("a", "A", 0.1, 1.0, "partial", ""), Check("b", "B", 0.2, 2.0, "partial", "")]
    scored = ModelScore("iris/single", checks)
    assert (scored.points, scored.max_points) == (0.3, 3.0)  # not 0.30000000000000004
    assert [check.lost for check in checks] == [0.9, 1.8]


def test_the_exit_code_says_passed_below_the_pass_mark_or_ungradable():
    passing = passing_report()
    assert passing.passed and passing.exit_code == EXIT_PASSED
    assert passing.with_pass_mark(passing.max_points + 1).exit_code == EXIT_BELOW_PASS_MARK
    assert ungradable_report().exit_code == EXIT_UNGRADABLE


def test_another_pass_mark_judges_the_same_points_again():
    report = sample_report()
    assert report.with_pass_mark(report.points).passed
    assert not report.with_pass_mark(report.points + 0.01).passed
    assert report.with_pass_mark(0).points == report.points


def test_an_ungradable_report_passes_no_pass_mark():
    assert not ungradable_report().with_pass_mark(0).passed


def test_a_report_reads_back_from_its_json_whole():
    report = sample_report()
    assert Report.from_dict(json.loads(report.to_json())) == report
    assert report.score("mnist/multi") is report.scores[3] and report.score("mnist/none") is None


def test_the_time_of_a_report_made_now_is_utc_to_the_second():
    created = datetime.datetime.fromisoformat(created_now())
    assert created.utcoffset() == datetime.timedelta(0) and created.microsecond == 0
    assert abs(datetime.datetime.now(datetime.timezone.utc) - created) < datetime.timedelta(minutes=1)
