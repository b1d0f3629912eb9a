"""The job the grader hands its worker: each task is a model's own run or a retrain compared with it (an
ablation, a what-if), known by a key of its own, and a retrain of a model that failed is not run."""

from __future__ import annotations

import dataclasses

from grader.records import Fixes, from_json, to_json
from grader.worker.job import DryRun, Job, Task, skipped_retrain
from grader.worker_files import result_names

OWN = Task("mnist", "multi", {"epochs": 2}, max_epochs=3, max_seconds=60.0)
ABLATION = dataclasses.replace(OWN, ablation=True)
WHAT_IF = dataclasses.replace(OWN, what_if=Fixes(["final_softmax", "dropout_rate"], 0.7, 0.1, 0.01))


def test_a_models_own_run_and_its_retrains_are_known_apart():
    assert [task.key for task in (OWN, ABLATION, WHAT_IF)] == [
        "mnist/multi",
        "mnist/multi+ablation",
        "mnist/multi+what-if",
    ]
    assert [task.main for task in (OWN, ABLATION, WHAT_IF)] == [True, False, False]
    assert len({result_names(task.key) for task in (OWN, ABLATION, WHAT_IF)}) == 3  # one result file each


def test_a_retrain_of_a_failed_model_says_what_to_fix_first():
    ablation, what_if = skipped_retrain(ABLATION), skipped_retrain(WHAT_IF)
    assert ablation.kind == "skipped"
    assert ablation.message == "not run: mnist/multi itself failed, so there is nothing to compare it with"
    assert ablation.hint == "fix mnist/multi first; its ablation runs once it trains"
    assert what_if.hint == "fix mnist/multi first; its what-if runs once it trains"


def test_a_job_crosses_to_the_worker_as_json_and_back_unchanged():
    job = Job(
        "/scratch/submission",
        "lab.ipynb",
        "/data",
        "/out",
        [OWN, ABLATION, WHAT_IF],
        seed=7,
        device="cpu",
        threads=2,
        n_classes={"mnist": 10},
        dry_run=DryRun(60.0, 10.0, 3.0, [{"cell": 2, "source": "x = 1"}], {"2": "mnist multi"}),
    )
    assert from_json(Job, to_json(job)) == job
