"""The student contract, read from an imported submission: ``build_model`` and the optional extras, and
every way of breaking it a failure that names the file and line and says what to write instead. A
failure's traceback starts at the student's first frame: the grader's, importlib's and runpy's frames
before it are dropped, the rest kept.

(Which ``train`` is taken for the training hook is specified with loading, in test_load.py.)"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path
from types import ModuleType

import pytest

from grader.errors import UngradableError
from grader.worker.contract import (
    describe,
    failure_from,
    import_submission,
    loss_in_source,
    out_of_memory,
    read_contract,
)

THIS_FILE = Path(__file__).name
STUDENT = """
import json


def helper(x):
    return json.loads(x)


def build_model(problem, variant):
    return helper("{not json")
"""


def load(path: Path, name: str):
    """The submission imported as the grader imports it: through importlib, from a grader frame."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raised(call) -> BaseException:
    try:
        call()
    except Exception as error:  # what the worker catches
        return error
    raise AssertionError("nothing raised")


def test_the_traceback_starts_at_the_students_first_frame_and_keeps_library_frames_after_it(tmp_path):
    (tmp_path / "submission.py").write_text(STUDENT)
    module = load(tmp_path / "submission.py", "submission_tb")
    error = raised(lambda: module.build_model("iris", "single"))
    failure = failure_from(error, tmp_path, "build_error", "build_model raised")
    frames = [line for line in failure.traceback.splitlines() if line.lstrip().startswith("File ")]
    assert "submission.py" in frames[0] and "build_model" in frames[0]
    assert not any(__file__ in frame or "importlib" in frame for frame in frames)
    assert any("json" in frame for frame in frames[1:])  # json's own frames, after the student's, stay
    assert failure.traceback.splitlines()[-1].startswith("json.decoder.JSONDecodeError")


def test_an_error_at_import_drops_importlib_and_runpy_frames(tmp_path):
    (tmp_path / "script.py").write_text("x = 1\nraise ValueError('at import')\n")
    error = raised(lambda: runpy.run_path(str(tmp_path / "script.py")))
    trace = failure_from(error, tmp_path, "import_error", "importing raised").traceback
    assert "runpy" not in trace and THIS_FILE not in trace
    assert 'script.py", line 2' in trace


def test_a_syntax_error_shows_the_students_line_and_no_frames(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    error = raised(lambda: load(tmp_path / "broken.py", "broken_tb"))
    trace = failure_from(error, tmp_path, "syntax_error", "syntax").traceback
    assert "importlib" not in trace and "broken.py" in trace and "SyntaxError" in trace


def test_a_traceback_that_never_enters_the_submission_is_kept_whole(tmp_path):
    error = raised(lambda: int("x"))
    trace = failure_from(error, tmp_path, "train_error", "training raised").traceback
    assert THIS_FILE in trace


@pytest.fixture(autouse=True)
def _forget_modules():
    yield
    for name in ("submission_tb", "broken_tb", "loop_loss"):
        sys.modules.pop(name, None)


def module_of(source: str) -> ModuleType:
    module = ModuleType("submission")
    exec(compile(source, "submission.py", "exec"), module.__dict__)
    return module


def refusal(source: str) -> UngradableError:
    with pytest.raises(UngradableError) as refused:
        read_contract(module_of(source), "submission.py")
    return refused.value


def test_a_submission_without_build_model_is_told_what_to_define():
    failure = refusal("def build(problem, variant):\n    return None\n").failure
    assert (failure.kind, failure.message) == ("contract", "submission.py defines no build_model function")
    assert failure.hint.startswith("define  def build_model(problem, variant):  returning an untrained model")


def test_a_build_model_that_is_not_a_function_is_named_with_its_type():
    failure = refusal("build_model = {'iris': None}\n").failure
    assert failure.message == "build_model in submission.py is a dict, not a function"
    assert failure.hint == "write  def build_model(problem, variant):"


def test_callbacks_of_the_wrong_shape_point_at_their_line():
    failure = refusal(
        "def build_model(problem, variant):\n    return None\n\n\ndef callbacks(problem):\n    return []\n"
    ).failure
    assert failure.message == "callbacks(problem) cannot be called as callbacks(problem, variant)"
    assert (failure.location.file, failure.location.line) == ("submission.py", 5)


def test_the_contracts_parts_are_read_as_the_student_wrote_them():
    student = read_contract(
        module_of(
            "HYPERPARAMS = {'iris': {'epochs': 5}}\n"
            "def build_model(problem, variant, *, seed=0):\n    return None\n"
            "def callbacks(problem, variant):\n    return []\n"
        ),
        "submission.py",
    )
    assert student.hyperparams == {"iris": {"epochs": 5}}
    assert student.callbacks is not None and student.train is None and student.notes == []


@pytest.fixture
def importing(monkeypatch, tmp_path):
    """Import ``source`` as the worker imports a submission, leaving this process's path and modules as they
    were; returns the failure it is refused with."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "submission", raising=False)

    def run(source: str):
        (tmp_path / "submission.py").write_text(source)
        with pytest.raises(UngradableError) as refused:
            import_submission(tmp_path, "submission.py")
        sys.modules.pop("submission", None)
        return refused.value.failure

    return run


def test_a_helper_module_beside_the_submission_imports_normally(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "submission", raising=False)
    monkeypatch.delitem(sys.modules, "layers_of_mine", raising=False)
    (tmp_path / "layers_of_mine.py").write_text("SIZE = 7\n")
    (tmp_path / "submission.py").write_text(
        "from layers_of_mine import SIZE\nif __name__ == '__main__':\n    raise SystemExit('ran as a script')\n"
        "def build_model(problem, variant):\n    return SIZE\n"
    )
    assert import_submission(tmp_path, "submission.py").build_model("iris", "single") == 7


def test_sys_exit_at_import_says_where_to_put_the_code_that_runs_things(importing):
    failure = importing("import sys\nsys.exit(2)\n")
    assert (failure.kind, failure.message) == ("import_error", "submission.py called sys.exit(2) while being imported")
    assert failure.hint == 'put the code that runs things under  if __name__ == "__main__":'
    assert (failure.location.file, failure.location.line) == ("submission.py", 2)


def test_a_missing_package_is_named_with_what_the_grader_has(importing):
    failure = importing("import sklearnx\n")
    assert failure.message == "importing submission.py failed: ModuleNotFoundError: No module named 'sklearnx'"
    assert failure.hint.startswith("the grader does not have the package 'sklearnx'; use only the standard library")


def test_running_out_of_memory_at_import_is_a_memory_failure(importing):
    failure = importing("raise MemoryError()\n")
    assert failure.kind == "memory"
    assert failure.message.startswith("importing submission.py used more than ")
    assert failure.hint == "use a smaller model or batch size, and do not keep copies of the data"


@pytest.mark.parametrize(
    ("error", "is_memory"),
    [
        (MemoryError(), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't allocate memory"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    ],
)
def test_a_frameworks_own_words_for_a_failed_allocation_are_out_of_memory(error, is_memory):
    assert out_of_memory(error) is is_memory


def test_an_error_is_described_by_its_type_and_first_line():
    assert describe(ValueError("bad shape\nmore detail")) == "ValueError: bad shape"
    assert describe(KeyError()) == "KeyError"


@pytest.mark.parametrize(
    ("loss", "expects"),
    [
        ("nn.CrossEntropyLoss()", "logits"),
        ("F.nll_loss", "log_probabilities"),
        ("keras.losses.SparseCategoricalCrossentropy(from_logits=True)", "logits"),
        ("nn.MSELoss()", None),
    ],
)
def test_the_loss_a_students_own_loop_names_is_read_from_its_source(tmp_path, loss, expects):
    (tmp_path / "loop.py").write_text(f"def train(model, data, hparams):\n    loss = {loss}\n")
    assert loss_in_source(load(tmp_path / "loop.py", "loop_loss").train) == expects
