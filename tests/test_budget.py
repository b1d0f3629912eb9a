"""Training budgets in the student's units: stretched by the machine's measured slowness, a slow loop that
makes progress graded on the epochs it finished, an endless one stopped and told so, forged progress capped."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from conftest import FAST_RUBRIC, SUBMISSIONS, write_submission

from grader.machine_speed import FACTOR_ENV
from grader.pipeline import measure_submission
from grader.rubric import Rubric, load_rubric
from grader.train import HARD_CAP, stretched, stretched_dry_run
from grader.worker.job import DryRun, Task

pytest.importorskip("torch")


def rubric_with_budget(tmp_path: Path, seconds: float) -> Rubric:
    text = FAST_RUBRIC.replace("[problems.iris]\n", f"[problems.iris]\nseconds_per_model = {seconds}\n")
    return load_rubric(write_submission(tmp_path, text, "rubric.toml"))


def by_key(measurements):
    return {model.key: model for model in measurements.models}


def test_budgets_are_stretched_by_the_factor():
    task = Task("iris", "multi", {}, 20, 60.0)
    assert [(t.max_seconds, t.machine_factor) for t in stretched([task], 1.5)] == [(90.0, 1.5)]


def test_a_free_form_notebooks_dry_run_is_stretched_like_training():
    """Its cells run slower on a busy machine too: a cell interrupted for that would cost the student points."""
    dry_run = DryRun(seconds=120.0, cell_seconds=30.0, train_seconds=10.0, cells=[{"cell": 1, "source": "x = 1"}])
    stretched_run = stretched_dry_run(dry_run, 2.0)
    assert stretched_run is not None
    assert (stretched_run.seconds, stretched_run.cell_seconds, stretched_run.train_seconds) == (240.0, 60.0, 20.0)
    assert stretched_run.cells == dry_run.cells
    assert stretched_dry_run(None, 2.0) is None  # a notebook written to the contract has no dry run


def test_a_prediction_that_never_returns_is_stopped_at_the_stretched_limit_and_says_where_to_look(
    iris_only, monkeypatch, short_build_rubric
):
    """Building and predicting slow down on a busy machine like training: their limit is stretched the same way."""
    monkeypatch.setenv(FACTOR_ENV, "1.5")
    measured = measure_submission(SUBMISSIONS / "hangs_in_prediction.py", iris_only, short_build_rubric)
    single, multi = by_key(measured)["iris/single"], by_key(measured)["iris/multi"]
    assert single.failure is not None and single.failure.kind == "timeout"
    assert single.failure.message == (
        "prediction ran past its time limit of 15 s (10 s, x1.5 for this machine's speed) and was stopped"
    )
    assert "forward pass" in single.failure.hint and "build_model" not in single.failure.hint
    assert single.description is not None  # what the worker wrote before training survives
    assert multi.failure is None and multi.accuracy is not None


@pytest.mark.parametrize(
    "submission",
    [
        "slow_own_loop.py",  # PyTorch: counted by the model's forward passes with gradients on
        pytest.param("slow_keras_tape_loop.py", marks=pytest.mark.keras),  # Keras: by GradientTape's steps
    ],
)
def test_a_slow_own_loop_that_makes_progress_is_graded_on_the_epochs_it_finished(
    tmp_path, iris_only, monkeypatch, submission
):
    if submission.startswith("slow_keras"):
        pytest.importorskip("keras")
    monkeypatch.setenv(FACTOR_ENV, "1.5")
    events: list[dict] = []
    options = dataclasses.replace(iris_only, on_event=events.append)
    measured = measure_submission(SUBMISSIONS / submission, options, rubric_with_budget(tmp_path, 1.0))
    trains = [e for e in events if e.get("event") == "phase" and e.get("phase") == "train"]
    assert trains and all(e["budget_s"] == 1.5 for e in trains)  # the display shows the stretched budget
    for model in measured.models:
        assert model.failure is None, model.failure
        run = model.run
        assert (run.stop_reason, run.machine_factor, run.plan.max_seconds) == ("time_budget", 1.5, 1.5)
        assert 1 <= run.epochs_run < 30
        assert 1.5 <= run.seconds < 1.5 + 4.0  # stopped by the worker at the budget, before the parent's grace
        warning = run.warnings[-1]
        assert warning.startswith(f"training stopped at the budget after {run.epochs_run} of 30 epochs (")
        assert "x1.5 for this machine's speed" in warning and "s an epoch on this machine" in warning
        assert model.accuracy is not None  # graded: its predictions came back
    assert "batch failed" not in measured.log.text  # the stop went past the student's except Exception
    multi = by_key(measured)["iris/multi"]
    assert multi.ablation is not None and multi.ablation.failure is None


def test_an_endless_own_loop_is_stopped_keeps_what_needs_no_training_and_skips_its_ablation(
    tmp_path, iris_only, monkeypatch
):
    monkeypatch.setenv(FACTOR_ENV, "1.5")
    measured = measure_submission(SUBMISSIONS / "endless_own_loop.py", iris_only, rubric_with_budget(tmp_path, 1.0))
    single, multi = by_key(measured)["iris/single"], by_key(measured)["iris/multi"]
    assert single.failure is None and single.accuracy is not None
    assert multi.failure is not None and multi.failure.kind == "timeout"
    assert multi.failure.message == (
        "training ran past its budget of 1.5 s (1 s, x1.5 for this machine's speed) plus grace and was stopped; "
        "it made no progress: not one training batch went through the model"
    )
    assert "loop that never ends" in multi.failure.hint
    # What needs no finished training survives: the layers (dropout), the probes, the plan and its warnings.
    assert [layer.kind for layer in multi.description.layers] == ["dense", "activation", "dropout", "dense"]
    assert multi.probes is not None and multi.probes.affine is False
    assert multi.run is not None and (multi.run.stop_reason, multi.run.epochs_run) == ("killed", 0)
    assert multi.run.plan.custom_loop and multi.run.history == []
    assert any("'early_stoping'" in warning for warning in multi.run.warnings)
    # Its ablation is not trained: a fresh worker is never started for it.
    assert multi.ablation is not None and multi.ablation.failure.kind == "skipped"
    assert multi.ablation.run is None and multi.ablation.description is None
    assert measured.log.text.count("--- worker restarted ---") == 0


def test_a_loop_that_stops_making_progress_is_stopped_and_says_when_it_last_did(tmp_path, iris_only, monkeypatch):
    monkeypatch.setenv(FACTOR_ENV, "1")
    source = """
import time, torch
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
def train(model, data, hparams):
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # two epochs of four batches: 1.6 s
        for start in range(0, len(x), 23):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[start : start + 23]), y[start : start + 23]).backward()
            optimizer.step()
            time.sleep(0.2)
    while True:
        pass
"""
    measured = measure_submission(write_submission(tmp_path, source), iris_only, rubric_with_budget(tmp_path, 3.0))
    failure = by_key(measured)["iris/single"].failure
    assert failure.kind == "timeout"
    prefix = "training ran past its budget of 3 s plus grace and was stopped; it made no progress in the last "
    assert failure.message.startswith(prefix) and failure.message.endswith(" s, after 1 finished epochs")
    assert 3 <= int(failure.message.removeprefix(prefix).split()[0]) <= 7  # its last report (1 s) to the kill (7 s)
    assert "loop that never ends" in failure.hint


def test_the_ablation_of_a_model_that_failed_in_the_worker_is_not_trained(tmp_path, iris_only):
    source = """
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3)) if variant == "single" else nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                                                                                    nn.Dropout(0.2), nn.Linear(8, 3))
def train(model, data, hparams):
    print("TRAINING", len(model))
    if len(model) > 1:
        raise ValueError("broken")
"""
    measured = measure_submission(write_submission(tmp_path, source), iris_only, load_rubric_fast(tmp_path))
    multi = by_key(measured)["iris/multi"]
    assert multi.failure.kind == "train_error"
    assert multi.ablation.failure.kind == "skipped"
    assert multi.ablation.failure.message == "not run: iris/multi itself failed, so there is nothing to compare it with"
    assert measured.log.text.count("TRAINING 4") == 1  # the multi-layer model's train() ran once, not again


def test_forged_progress_buys_no_time_past_the_hard_cap(tmp_path, iris_only, monkeypatch):
    monkeypatch.setenv(FACTOR_ENV, "1")
    source = """
import gc, time
from torch import nn
def build_model(problem, variant):
    return nn.Sequential(nn.Linear(4, 3))
def train(model, data, hparams):
    events = next(o for o in gc.get_objects() if type(o).__name__ == "Events")
    epochs = 0
    while True:  # no batch through the model, only claims that there were
        epochs += 1
        events.send("progress", task="iris/single", samples=90 * epochs, epochs=epochs)
        time.sleep(0.2)
"""
    rubric = rubric_with_budget(tmp_path, 1.0)
    started = time.monotonic()
    measured = measure_submission(write_submission(tmp_path, source), iris_only, rubric)
    elapsed = time.monotonic() - started
    failure = by_key(measured)["iris/single"].failure
    assert failure.kind == "timeout"
    assert failure.message.startswith(
        f"training ran past its budget of 1 s plus grace and was stopped at {HARD_CAP:g} times its budget, still "
        "training, after "
    )
    assert "do not catch BaseException" in failure.hint
    # Stopped at 3 x 1 s + 4 s of grace; without the cap, only the worker's total deadline (minutes) would.
    assert elapsed < 60


def load_rubric_fast(tmp_path: Path) -> Rubric:
    return load_rubric(write_submission(tmp_path, FAST_RUBRIC, "rubric.toml"))
