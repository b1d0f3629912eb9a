"""The trust boundary, attacked: each attack a submission that read the grader's source, with its exact
outcome. Attacks on the walls run at every isolation level this machine offers (bubblewrap, unshare, a
private user when the tests run as root, none); attacks on what the grader reads back, which is read the
same way at every level, at the strongest level and the private user's.

The principle under test: the grader trusts nothing the worker writes except predictions, and checks
those; it never writes where the worker can or follows the worker's links; and its deadlines and limits
hold whatever the student's code prints or patches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST_RUBRIC, FIXTURES, REPOSITORY, descendants_of, processes_with, write_submission

from grader.baselines import load_baselines
from grader.isolation import LEVELS, _isolation
from grader.machine_speed import FACTOR_ENV
from grader.pipeline import GradeOptions, grade, measure_submission
from grader.rubric import load_rubric
from grader.sandbox import MAX_PROCESSES

pytest.importorskip("torch")

HOSTILE = FIXTURES / "hostile"
AVAILABLE = [level for level in LEVELS if _isolation(level).tool == level]


# What the grader reads back is read the same way at every level: attacks on that channel run at the
# strongest level here and at the private user's (which is what Gradescope and most CI runners get).
READING_LEVELS = sorted({AVAILABLE[0], *(level for level in AVAILABLE if level == "user")}, key=AVAILABLE.index)
on_reading_levels = pytest.mark.parametrize("level", READING_LEVELS, indirect=True)


@pytest.fixture(params=AVAILABLE)
def level(request, monkeypatch) -> str:
    """Each test runs once per isolation level this machine offers, unless it says otherwise."""
    monkeypatch.setenv("GRADER_ISOLATION", request.param)
    return request.param


@pytest.fixture
def grade_iris(level, fake_mnist, fast_rubric):
    """Measure a corpus submission's Iris models under the fast rubric, at ``level``."""

    def run(source: str | Path, rubric=fast_rubric):
        path = source if isinstance(source, Path) else HOSTILE / source
        return measure_submission(
            path, GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1, cache=False), rubric
        )

    return run


def with_paths(tmp_path: Path, name: str, **paths: Path) -> Path:
    """A copy of a corpus submission with the paths it attacks (its defaults) replaced by real ones."""
    text = (HOSTILE / name).read_text()
    for default, actual in paths.items():
        text = text.replace(f"/tmp/{default}", str(actual))
    return write_submission(tmp_path, text, name)


def failures(measurements) -> dict[str, tuple[str, str]]:
    return {m.key: (m.failure.kind, m.failure.message) for m in measurements.models if m.failure}


def accuracies(measurements) -> dict[str, object]:
    return {m.key: m.accuracy for m in measurements.models}


def rubric_with(tmp_path: Path, section: str, line: str):
    text = FAST_RUBRIC.replace(f"[{section}]\n", f"[{section}]\n{line}\n")
    return load_rubric(write_submission(tmp_path, text, "rubric.toml"))


@on_reading_levels
def test_a_forged_report_carries_no_accuracy(grade_iris):
    measured = grade_iris("forges_its_results.py")
    assert accuracies(measured) == {"iris/single": None, "iris/multi": None}
    for key, (kind, message) in failures(measured).items():
        stem = key.replace("/", "-")
        assert kind == "malformed_result"
        assert message.startswith(f"the worker's report on {key} could not be used: {stem}.json is not a valid ")


@on_reading_levels
def test_an_ablation_claim_on_a_model_does_not_spare_it_its_predictions(grade_iris):
    measured = grade_iris("forges_quietly.py")
    assert accuracies(measured) == {"iris/single": None, "iris/multi": None}
    assert failures(measured)["iris/single"] == (
        "malformed_result",
        "the worker's predictions for iris/single could not be used: iris-single.npz cannot be opened "
        "(No such file or directory; a link is never followed)",
    )


def test_links_and_a_fifo_among_the_results_are_neither_followed_nor_waited_for(grade_iris, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("the grader's own file")
    started = time.monotonic()
    measured = grade_iris(with_paths(tmp_path, "links_its_results.py", **{"nn-grader-canary.txt": canary}))
    assert time.monotonic() - started < 60
    assert canary.read_text() == "the grader's own file"
    found = failures(measured)
    assert found["iris/single"] == (
        "malformed_result",
        "the worker's report on iris/single could not be used: iris-single.json cannot be opened "
        "(Too many levels of symbolic links; a link is never followed)",
    )
    assert found["iris/multi"] == (  # opened without blocking, and refused: a FIFO is not a regular file
        "malformed_result",
        "the worker's report on iris/multi could not be used: iris-multi.json is not a regular file",
    )


@on_reading_levels
def test_phase_events_printed_by_the_student_buy_no_time(grade_iris, tmp_path, monkeypatch):
    monkeypatch.setenv(FACTOR_ENV, "1")  # the rubric's seconds as they are, not stretched for a busy machine
    rubric = rubric_with(tmp_path, "problems.iris", "seconds_per_model = 2.0")
    started = time.monotonic()
    measured = grade_iris("floods_phase_events.py", rubric)
    elapsed = time.monotonic() - started
    assert failures(measured)["iris/single"] == (
        "timeout",
        "training ran past its budget of 2 s plus grace and was stopped; it made no progress: not one training batch "
        "went through the model",
    )
    assert elapsed < 60  # two models' budgets, grace and start-up; the flood would have run forever


@on_reading_levels
def test_a_256_mb_event_line_is_skipped_and_the_models_are_graded(grade_iris):
    measured = grade_iris("floods_one_line.py")
    assert failures(measured) == {}
    assert all(accuracy is not None for accuracy in accuracies(measured).values())


@on_reading_levels
def test_predictions_that_would_exhaust_the_graders_memory_are_refused_unread(grade_iris):
    found = failures(grade_iris("oversized_predictions.py"))
    assert found["iris/single"] == (
        "malformed_result",
        "the worker's predictions for iris/single could not be used: train.npy holds int64 of shape "
        "(1000000000000,), expected 90 class indices",
    )
    kind, message = found["iris/multi"]
    assert kind == "malformed_result"
    assert message.startswith("the worker's predictions for iris/multi could not be used: iris-multi.npz holds ")
    assert message.endswith(" allowed") and "bytes, more than the " in message  # refused by size, unopened


@on_reading_levels
def test_a_padded_report_is_refused_at_its_bound(grade_iris):
    found = failures(grade_iris("padded_report.py"))
    assert set(found) == {"iris/single", "iris/multi"}
    for kind, message in found.values():
        assert kind == "malformed_result"
        assert "bytes, more than the 1,048,576 allowed" in message


def test_shared_memory_counts_against_the_memory_limit(grade_iris, tmp_path):
    rubric = rubric_with(tmp_path, "limits", "memory_gib = 1.0")
    measured = grade_iris("shared_memory.py", rubric)
    assert failures(measured) == {
        "iris/single": ("memory", "build_model('iris', 'single') used more than 1 GiB of memory, the limit")
    }
    assert accuracies(measured)["iris/multi"] is not None


def test_disk_use_is_bounded_in_files_too(grade_iris):
    measured = grade_iris("many_files.py")
    assert failures(measured) == {
        "iris/single": ("disk", "build_model('iris', 'single') used more than 2 GiB or 10,000 files on disk, the limit")
    }
    assert accuracies(measured)["iris/multi"] is not None


def test_the_process_count_is_bounded(grade_iris, level, short_build_rubric):
    measured = grade_iris("many_processes.py", short_build_rubric)
    if _isolation(level).uid is not None:  # a private user's own limit: the kernel refuses the 257th fork
        assert failures(measured)["iris/single"][0] == "timeout"
        assert "Cannot fork" in measured.log.text
    else:  # counted from outside, and stopped
        assert failures(measured)["iris/single"] == (
            "processes",
            f"build_model('iris', 'single') used more than {MAX_PROCESSES} processes, the limit",
        )
    assert accuracies(measured)["iris/multi"] is not None
    assert _wait_until_gone("3600.0535353") == []


def test_the_graders_own_files_are_out_of_reach(grade_iris, level, tmp_path):
    course = tmp_path / "course"
    course.mkdir(mode=0o755)
    course.chmod(0o755)
    tmp_path.chmod(0o755)
    gradebook = course / "gradebook.sqlite"
    gradebook.write_text("everyone's points")
    gradebook.chmod(0o644)
    if not _isolation(level).separates_students:
        pytest.skip(f"under {level} as this user the worker writes what the grader can (see the README)")
    measured = grade_iris(with_paths(tmp_path, "writes_grader_files.py", **{"nn-grader-target.txt": gradebook}))
    assert gradebook.read_text() == "everyone's points"
    assert "OVERWROTE" not in measured.log.text


@pytest.mark.parametrize("level", [level for level in AVAILABLE if level != "none"], indirect=True)
def test_kill_9_of_the_grader_leaves_no_process_behind(level, fake_mnist, fast_rubric_file, tmp_path):
    marker = "3600.0717171"
    grade = subprocess.Popen(
        [
            *(sys.executable, "-m", "grader.cli", str(HOSTILE / "outlives_the_grader.py"), "--problem", "iris"),
            *("--data-dir", str(fake_mnist), "--rubric", str(fast_rubric_file), "--no-cache"),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker), "the submission's daemon never started"
    workers = set(processes_with("grader.worker")) & descendants_of(grade.pid)
    assert workers, "the grader's worker was not found"
    grade.send_signal(signal.SIGKILL)
    grade.wait()
    assert _wait_until_gone(marker) == []
    deadline = time.monotonic() + 10
    while workers & set(processes_with("grader.worker")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers & set(processes_with("grader.worker")) == set()


def _wait_until_gone(marker: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (found := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_model_that_carries_the_answers_earns_no_accuracy_points(fake_mnist, fast_rubric):
    """Only at the default level: what is measured here is the score, not the walls."""
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1, cache=False)
    report = grade(HOSTILE / "looks_up_the_answers.py", options, fast_rubric, load_baselines())
    checks = {check.id: check for check in report.score("iris/single").checks}
    assert report.measurements.model("iris/single").accuracy.untrained > 0.95
    assert report.measurements.model("iris/single").accuracy.test > 0.95  # it does know the answers
    assert checks["learns"].status == "fail"
    assert (checks["accuracy"].points, checks["accuracy"].max_points) == (0, 15)
