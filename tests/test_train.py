"""The worker boundary: whatever a submission does, the grader goes on and says what happened."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUBMISSIONS, write_submission

from grader.pipeline import GradeOptions, measure_submission
from grader.rubric import Rubric

pytest.importorskip("torch")


def measure(name_or_path: str | Path, options: GradeOptions, rubric: Rubric):
    path = name_or_path if isinstance(name_or_path, Path) else SUBMISSIONS / name_or_path
    return measure_submission(path, options, rubric)


def test_a_correct_submission_trains_every_model_and_reports_accuracies(iris_only, fast_rubric):
    measurements = measure("torch_small.py", iris_only, fast_rubric)
    assert measurements.failure is None
    assert [m.key for m in measurements.models] == ["iris/single", "iris/multi"]
    for model in measurements.models:
        assert model.failure is None
        assert model.accuracy is not None and model.accuracy.test > 0.6
        assert model.run is not None and len(model.run.history) == model.run.epochs_run == 20
        assert model.description is not None and model.description.framework == "torch"


def test_an_exception_in_build_model_fails_that_model_only_and_points_at_the_line(iris_only, fast_rubric):
    measurements = measure("raises_in_build.py", iris_only, fast_rubric)
    single, multi = measurements.models
    assert single.failure is None and single.accuracy is not None
    assert multi.failure is not None and multi.failure.kind == "build_error"
    assert "build_model('iris', 'multi') raised TypeError" in multi.failure.message
    assert multi.failure.location is not None
    assert (multi.failure.location.file, multi.failure.location.line) == ("raises_in_build.py", 9)
    assert "nn.ReLU," in multi.failure.location.code


def test_sys_exit_at_import_is_a_submission_failure_that_says_how_to_fix_it(iris_only, fast_rubric):
    measurements = measure("exits_at_import.py", iris_only, fast_rubric)
    assert measurements.failure is not None
    assert measurements.failure.message == "exits_at_import.py called sys.exit(0) while being imported"
    assert '__name__ == "__main__"' in measurements.failure.hint
    assert "training my models..." in measurements.log.text


def test_sys_exit_and_os_exit_inside_models_are_contained_per_model(iris_only, fast_rubric):
    measurements = measure("misbehaves_per_model.py", iris_only, fast_rubric)
    single, multi = measurements.models
    assert single.failure is not None and single.failure.kind == "exit"
    assert single.failure.message == "sys.exit(0) was called during build_model('iris', 'single')"
    assert multi.failure is not None and multi.failure.kind == "crash"
    assert multi.failure.message.startswith("the worker exited with code 1")
    assert multi.failure.message.endswith("during training")


def test_the_worker_never_receives_test_labels(tmp_path, iris_only, fast_rubric):
    source = """
import os, pathlib
seen = sorted(str(p.relative_to(pathlib.Path("..").resolve())) for p in pathlib.Path("..").resolve().rglob("*.npy"))
print("FILES", seen)
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
"""
    measurements = measure(write_submission(tmp_path, source), iris_only, fast_rubric)
    printed = next(line for line in measurements.log.text.splitlines() if line.startswith("FILES"))
    assert "data/iris/x_test.npy" in printed
    assert "y_test" not in printed


def test_the_worker_gets_none_of_the_graders_secrets(tmp_path, iris_only, fast_rubric, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "very-secret")
    source = """
import os
print("TOKEN", os.environ.get("GITHUB_TOKEN"), "HOME-IS-SCRATCH", os.getcwd() == os.environ["HOME"])
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
"""
    measurements = measure(write_submission(tmp_path, source), iris_only, fast_rubric)
    assert "TOKEN None HOME-IS-SCRATCH True" in measurements.log.text


def test_the_students_copy_is_private_and_the_original_is_untouched(tmp_path, iris_only, fast_rubric):
    source = """
from pathlib import Path
Path(__file__).write_text("overwritten")
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
"""
    path = write_submission(tmp_path, source)
    measure(path, iris_only, fast_rubric)
    assert path.read_text() == source


def test_same_seed_gives_identical_measurements(both_problems, fast_rubric):
    first = measure("torch_small.py", both_problems, fast_rubric)
    second = measure("torch_small.py", both_problems, fast_rubric)
    for a, b in zip(first.models, second.models, strict=True):
        assert a.accuracy == b.accuracy
        assert [(e.loss, e.val_loss, e.accuracy) for e in a.run.history] == [
            (e.loss, e.val_loss, e.accuracy) for e in b.run.history
        ]


def test_threads_are_pinned_in_the_worker(tmp_path, fast_rubric, fake_mnist):
    source = """
import os, torch
print("THREADS", os.environ["OMP_NUM_THREADS"], torch.get_num_threads())
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
"""
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1)
    measurements = measure(write_submission(tmp_path, source), options, fast_rubric)
    assert "THREADS 1 1" in measurements.log.text


def test_a_students_own_training_loop_is_used_and_measured_by_the_grader(iris_only, fast_rubric):
    measurements = measure("own_training_loop.py", iris_only, fast_rubric)
    for model in measurements.models:
        assert model.failure is None
        assert model.run.stop_reason == "custom_loop" and model.run.plan.custom_loop
        assert len(model.run.history) == 20  # the loss curve it returned, one value per epoch
        assert model.accuracy.test > 0.6


def test_an_error_in_callbacks_is_attributed_to_callbacks(tmp_path, iris_only, fast_rubric):
    source = """
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
def callbacks(problem, variant):
    return [EarlyStopping(patience=3)]
"""
    measurements = measure(write_submission(tmp_path, source), iris_only, fast_rubric)
    failure = measurements.models[0].failure
    assert failure.kind == "callbacks_error"
    assert failure.message == "callbacks('iris', 'single') raised NameError: name 'EarlyStopping' is not defined"
    assert (failure.location.file, failure.location.line) == ("submission.py", 6)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the death signal is Linux's")
def test_killing_the_grader_kills_its_worker_too(tmp_path, fake_mnist, fast_rubric_file):
    """Whatever ends the grader (Ctrl-C, SIGKILL, a crash), no worker is left behind training for nobody."""
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grader.cli",
            str(SUBMISSIONS / "hangs_in_build.py"),
            "--problem",
            "iris",
            "--data-dir",
            str(fake_mnist),
            "--rubric",
            str(fast_rubric_file),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = _wait_for_child(grader.pid)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def _wait_for_child(pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [
            int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
        if children:
            return children[0]
        time.sleep(0.1)
    raise AssertionError("the grader started no worker")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its entry waits to be collected
