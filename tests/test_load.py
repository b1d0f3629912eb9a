"""Load stage: which files make a submission, and clear errors for paths that are not one."""

from __future__ import annotations

from types import ModuleType

import pytest
from conftest import FIXTURES
from notebooks import code, image_output, write_notebook

from grader.errors import SubmissionError
from grader.load import load_submission
from grader.pipeline import GradeOptions, measure_submission
from grader.records import Failure, SourceLocation
from grader.worker.contract import read_contract


def test_a_python_file_is_a_submission_of_one_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text("def build_model(p, v): ...\n")
    submission = load_submission(path)
    assert (submission.entry, submission.files, submission.root) == ("my_models.py", ["my_models.py"], tmp_path)


def test_a_folder_brings_its_helper_modules_but_not_caches_or_hidden_files(tmp_path):
    (tmp_path / "submission.py").write_text("from helpers import build_model\n")
    (tmp_path / "helpers.py").write_text("def build_model(p, v): ...\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    submission = load_submission(tmp_path)
    assert submission.entry == "submission.py"
    assert submission.files == ["helpers.py", "submission.py"]


def test_the_content_hash_follows_the_content(tmp_path):
    path = tmp_path / "submission.py"
    path.write_text("A = 1\n")
    first = load_submission(path).content_hash
    assert load_submission(path).content_hash == first
    path.write_text("A = 2\n")
    assert load_submission(path).content_hash != first


def test_a_missing_path_says_what_to_give(tmp_path):
    with pytest.raises(SubmissionError, match="no such file or folder"):
        load_submission(tmp_path / "nope.py")


def test_a_folder_without_anything_to_grade_lists_what_it_holds(tmp_path):
    (tmp_path / "homework.py").write_text("")
    with pytest.raises(SubmissionError) as raised:
        load_submission(tmp_path)
    assert "no notebook and no submission.py in this folder (it holds homework.py)" in raised.value.message
    assert raised.value.hint.startswith("name your module submission.py")


def test_a_folder_with_one_notebook_is_that_notebook_with_its_helper_modules(tmp_path):
    write_notebook(tmp_path / "hw.ipynb", code("from helpers import build_model"))
    (tmp_path / "helpers.py").write_text("def build_model(p, v): ...\n")
    submission = load_submission(tmp_path)
    assert submission.notebook == "hw.ipynb"
    assert submission.files == ["helpers.py"]
    assert list(submission.generated) == [submission.entry] == ["_notebook_hw.py"]
    assert "from helpers import build_model" in submission.generated[submission.entry]


@pytest.mark.parametrize("second", ["submission.py", "other.ipynb"])
def test_a_folder_with_two_candidates_says_how_to_choose(tmp_path, second):
    write_notebook(tmp_path / "hw.ipynb", code("X = 1"))
    if second.endswith(".py"):
        (tmp_path / second).write_text("X = 1\n")
    else:
        write_notebook(tmp_path / second, code("X = 1"))
    with pytest.raises(SubmissionError) as raised:
        load_submission(tmp_path)
    assert "more than one thing to grade here" in raised.value.message and second in raised.value.message
    assert raised.value.hint.startswith("grade the one you mean, e.g.  grade ")


def test_a_notebooks_hash_follows_its_code_not_its_outputs(tmp_path):
    first = load_submission(write_notebook(tmp_path / "a.ipynb", code("X = 1"))).content_hash
    with_plot = code("X = 1", outputs=[image_output(1000)])
    assert load_submission(write_notebook(tmp_path / "a.ipynb", with_plot)).content_hash == first
    assert load_submission(write_notebook(tmp_path / "a.ipynb", code("X = 2"))).content_hash != first


def test_other_file_types_are_refused_with_a_way_forward(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("")
    with pytest.raises(SubmissionError, match=r"expected a \.py module, a \.ipynb notebook or a folder"):
        load_submission(text)


def test_links_in_a_submission_folder_are_never_followed(tmp_path):
    """A link to a file or folder outside (or even inside) the submission is neither read, hashed nor copied:
    ``helpers.py -> /etc/shadow`` must not end up in the worker or a report."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.py").write_text("SECRET = 'hunter2'\n")
    (outside / "deep" / "more.py").write_text("MORE = 1\n")
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "submission.py").write_text("import torch\n")
    (folder / "helpers.py").symlink_to(outside / "secret.py")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    (folder / "again.py").symlink_to(folder / "submission.py")
    submission = load_submission(folder)
    assert submission.files == ["submission.py"]
    (folder / "helpers.py").unlink()
    (folder / "linked").unlink()
    (folder / "again.py").unlink()
    assert load_submission(folder).content_hash == submission.content_hash  # the links counted for nothing


def test_a_notebook_that_is_a_link_out_of_its_folder_is_not_found(tmp_path):
    write_notebook(tmp_path / "elsewhere.ipynb", code("X = 1"))
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "hw.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")
    with pytest.raises(SubmissionError, match=r"no notebook and no submission\.py in this folder"):
        load_submission(folder)


def test_a_name_missing_because_its_constant_needed_a_training_result_points_at_the_training_cell(tmp_path):
    submission = load_submission(
        write_notebook(
            tmp_path / "hw.ipynb",
            code("import torch"),
            code("model = make_model()\nhistory = model.fit(x, y)\nacc = history.history['acc']"),
            code("def build_model(problem, variant):\n    return torch.nn.Linear(4, len(acc))"),
        )
    )
    line = submission.generated[submission.entry].splitlines().index("    return torch.nn.Linear(4, len(acc))") + 1
    failure = Failure(
        "build",
        "build_model('iris', 'single') raised NameError: name 'acc' is not defined",
        location=SourceLocation(submission.entry, line),
    )
    explained = submission.explain(failure)
    assert (explained.location.cell, explained.location.line) == (3, 2)
    assert explained.hint == (
        "'acc' (cell 2, line 3) needs 'history', set in cell 2, line 2 by top-level code the grader does not run "
        "(it keeps imports, definitions, constants and cheap data loading like load_iris()): "
        "tag cell 2 grader:include, or compute it inside build_model"
    )


def contract_of(source: str) -> ModuleType:
    module = ModuleType("submission")
    exec(
        compile("def build_model(problem, variant):\n    return None\n" + source, "submission.py", "exec"),
        module.__dict__,
    )
    return module


@pytest.mark.parametrize(
    "source",
    [
        "def train(model, data, hparams):\n    pass",
        "def train(model, data, hparams, verbose=False):\n    pass",
        "def train(net, dataset, hp):\n    pass",
        "def train(*args):\n    pass",
    ],
)
def test_a_train_taking_model_data_and_hparams_is_the_students_own_loop(source):
    student = read_contract(contract_of(source), "submission.py")
    assert student.train is not None and student.notes == []


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("def train(net, loader, epochs=10, lr=0.01):\n    pass", "train(net, loader, epochs=10, lr=0.01)"),
        ("def train(model, X, y):\n    pass", "train(model, X, y)"),
        ("def train(model, data):\n    pass", "train(model, data)"),
        ("train = [1, 2, 3]", "train (a list)"),
    ],
)
def test_a_train_of_another_shape_is_not_taken_for_the_hook_and_the_report_says_so(source, shown):
    student = read_contract(contract_of(source), "submission.py")
    assert student.train is None
    assert student.notes == [
        f"{shown} does not take (model, data, hparams), so the grader trained the models itself: rename it if it "
        "is a helper of your own, or write  def train(model, data, hparams):  to have your loop used"
    ]


def test_a_notebook_written_like_the_lab_trains_both_iris_models(fake_mnist, fast_rubric):
    """Data loaded at the top level, a pair plot, a ``train(net, loader, epochs=10, lr=0.01)`` of the student's
    own run at the top level: the grader keeps the data loading, trains the models itself and says why."""
    pytest.importorskip("torch")
    lab = FIXTURES / "notebook" / "lab_frameworks_iris.ipynb"
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1)
    measured = measure_submission(lab, options, fast_rubric)
    assert measured.failure is None
    assert [(m.key, m.failure) for m in measured.models] == [("iris/single", None), ("iris/multi", None)]
    assert all(m.accuracy is not None for m in measured.models)
    note = measured.models[0].run.notes[0]  # the submission's, not the model's: said with no model's name
    assert note.startswith(
        "train(net, loader, epochs=10, lr=0.01) does not take (model, data, hparams), so the grader trained the "
        "models itself"
    )
