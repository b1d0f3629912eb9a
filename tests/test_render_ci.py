"""The formats CI systems read: Gradescope's results.json, JUnit XML, GitHub annotations and job summary.

Golden files: see golden_files.py.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner
from golden_files import matches_golden
from gradescope_schema import problems
from report_factory import (
    ATTACK_LINES,
    attack_report,
    hostile_report,
    passing_report,
    planted_report,
    sample_report,
    ungradable_report,
)

from grader.cli import main
from grader.render import github
from grader.render.github import job_summary, render_annotations
from grader.render.gradescope import LEADERBOARD_NAME, render_gradescope
from grader.render.junit import render_junit
from grader.render.terminal import render_text
from grader.render.text import workflow_data, workflow_property

REPORTS = {"sample": sample_report, "ungradable": ungradable_report, "passing": passing_report}
STRICT_JUNIT = Path(__file__).parent / "fixtures" / "junit-10.xsd"  # Jenkins xUnit's, source in the file


@pytest.mark.parametrize("name", ["sample", "ungradable", "passing"])
@pytest.mark.parametrize(
    ("renderer", "suffix"),
    [(render_gradescope, "gradescope.json"), (render_junit, "junit.xml"), (render_annotations, "github.txt")],
)
def test_each_ci_format_matches_its_golden_file(name, renderer, suffix):
    matches_golden(f"{name}_report.{suffix}", renderer(REPORTS[name]()))


@pytest.mark.parametrize("name", ["sample", "ungradable", "passing"])
def test_the_job_summary_matches_its_golden_file(name):
    matches_golden(f"{name}_report.summary.md", job_summary(REPORTS[name]()))


# Gradescope


@pytest.mark.parametrize("name", [*REPORTS, "hostile"])
def test_gradescope_results_follow_the_published_schema(name):
    report = hostile_report() if name == "hostile" else REPORTS[name]()
    assert problems(json.loads(render_gradescope(report))) == []


def test_the_validator_catches_what_gradescope_rejects():
    bad = {"score": "10", "tests": [{"name": 1, "status": "ok", "visibility": "public"}], "colour": "red"}
    found = problems(bad)
    assert len(found) == 5 and any("colour" in p for p in found) and any("status" in p for p in found)


def test_gradescope_tests_add_up_to_the_total_and_carry_every_required_field():
    report = sample_report()
    results = json.loads(render_gradescope(report))
    assert results["score"] == report.points
    assert sum(test["score"] for test in results["tests"]) == pytest.approx(report.points)
    assert sum(test["max_score"] for test in results["tests"]) == pytest.approx(report.max_points)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= test.keys()
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
    assert isinstance(results["execution_time"], int)


def test_the_leaderboard_ranks_by_mnist_multi_layer_test_accuracy():
    results = json.loads(render_gradescope(sample_report()))
    assert results["leaderboard"] == [{"name": LEADERBOARD_NAME, "value": 96.9, "order": "desc"}]
    ungraded = json.loads(render_gradescope(ungradable_report()))
    assert ungraded["leaderboard"][0]["value"] == 0


def test_an_ungradable_submission_scores_zero_with_one_failed_test_that_says_why_and_where():
    results = json.loads(render_gradescope(ungradable_report()))
    assert results["score"] == 0
    [test] = results["tests"]
    assert test["status"] == "failed"
    assert "SyntaxError" in test["output"] and "cell 3, line 3" in test["output"]


def test_gradescope_shows_student_text_as_text_never_as_html():
    results = json.loads(render_gradescope(hostile_report()))
    assert results["output_format"] == results["test_output_format"] == "text"


# JUnit


def parse_junit(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    for element in [root, *root.iter("testsuite")]:
        cases = list(element.iter("testcase"))
        assert int(element.get("tests")) == len(cases)
        counted = (("failures", "failure"), ("errors", "error"), ("skipped", "skipped"))
        for attribute, tag in counted[:2] if element is root else counted:  # the strict schema: no skipped on root
            assert int(element.get(attribute)) == sum(case.find(tag) is not None for case in cases)
        assert float(element.get("time")) >= 0
    for case in root.iter("testcase"):
        assert case.get("classname") and case.get("name")
        for outcome in (case.find("failure"), case.find("error")):
            if outcome is not None:
                assert outcome.get("message")
    return root


@pytest.mark.parametrize("name", [*REPORTS, "hostile"])
def test_junit_parses_back_with_consistent_counts(name):
    parse_junit(render_junit(hostile_report() if name == "hostile" else REPORTS[name]()))


@pytest.fixture(scope="module")
def strict_junit() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(STRICT_JUNIT)


@pytest.mark.parametrize("name", [*REPORTS, "hostile"])
def test_junit_is_valid_under_jenkins_xunits_strict_schema(name, strict_junit):
    text = render_junit(hostile_report() if name == "hostile" else REPORTS[name]())
    assert [error.reason for error in strict_junit.iter_errors(text)] == []


def test_the_strict_schema_rejects_what_the_junit_used_to_carry(strict_junit):
    """The validator is not lenient: a skipped count on <testsuites> and a file on a testcase fail it."""
    root = ET.fromstring(render_junit(sample_report()).encode())
    root.set("skipped", "0")
    assert not strict_junit.is_valid(ET.tostring(root, encoding="unicode"))
    root = ET.fromstring(render_junit(sample_report()).encode())
    next(root.iter("testcase")).set("file", "hw.ipynb")
    assert not strict_junit.is_valid(ET.tostring(root, encoding="unicode"))


def test_junit_has_a_testcase_per_check_and_a_failure_for_each_check_that_lost_points():
    report = sample_report()
    root = parse_junit(render_junit(report))
    checks = [check for score in report.scores for check in score.checks]
    trained_cases = [case for case in root.iter("testcase") if case.get("name") != "training"]
    assert len(trained_cases) == len(checks)
    assert sum(case.find("failure") is not None for case in trained_cases) == sum(
        check.status in ("partial", "fail") for check in checks
    )
    [error] = [case for case in root.iter("testcase") if case.find("error") is not None]
    assert error.get("classname") == "nn-grader.iris.multi"
    [suite] = [suite for suite in root.iter("testsuite") if suite.get("name") == "nn-grader.iris.multi"]
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["error.file"] == "hw.ipynb"
    assert "error.line" not in properties  # a notebook's line would be a line of its JSON


def test_junit_says_which_line_of_a_module_an_error_is_on():
    root = parse_junit(render_junit(hostile_report()))
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (properties["error.file"], properties["error.line"]) == ("sub dir/hw,1:x.py", "12")


def test_junit_keeps_control_characters_out_of_the_xml():
    text = render_junit(hostile_report())
    assert "\x1b" not in text and "\x07" not in text
    parse_junit(text)


# GitHub


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("50% done", "50%25 done", "50%25 done"),
        ("two\nlines\r\n", "two%0Alines%0D%0A", "two%0Alines%0D%0A"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("%0A is not a newline", "%250A is not a newline", "%250A is not a newline"),
    ],
)
def test_annotation_escaping_follows_the_workflow_command_rules(text, data, prop):
    assert workflow_data(text) == data
    assert workflow_property(text) == prop


def test_every_annotation_is_one_clean_line_that_student_text_cannot_end_early():
    """The runner reads a command from the start of a line only: a student's "::error::" inside a message
    is text, as long as no newline reaches the log."""
    text = render_annotations(hostile_report())
    lines = text.splitlines()
    assert len(lines) == text.count("\n")
    assert sum(line.startswith("::error") for line in lines) == 1  # the one failed model
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert "\r" not in text and "\x1b" not in text and "\x07" not in text


def test_a_failure_points_at_the_students_file_and_a_module_gets_its_line():
    [error] = [line for line in render_annotations(hostile_report()).splitlines() if line.startswith("::error")]
    assert error.startswith("::error file=sub dir/hw%2C1%3Ax.py,line=12,title=")


def test_checks_that_lost_points_and_warnings_are_warnings_on_the_submission_the_total_and_diagnoses_notices():
    lines = render_annotations(sample_report()).splitlines()
    levels = [line.split(" ", 1)[0] for line in lines]
    assert levels == ["::error", "::warning", "::warning", "::warning", "::notice", "::notice", "::notice"]
    assert all("file=s.py" in line for line in lines if line.startswith("::warning"))
    assert "early_stoping" in lines[3] and lines[3].count("early_stoping") == 1
    assert "Total 65.75 / 100" in lines[4]
    assert "title=nn-grader: mnist/single underfitting" in lines[5].replace("%3A", ":")
    assert "without the final softmax: 91.2%25 test accuracy instead of 88.5%25" in lines[5]
    assert "mnist/multi overfitting" in lines[6].replace("%3A", ":")  # fine models get no notice


def test_a_check_failing_alike_in_several_models_is_one_annotation_naming_them_all():
    warnings = [line for line in render_annotations(planted_report()).splitlines() if "Loss matches" in line]
    assert len(warnings) == 1
    assert "iris/single%2C iris/multi%2C mnist/single%2C mnist/multi · Loss matches the output" in warnings[0]


def test_annotations_stay_within_githubs_limit_per_level(monkeypatch):
    monkeypatch.setattr(github, "MAX_PER_LEVEL", 1)
    lines = render_annotations(sample_report()).splitlines()
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(warnings) == 1 and "and 3 more" in warnings[0]


def test_the_job_summary_leads_with_the_verdict_and_lists_what_lost_points():
    summary = job_summary(sample_report())
    assert summary.startswith("## Total 65.75 / 100 points · PASS")
    assert "### Checks that lost points" in summary and "report.html" in summary


def commands_run(log: str) -> list[str]:
    """The lines of a step's output that GitHub's runner runs as workflow commands, read as it reads them
    (actions/runner, ActionCommandManager.TryProcessCommand): ``::command ...::`` at the start of a line
    after any spaces, or ``##[command]`` anywhere in it; after ``::stop-commands::TOKEN`` nothing runs until
    the line ``::TOKEN::``. The stop and resume lines themselves are left out."""
    run, token = [], None
    for line in log.splitlines():
        command = re.match(r"::([^ :]+)", line.lstrip()) if "::" in line.lstrip()[2:] else None
        name = command[1] if command else (re.search(r"##\[([^\] ]+)", line) or [None, None])[1]
        if name is None:
            continue
        if token is not None:
            token = None if name.lower() == token.lower() else token
        elif name == "stop-commands":
            token = line.lstrip().split("::", 2)[2]
        else:
            run.append(line)
    return run


def test_the_runner_model_in_these_tests_runs_what_a_student_printed_when_nothing_stops_it():
    assert commands_run(render_text(attack_report())) == [
        "::add-mask::secret",
        "  ::error file=s.py::fake",
        "echo ##[set-output name=grade;]100",
    ]


def test_under_github_actions_the_runner_runs_the_annotations_and_nothing_a_student_printed(tmp_path, monkeypatch):
    """``grade --format github`` prints the annotations, then the terminal report, which quotes the student's
    output, to the same standard output: the report's workflow commands are stopped, under a token the
    student's "::stop-commands::guessed" and "::guessed::" cannot end."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    stored = tmp_path / "report.json"
    stored.write_text(attack_report().to_json())
    result = CliRunner().invoke(main, ["rescore", str(stored), "--format", "github"])
    assert result.exit_code == 1, result.output
    annotations = [line for line in result.stdout.splitlines() if line.startswith(("::error ", "::warning "))]
    annotations += [line for line in result.stdout.splitlines() if line.startswith("::notice ")]
    assert commands_run(result.stdout) == annotations
    assert [line for line in annotations if line.startswith("::error ")] == [
        "::error file=[b]hw.py,line=3,title=nn-grader%3A iris/multi not graded::ValueError: bad%0DTotal 100 / 100 · "
        "PASS ::error::fake [bold]x[/bold]%0Aat [b]hw.py, line 3: x[::2]%0A→ [red]fix it[/red]"
    ]
    for line in ATTACK_LINES[5:]:  # the workflow commands, still there for the instructor to read
        assert line in result.stdout.splitlines()


def test_the_job_summary_holds_student_text_on_one_line_with_no_control_characters_or_markdown():
    summary = job_summary(attack_report())
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", summary)
    row = next(line for line in summary.splitlines() if line.startswith("| iris/multi | Trained |"))
    assert row == (
        "| iris/multi | Trained | 0 | ValueError: bad Total 100 / 100 · PASS ::error::fake \\[bold\\]x\\[/bold\\] | "
        "\\[red\\]fix it\\[/red\\] |"
    )
