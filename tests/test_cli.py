"""The ``grade`` command: what it prints, writes and exits with."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import FAST_RUBRIC, SUBMISSIONS
from report_factory import sample_report

from grader.baselines import Baselines, ReferenceStats, Stat
from grader.cli import main
from grader.render import FORMATS

pytest.importorskip("torch")


def baselines_file(tmp_path, test_accuracy: float) -> str:
    """Baselines for the Iris models at the given accuracy, with no spread."""
    stat = Stat(test_accuracy, 0.0, [test_accuracy])
    reference = ReferenceStats(stat, stat, stat, Stat(0.0, 0.0, [0.0]), Stat(20, 0, [20]), Stat(1, 0, [1]), "cpu")
    baselines = Baselines(
        1, "test", "", [0], {"full": {"torch": {"iris/single": reference, "iris/multi": reference}}}, {}
    )
    path = tmp_path / "baselines.json"
    baselines.save(path)
    return str(path)


@pytest.fixture
def grade(fake_mnist, fast_rubric_file):
    """Run ``grade`` on the Iris models with the fast rubric; returns click's result."""

    def run(*args: str):
        common = [
            "--problem",
            "iris",
            "--rubric",
            str(fast_rubric_file),
            "--data-dir",
            str(fake_mnist),
            "--threads",
            "1",
            "--no-progress",
        ]
        return CliRunner().invoke(main, [*args, *common])

    return run


def test_a_passing_submission_exits_0_and_prints_the_table(grade, tmp_path):
    result = grade(str(SUBMISSIONS / "torch_small.py"), "--baselines", baselines_file(tmp_path, 0.5))
    assert result.exit_code == 0, result.output
    assert "iris/single" in result.output and "iris/multi" in result.output
    assert "PASS (pass mark" in result.output


def test_below_the_pass_mark_exits_1(grade, tmp_path):
    result = grade(
        str(SUBMISSIONS / "torch_small.py"), "--baselines", baselines_file(tmp_path, 0.5), "--fail-under", "101"
    )
    assert result.exit_code == 1, result.output
    assert "BELOW THE PASS MARK (pass mark 101)" in result.output


def test_a_submission_that_cannot_run_exits_3_with_the_reason(grade, tmp_path):
    result = grade(str(SUBMISSIONS / "exits_at_import.py"), "--baselines", baselines_file(tmp_path, 0.5))
    assert result.exit_code == 3
    assert "exits_at_import.py called sys.exit(0) while being imported" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no/such/file.py"], "no such file or folder"),
        ([str(SUBMISSIONS / "torch_small.py"), "--format", "json", "--format", "terminal"], "need --out"),
        ([str(SUBMISSIONS / "torch_small.py"), "--device", "tpu"], "Invalid value for '--device'"),
    ],
)
def test_usage_errors_exit_2(grade, args, message):
    result = grade(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_malformed_rubric_exits_2_naming_the_key(tmp_path):
    rubric = tmp_path / "r.toml"
    rubric.write_text("[gap]\nvariant = ['multi']\n")
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "torch_small.py"), "--rubric", str(rubric)])
    assert result.exit_code == 2
    assert "unknown key 'gap.variant' (did you mean 'gap.variants'?)" in result.output


def exited_cleanly(result, code: int) -> str:
    """The command exited with ``code`` through the grader's own error path (no traceback); its output as one
    line (the console wraps long lines at its width)."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[limits]\nmemory_gib = nan", "[limits] memory_gib must be a positive number, got nan"),
        ("pass_mark = nan", "pass_mark must be 0 or a positive number, got nan"),
        ("[accuracy]\npoints = -15.0", "[accuracy] points must be 0 or a positive number, got -15.0"),
    ],
)
def test_a_rubric_number_that_makes_no_sense_exits_2_naming_the_file_and_key(tmp_path, toml, message):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(toml + "\n")
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "torch_small.py"), "--rubric", str(rubric)])
    output = exited_cleanly(result, 2)
    assert f"error: {rubric}: {message}" in output and "hint: the default is" in output


def command_args(command: str, tmp_path) -> list[str]:
    """Each command that takes --rubric, on a submission (a class of one) or a gradebook in ``tmp_path``;
    anything it would write goes there too."""
    folder = tmp_path / "class"
    folder.mkdir(exist_ok=True)
    (folder / "ada.py").write_text((SUBMISSIONS / "torch_small.py").read_text())
    db = ["--db", str(tmp_path / "g.sqlite")]
    return {
        "grade": [str(SUBMISSIONS / "torch_small.py"), "--no-progress"],
        "baselines": ["baselines", "--out", str(tmp_path / "b.json")],
        "batch": ["batch", str(folder), *db, "--allow-partial-isolation", "--no-progress"],
        "regrade": ["regrade", *db],
    }[command]


@pytest.mark.parametrize("command", ["grade", "baselines", "batch", "regrade"])
def test_a_malformed_rubric_is_the_same_error_and_exit_code_from_every_command(tmp_path, command):
    rubric = tmp_path / "r.toml"
    rubric.write_text("pass_mrak = 50\n")
    output = exited_cleanly(CliRunner().invoke(main, [*command_args(command, tmp_path), "--rubric", str(rubric)]), 2)
    assert f"error: {rubric}: unknown key 'pass_mrak' (did you mean 'pass_mark'?) hint: the keys are those" in output
    assert not (tmp_path / "g.sqlite").exists() and not (tmp_path / "b.json").exists()  # nothing was started


@pytest.mark.parametrize("command", [["regrade"], ["export", "--format", "csv"]])
def test_a_missing_gradebook_is_reported_by_regrade_and_export_alike_and_not_created(tmp_path, command):
    db = tmp_path / "g.sqlite"
    output = exited_cleanly(CliRunner().invoke(main, [*command, "--db", str(db)]), 2)
    assert f"error: {db}: no such gradebook hint: grade a class first: grade batch SUBMISSIONS --db FILE" in output
    assert not db.exists()


@pytest.mark.parametrize("command", ["grade", "baselines"])
def test_missing_data_is_the_same_error_and_exit_code_3_from_grade_and_baselines(tmp_path, command):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    args = [*command_args(command, tmp_path), "--problem", "mnist", "--data-dir", str(empty)]
    output = exited_cleanly(CliRunner().invoke(main, args), 3)
    assert "error: MNIST data not found" in output and " hint: " in output


def test_a_notebook_that_cannot_be_read_exits_3_from_grade_and_from_framework_with_the_same_reason(grade, tmp_path):
    notebook = tmp_path / "hw.ipynb"
    notebook.write_text("{not json")
    graded = exited_cleanly(grade(str(notebook), "--baselines", baselines_file(tmp_path, 0.5)), 3)
    found = exited_cleanly(CliRunner().invoke(main, ["framework", str(notebook)]), 3)
    reason = found.split("error: ", 1)[1].split(" hint: ")[0]
    assert reason.startswith("hw.ipynb: ") and reason in graded


@pytest.mark.parametrize("content", ["[]", '{"schema_version": 1, "modes": []}', "NaN"])
def test_a_malformed_baselines_file_exits_2_naming_it(tmp_path, content):
    baselines = tmp_path / "baselines.json"
    baselines.write_text(content)
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "torch_small.py"), "--baselines", str(baselines)])
    output = exited_cleanly(result, 2)
    assert f"error: {baselines}: not a valid baselines file (" in output
    assert "hint: regenerate it with: grade baselines" in output


def test_a_notebook_cell_whose_source_is_not_text_exits_3_naming_the_cell(grade, tmp_path):
    notebook = tmp_path / "hw.ipynb"
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": 42}]
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": cells}))
    output = exited_cleanly(grade(str(notebook), "--baselines", baselines_file(tmp_path, 0.5)), 3)
    assert "hw.ipynb, cell 1: the cell's source is not text (it is 42): the notebook is damaged" in output


def test_json_goes_to_stdout_with_a_schema_version(grade, tmp_path):
    result = grade(
        str(SUBMISSIONS / "torch_small.py"), "--format", "json", "--baselines", baselines_file(tmp_path, 0.5)
    )
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1
    assert report["status"] == "graded" and report["points"] == report["max_points"] == 46.5
    assert [m["problem"] + "/" + m["variant"] for m in report["measurements"]["models"]] == [
        "iris/single",
        "iris/multi",
    ]


def test_out_writes_every_format_asked_for(grade, tmp_path):
    out = tmp_path / "out"
    result = grade(
        str(SUBMISSIONS / "torch_small.py"),
        "--format",
        "json",
        "--format",
        "terminal",
        "--out",
        str(out),
        "--baselines",
        baselines_file(tmp_path, 0.5),
    )
    assert result.exit_code == 0
    assert json.loads((out / "report.json").read_text())["points"] == 46.5
    assert "Total 46.5 / 46.5" in (out / "report.txt").read_text()


def test_github_format_prints_annotations_and_appends_a_job_summary(grade, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "out"
    baselines = baselines_file(tmp_path, 0.5)
    result = grade(
        str(SUBMISSIONS / "torch_small.py"),
        "--format",
        "github",
        "--format",
        "html",
        "--out",
        str(out),
        "--baselines",
        baselines,
    )
    assert result.exit_code == 0
    assert "::notice title=nn-grader%3A grade::Total 46.5 / 46.5 points · PASS" in result.stdout
    assert summary.read_text().startswith("earlier step\n## Total 46.5 / 46.5 points · PASS")
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2


def test_the_data_command_finds_and_checks_mnist_and_says_what_to_do_when_it_is_missing(fake_mnist, tmp_path):
    found = CliRunner().invoke(main, ["data", "--data-dir", str(fake_mnist)])
    assert found.exit_code == 0 and len(found.output.splitlines()) == 4
    missing = CliRunner().invoke(main, ["data", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 3 and "MNIST data not found" in missing.output


def test_the_rubric_command_prints_the_commented_default():
    result = CliRunner().invoke(main, ["rubric"])
    assert result.exit_code == 0
    assert result.output.startswith("# The default rubric of nn-grader.")
    assert "[accuracy.bands.mnist]" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "nn-grader" in result.output


def test_rescore_scores_stored_measurements_under_another_rubric_without_training(grade, tmp_path):
    out = tmp_path / "out"
    baselines = baselines_file(tmp_path, 0.5)
    graded = grade(str(SUBMISSIONS / "torch_small.py"), "--format", "json", "--out", str(out), "--baselines", baselines)
    assert graded.exit_code == 0
    stored = json.loads((out / "report.json").read_text())
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(f"pass_mark = 100.5\n{FAST_RUBRIC}\n[accuracy]\npoints = 30.0\n")  # training as graded
    result = CliRunner().invoke(
        main,
        ["rescore", str(out / "report.json"), "--rubric", str(stricter), "--baselines", baselines, "--format", "json"],
    )
    assert result.exit_code == 1  # below the new pass mark
    rescored = json.loads(result.stdout)

    def accuracy_points(report: dict) -> list[float]:
        return [c["points"] for s in report["scores"] for c in s["checks"] if c["id"] == "accuracy"]

    assert accuracy_points(rescored) == [2 * points for points in accuracy_points(stored)]  # the new rubric's worth
    assert rescored["max_points"] == stored["max_points"] + 2 * 15
    assert rescored["rubric"]["digest"] != stored["rubric"]["digest"]


def test_rescore_refuses_a_rubric_that_trains_differently_from_the_one_the_report_was_measured_under(tmp_path):
    """Re-scoring cannot show what another epoch budget would have trained (regrade refuses it alike)."""
    path = tmp_path / "report.json"
    path.write_text(FORMATS["json"].render(sample_report()))
    longer = tmp_path / "longer.toml"
    longer.write_text("[problems.mnist]\nmax_epochs = 50\n")
    output = exited_cleanly(CliRunner().invoke(main, ["rescore", str(path), "--rubric", str(longer)]), 2)
    assert f"{longer} changes what training measures" in output
    assert f"grade SUBMISSION --rubric {longer}" in output
    points_only = tmp_path / "points.toml"
    points_only.write_text("[accuracy]\npoints = 30.0\n")
    assert CliRunner().invoke(main, ["rescore", str(path), "--rubric", str(points_only)]).exit_code in (0, 1)


@pytest.mark.parametrize("content", ['{"hello": 1}', "[]", "null", "\u00e9"])
def test_rescore_refuses_a_file_that_is_not_a_report(tmp_path, content):
    path = tmp_path / "other.json"
    path.write_text(content, encoding="latin-1")
    output = exited_cleanly(CliRunner().invoke(main, ["rescore", str(path)]), 2)
    assert f"{path} is not a report written by grade --format json" in output
