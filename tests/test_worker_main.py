"""``python -m grader.worker``: the job arrives on standard input, which the student's code then finds
empty; a submission that does not import is one failure for the whole submission; otherwise each model is
built, trained and predicted in turn, a failing model costs only itself (and its retrains, which are not
run), and every step is announced on the events pipe, ending with ``finished``.

Each test runs the real worker in a fresh Python on a submission whose code fails before any framework
loads, so it takes about a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.records import to_json
from grader.worker.job import Job, Task
from grader.worker_files import ENVIRONMENT_RESULT, SUBMISSION_RESULT, result_names

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULTS = {  # the rubric's hyperparameters, as the grader sends them
    "epochs": 1,
    "batch_size": 16,
    "optimizer": "adam",
    "learning_rate": 0.01,
    "weight_decay": 0.0,
    "early_stopping": False,
}


def task(variant: str, ablation: bool = False) -> Task:
    return Task("iris", variant, defaults=DEFAULTS, max_epochs=1, max_seconds=5.0, ablation=ablation)


def run_worker(tmp_path: Path, source: str, tasks: list[Task]) -> tuple[list[dict], Path]:
    """Run the worker on a submission of ``source``; the events it sent and its output folder."""
    submission, out = tmp_path / "submission", tmp_path / "out"
    submission.mkdir()
    out.mkdir()
    (submission / "submission.py").write_text(source)
    events_read, events_write = os.pipe()
    job = Job(str(submission), "submission.py", str(tmp_path / "data"), str(out), tasks, 0, "cpu", 1, events_write)
    worker = subprocess.Popen(
        [sys.executable, "-m", "grader.worker"],
        cwd=REPOSITORY,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(events_write,),
    )
    os.close(events_write)
    output, _ = worker.communicate(to_json(job).encode(), timeout=60)
    with os.fdopen(events_read) as events:
        sent = [json.loads(line) for line in events]
    assert worker.returncode == 0, output.decode()[-2000:]
    return sent, out


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_submission_that_does_not_import_is_one_failure_and_no_model_is_built(tmp_path):
    sent, out = run_worker(tmp_path, "import numpy\nraise RuntimeError('no data file here')\n", [task("single")])
    failure = read(out / SUBMISSION_RESULT)
    assert failure["kind"] == "import_error"
    assert failure["message"] == "importing submission.py failed: RuntimeError: no data file here"
    assert [(e["event"], e.get("phase")) for e in sent] == [("phase", "import"), ("finished", None)]
    assert sorted(p.name for p in out.iterdir()) == [SUBMISSION_RESULT]


def test_a_failing_model_costs_only_itself_and_its_ablation_is_not_run(tmp_path):
    """The student's code also finds standard input empty: the job, which came that way, is not in reach."""
    source = (
        "import sys\ndef build_model(problem, variant):\n    raise ValueError(f'{variant} read {sys.stdin.read()!r}')\n"
    )
    sent, out = run_worker(tmp_path, source, [task("single"), task("single", ablation=True), task("multi")])
    keys = ("iris/single", "iris/single+ablation", "iris/multi")
    single, ablation, multi = (read(out / result_names(key)[0]) for key in keys)
    assert single["failure"]["kind"] == "build_error"
    assert single["failure"]["message"].endswith("raised ValueError: single read ''")
    assert single["failure"]["location"]["line"] == 3
    assert ablation["failure"]["kind"] == "skipped"
    assert (
        ablation["failure"]["message"] == "not run: iris/single itself failed, so there is nothing to compare it with"
    )
    assert multi["failure"]["message"].endswith("raised ValueError: multi read ''")
    assert not any(name.endswith(".npz") for name in os.listdir(out))  # no predictions without a model
    assert (out / ENVIRONMENT_RESULT).exists()
    assert [(e["event"], e.get("phase"), e.get("task")) for e in sent] == [
        ("phase", "import", None),
        ("phase", "build", "iris/single"),
        ("result", None, "iris/single"),
        ("result", None, "iris/single+ablation"),
        ("phase", "build", "iris/multi"),
        ("result", None, "iris/multi"),
        ("finished", None, None),
    ]
