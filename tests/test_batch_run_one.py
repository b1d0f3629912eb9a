"""One entry of a batch, graded in a ``grade`` process of its own: what it printed and how it exited become
the entry's status (graded, ungradable, timed out, error) with a reason a person can read; past its time,
or once the batch is cancelled, it is killed with everything it started; it holds a lifeline to the batch;
and the folder the batch runs in is not on its path.

The ``grade`` process here is a stand-in: a ``grader`` package first on its path whose ``cli`` runs the
Python source in ``$STAND_IN``, so each test says exactly what grading prints and how it ends."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from grader import processes
from grader.batch.run_one import grade_entry
from grader.lifeline import LIFELINE_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

REPORT = {
    "status": "graded",
    "points": 81.5,
    "max_points": 100,
    "measurements": {"failure": None, "models": [{"run": {"device": "cuda"}}, {"run": None}]},
}
UNGRADABLE = {
    "status": "ungradable",
    "points": 0,
    "max_points": 100,
    "measurements": {"failure": {"message": "no build_model"}},
}


@pytest.fixture
def grade(tmp_path, monkeypatch):
    """``grade(script, timeout=..., cancelled=...)``: grade an entry with the stand-in running ``script``."""
    package = tmp_path / "stand-in" / "grader"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import os, sys, json, time\nexec(os.environ['STAND_IN'])\n")
    course = tmp_path / "course"
    course.mkdir()
    monkeypatch.chdir(course)

    def run(script: str, timeout: float = 30.0, cancelled=lambda: False):
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(package.parent), "STAND_IN": script}
        return grade_entry(Path("entry.py"), ["--quick"], timeout, env=env, cancelled=cancelled)

    return run


def test_a_printed_report_is_the_entry_graded_with_its_points_and_device(grade):
    outcome = grade(f"print(json.dumps({REPORT!r})); sys.exit(1)")  # below the pass mark: still graded
    assert (outcome.status, outcome.points, outcome.max_points, outcome.device) == ("graded", 81.5, 100, "cuda")
    assert json.loads(outcome.report_json) == REPORT


def test_the_grade_command_is_given_the_entry_json_output_and_the_batchs_options(grade):
    outcome = grade("print(json.dumps({'status': 'graded', 'points': 1, 'argv': sys.argv[1:]}))")
    assert json.loads(outcome.report_json)["argv"] == ["entry.py", "--format", "json", "--no-progress", "--quick"]


def test_an_ungradable_report_carries_its_failure(grade):
    outcome = grade(f"print(json.dumps({UNGRADABLE!r})); sys.exit(3)")
    assert (outcome.status, outcome.error, outcome.points) == ("ungradable", "no build_model", 0)


def test_ungradable_before_any_report_says_what_the_grader_said_last(grade):
    outcome = grade("print('error: MNIST not found in /data', file=sys.stderr); sys.exit(3)")
    assert (outcome.status, outcome.error, outcome.report_json) == ("ungradable", "error: MNIST not found in /data", "")


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("print('Traceback ...'); sys.exit(0)", "the grader printed something that is not a report (exit 0)"),
        ("print('Traceback ...\\nKeyError: x', file=sys.stderr); sys.exit(4)", "grade exited with code 4: KeyError: x"),
        ("os.kill(os.getpid(), 9)", "grade exited with signal SIGKILL"),
    ],
)
def test_a_grader_that_breaks_is_an_error_with_its_last_words(grade, script, error):
    outcome = grade(script)
    assert (outcome.status, outcome.error, outcome.report_json) == ("error", error, "")


def test_past_its_time_the_grading_is_killed_with_everything_it_started(grade, tmp_path):
    pids = tmp_path / "pids"
    started = time.monotonic()
    outcome = grade(
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pids)!r}, 'w').write(str(child.pid)); time.sleep(60)",
        timeout=1.0,
    )
    assert (outcome.status, outcome.error) == ("timed_out", "grading took longer than 1 s and was stopped")
    assert time.monotonic() - started < 5
    child = int(pids.read_text())
    assert not any(p.pid == child and p.state != "Z" for p in processes.snapshot())


def test_a_cancelled_batch_stops_the_grading(grade):
    since = time.monotonic()
    outcome = grade("time.sleep(60)", cancelled=lambda: time.monotonic() - since > 0.5)
    assert (outcome.status, outcome.error) == ("error", "grading was cancelled")
    assert outcome.seconds < 5


def test_the_grading_holds_a_lifeline_to_the_batch(grade):
    outcome = grade(
        f"fd = int(os.environ[{LIFELINE_ENV!r}]); os.set_blocking(fd, False)\n"
        "try:\n    os.read(fd, 1); state = 'closed'\nexcept BlockingIOError:\n    state = 'held'\n"
        "print(json.dumps({'status': 'graded', 'points': 1, 'lifeline': state}))"
    )
    assert json.loads(outcome.report_json)["lifeline"] == "held"  # open, and the batch's end closes it


def test_the_folder_the_batch_runs_in_is_not_on_the_graders_path(grade, tmp_path):
    """A course folder holds the roster and the gradebook: a file there named like a module the grader
    imports must not be what it imports."""
    shadow = tmp_path / "course" / "grader"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("")
    (shadow / "cli.py").write_text("print('the course folder was imported')\n")
    outcome = grade("print(json.dumps({'status': 'graded', 'points': 1}))")
    assert outcome.status == "graded"
