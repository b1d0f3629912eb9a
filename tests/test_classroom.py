"""GitHub Classroom's points, in the form its autograding reporter reads (one test per model, worth its
points, out of the report's total; an ungradable or missing report an error worth nothing), and the
requirements the grader's extras add, for the student workflow to install.

(That the workflow hands these to the reporter is test_workflow.py's.)"""

from __future__ import annotations

import base64
import json

from report_factory import sample_report, ungradable_report

from grader.classroom import classroom_result, encoded, extra_requirements, main
from grader.render.json_report import render_json


def test_an_ungradable_or_missing_report_is_an_error_worth_nothing():
    ungradable = classroom_result(json.loads(render_json(ungradable_report())))
    assert ungradable["status"] == "error" and ungradable["tests"][0]["score"] == 0
    assert ungradable["tests"][0]["message"]
    missing = json.loads(base64.b64decode(encoded(classroom_result(None))))
    assert missing["status"] == "error" and missing["max_score"] == 100
    assert "no report" in missing["tests"][0]["message"]


def test_each_model_is_one_test_worth_its_points_naming_what_it_lost():
    report = json.loads(render_json(sample_report()))
    result = classroom_result(report)
    assert [test["name"].split(" (")[0] for test in result["tests"]] == [score["key"] for score in report["scores"]]
    for test, score in zip(result["tests"], report["scores"], strict=True):
        lost = [check for check in score["checks"] if check["points"] < check["max_points"]]
        assert test["status"] == ("fail" if lost else "pass")
        assert test["score"] == round(sum(check["points"] for check in score["checks"]), 2)
        assert test["message"] == ("; ".join(f"{c['title']}: {c['message']}" for c in lost) or None)
    assert any(test["status"] == "fail" for test in result["tests"])  # the sample loses points somewhere


def test_a_report_file_missing_or_not_json_counts_as_no_report(tmp_path, capsys):
    (tmp_path / "truncated.json").write_text("{truncated")
    for name in ("truncated.json", "missing.json"):
        assert main(["result", str(tmp_path / name)]) == 0
        result = json.loads(base64.b64decode(capsys.readouterr().out.strip()))
        assert result["status"] == "error" and "no report" in result["tests"][0]["message"]


def test_extras_name_their_own_requirements():
    assert {r.split(">")[0] for r in extra_requirements(["tensorflow-cpu"])} == {"tensorflow-cpu", "keras"}
    assert "numpy" not in " ".join(extra_requirements(["torch"]))
