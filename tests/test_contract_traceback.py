"""A failure's traceback starts at the student's first frame: the grader's, importlib's and runpy's frames
before it are dropped, the rest kept."""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

from grader.worker.contract import failure_from

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
    assert "runpy" not in trace and "test_contract_traceback" not in trace
    assert 'script.py", line 2' in trace


def test_a_syntax_error_shows_the_students_line_and_no_frames(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    error = raised(lambda: load(tmp_path / "broken.py", "broken_tb"))
    trace = failure_from(error, tmp_path, "syntax_error", "syntax").traceback
    assert "importlib" not in trace and "broken.py" in trace and "SyntaxError" in trace


def test_a_traceback_that_never_enters_the_submission_is_kept_whole(tmp_path):
    error = raised(lambda: int("x"))
    trace = failure_from(error, tmp_path, "train_error", "training raised").traceback
    assert "test_contract_traceback" in trace


@pytest.fixture(autouse=True)
def _forget_modules():
    yield
    for name in ("submission_tb", "broken_tb"):
        sys.modules.pop(name, None)
