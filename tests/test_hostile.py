"""The acceptance corpus: broken and hostile submissions, each with the exact outcome it must get.

Every one ends in a clear, specific message; the models it does not break are still graded; and the
grader (this test process) is unharmed. Where containment depends on what the machine allows
(bubblewrap, namespaces), the test says which isolation it needs and is skipped without it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import FAST_RUBRIC, FIXTURES, SUBMISSIONS, processes_with, write_submission
from notebooks import code, image_output, write_notebook

from grader.isolation import FILES, PROCESSES, isolation
from grader.machine_speed import FACTOR_ENV
from grader.pipeline import GradeOptions, measure_submission
from grader.rubric import load_rubric

pytest.importorskip("torch")

HOSTILE = FIXTURES / "hostile"
needs = {
    feature: pytest.mark.skipif(feature not in isolation().features, reason=f"this machine cannot isolate {feature}")
    for feature in (FILES, PROCESSES)
}


@pytest.fixture
def grade_iris(fake_mnist, fast_rubric):
    """Measure a corpus submission's Iris models under the fast rubric."""

    def run(name: str | Path, rubric=fast_rubric):
        path = name if isinstance(name, Path) else HOSTILE / name
        return measure_submission(path, GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1), rubric)

    return run


def failures(measurements) -> dict[str, tuple[str, str]]:
    return {m.key: (m.failure.kind, m.failure.message) for m in measurements.models if m.failure}


def graded(measurements) -> list[str]:
    return [m.key for m in measurements.models if m.failure is None and m.accuracy is not None]


def test_a_syntax_error_in_a_notebook_cell(grade_iris):
    measured = grade_iris("syntax_error_in_cell.ipynb")
    failure = measured.failure
    assert failure.message.startswith("syntax_error_in_cell.ipynb, cell 3, line 3: SyntaxError: '(' was never closed")
    assert (failure.location.cell, failure.location.line) == (3, 3)
    assert failure.location.code == "return nn.Sequential(nn.Linear(n_in, 3)"


def test_importing_a_missing_package(grade_iris):
    failure = grade_iris("missing_package.py").failure
    assert failure.message == (
        "importing missing_package.py failed: ModuleNotFoundError: "
        "No module named 'torch_lightning_bolts_that_does_not_exist'"
    )
    assert failure.location.line == 3
    assert failure.hint.startswith("the grader does not have the package 'torch_lightning_bolts_that_does_not_exist'")


def test_a_builder_under_another_name_is_graded_free_form_and_named(grade_iris):
    failure = grade_iris("no_build_model.py").failure
    assert failure.message == "no_build_model.py ran, but built no model the grader could grade"
    assert failure.hint.startswith("make_model(problem, variant) looks like build_model under another name")


def test_build_model_with_the_wrong_signature(grade_iris):
    failure = grade_iris("wrong_signature.py").failure
    assert failure.message == "build_model(problem) cannot be called as build_model(problem, variant)"
    assert (failure.location.file, failure.location.line) == ("wrong_signature.py", 6)


def test_returning_something_that_is_not_a_model(grade_iris):
    assert failures(grade_iris("returns_non_model.py")) == {
        key: ("not_a_model", f"build_model('iris', '{variant}'): returned list, not a model")
        for key, variant in (("iris/single", "single"), ("iris/multi", "multi"))
    }


def test_a_model_with_the_wrong_input_or_output_size(grade_iris):
    found = failures(grade_iris("wrong_sizes.py"))
    assert found["iris/single"][0] == "bad_input"
    assert found["iris/single"][1].startswith(
        "build_model('iris', 'single'): the model does not accept inputs of shape ('N', 4): RuntimeError:"
    )
    assert found["iris/multi"] == (
        "bad_output",
        "build_model('iris', 'multi'): the model outputs shape (4, 2) for 4 samples; it must output (4, 3): "
        "one score per class",
    )


def test_a_nan_loss_fails_that_model_and_the_other_trains(grade_iris):
    measured = grade_iris("nan_loss.py")
    assert failures(measured) == {"iris/single": ("nan_loss", "the training loss became nan in epoch 1")}
    assert graded(measured) == ["iris/multi"]


def test_endless_loops_in_build_model_and_in_train_are_stopped(grade_iris, tmp_path, monkeypatch, short_build_rubric):
    monkeypatch.setenv(FACTOR_ENV, "1")  # the rubric's seconds as they are, not stretched for a busy machine
    assert failures(grade_iris(SUBMISSIONS / "hangs_in_build.py", short_build_rubric))["iris/single"] == (
        "timeout",
        "build_model('iris', 'single') ran past its time limit of 10 s and was stopped",
    )
    text = FAST_RUBRIC.replace("[problems.iris]\n", "[problems.iris]\nseconds_per_model = 2.0\n")
    rubric = load_rubric(write_submission(tmp_path, text, "rubric.toml"))
    assert failures(grade_iris(SUBMISSIONS / "slow_training_loop.py", rubric))["iris/single"] == (
        "timeout",
        "training ran past its budget of 2 s plus grace and was stopped; it made no progress: not one training batch "
        "went through the model",
    )


def test_a_memory_bomb_is_stopped_at_the_memory_limit(grade_iris, tmp_path):
    text = FAST_RUBRIC.replace("[limits]\n", "[limits]\nmemory_gib = 1.5\n")
    measured = grade_iris("memory_bomb.py", load_rubric(write_submission(tmp_path, text, "rubric.toml")))
    assert failures(measured) == {
        "iris/single": ("memory", "build_model('iris', 'single') used more than 1.5 GiB of memory, the limit")
    }
    assert graded(measured) == ["iris/multi"]


@needs[PROCESSES]
def test_a_fork_bomb_leaves_no_process_behind(grade_iris):
    measured = grade_iris("fork_bomb.py")
    assert graded(measured) == ["iris/single", "iris/multi"]
    deadline = time.monotonic() + 5
    while processes_with("3600.0424242") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with("3600.0424242") == []


@needs[PROCESSES]
def test_a_worker_that_kills_its_parent_cannot_reach_the_grader(grade_iris):
    measured = grade_iris("kills_the_grader.py")
    # This test process is the grader: still here. What the worker's kill hit depends on the walls:
    # under bubblewrap its parent is the sandbox's init, which ignores it, and grading goes on; under
    # unshare the worker is the init of its PID namespace, has no parent there (0), and signals itself.
    if isolation().tool == "bubblewrap":
        assert graded(measured) == ["iris/single", "iris/multi"]
    else:
        assert (
            measured.failure.message == "the worker was killed by SIGKILL (from outside the worker: often the "
            "system's out-of-memory killer) while importing kills_the_grader.py"
        )
    assert f"PARENT {os.getpid()}" not in measured.log.text


def test_a_segfault_fails_that_model_and_the_rest_is_graded(grade_iris):
    measured = grade_iris("segfault.py")
    assert failures(measured) == {
        "iris/multi": (
            "crash",
            "the worker was killed by a segmentation fault (a crash in native code) during "
            "build_model('iris', 'multi')",
        )
    }
    assert graded(measured) == ["iris/single"]


def test_100_mb_of_output_is_kept_to_its_head_and_tail(grade_iris):
    measured = grade_iris("huge_output.py")
    assert graded(measured) == ["iris/single", "iris/multi"]
    assert measured.log.total_bytes > 100_000_000 and measured.log.truncated
    assert len(measured.log.text) < 100_000 and "LAST LINE" in measured.log.text


@needs[FILES]
def test_writing_outside_the_scratch_directory_is_refused(grade_iris):
    measured = grade_iris("writes_outside.py")
    assert graded(measured) == ["iris/single", "iris/multi"]
    log = measured.log.text
    assert "REFUSED grader Read-only file system" in log
    assert "WROTE tmp" in log and "WROTE scratch" in log  # its own private /tmp, and its scratch directory
    import grader

    assert not (Path(grader.__file__).parent / "pwned-by-a-submission.txt").exists()
    assert not Path("/tmp/pwned-by-a-submission.txt").exists()


def test_a_network_connection_attempt_gets_nowhere(grade_iris):
    measured = grade_iris("network.py")
    assert graded(measured) == ["iris/single", "iris/multi"]
    if "network" in measured.environment.isolated:
        assert "NETWORK refused: URLError" in measured.log.text


@needs[FILES]
def test_the_test_labels_are_nowhere_in_reach(grade_iris, fake_mnist):
    measured = grade_iris("reads_test_labels.py")
    line = next(line for line in measured.log.text.splitlines() if line.startswith("FOUND"))
    assert line == "FOUND []"
    assert (fake_mnist / "t10k-labels-idx1-ubyte.gz").exists()  # it is there, but not for the submission


def test_a_notebook_without_code_cells(grade_iris):
    failure = grade_iris("no_code_cells.ipynb").failure
    assert failure.message == "no_code_cells.ipynb holds no code: there is nothing to grade"


def test_an_empty_file(grade_iris):
    assert grade_iris("empty_file.py").failure.message == "empty_file.py holds no code: there is nothing to grade"


def test_a_50_mb_notebook_of_embedded_images_is_graded_from_its_code(grade_iris, tmp_path):
    plots = [image_output(5_000_000) for _ in range(10)]
    source = "from torch import nn\n\ndef build_model(problem, variant):\n    return nn.Linear(4, 3)"
    path = write_notebook(tmp_path / "plots.ipynb", code(source, outputs=plots))
    assert path.stat().st_size > 50_000_000
    assert graded(grade_iris(path)) == ["iris/single", "iris/multi"]


def test_non_utf8_source_is_a_clear_error_naming_the_file_and_line(grade_iris):
    failure = grade_iris("non_utf8.py").failure
    assert failure.message.startswith("importing non_utf8.py failed: SyntaxError: (unicode error) 'utf-8' codec")
    assert (failure.location.file, failure.location.line) == ("non_utf8.py", 1)
