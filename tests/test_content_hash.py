"""One fingerprint for a submission's files: the report's and the gradebook's agree."""

from __future__ import annotations

import pytest
from notebooks import code, image_output, write_notebook

from grader import content_hash as hashing
from grader.batch.submissions import find_entries
from grader.cache import code_digest
from grader.content_hash import TooLarge, content_hash, digest
from grader.load import load_submission


def _gradebook_hash(folder, name):
    """The hash a gradebook row stores for the entry ``name`` of a class folder."""
    entries, refused = find_entries(folder)
    assert not refused
    return next(entry.content_hash for entry in entries if entry.path.name == name)


def test_a_lone_module_has_one_hash_in_the_report_and_in_the_gradebook(tmp_path):
    (tmp_path / "ada.py").write_text("def build_model(problem, variant): ...\n")
    assert load_submission(tmp_path / "ada.py").content_hash == _gradebook_hash(tmp_path, "ada.py")


def test_a_lone_notebook_has_one_hash_in_the_report_and_in_the_gradebook(tmp_path):
    write_notebook(tmp_path / "ada.ipynb", code("def build_model(problem, variant): ..."))
    assert load_submission(tmp_path / "ada.ipynb").content_hash == _gradebook_hash(tmp_path, "ada.ipynb")


def test_a_folder_has_one_hash_in_the_report_and_in_the_gradebook(tmp_path):
    folder = tmp_path / "bob"
    folder.mkdir()
    write_notebook(folder / "hw.ipynb", code("from helpers import build_model"))
    (folder / "helpers.py").write_text("def build_model(problem, variant): ...\n")
    assert load_submission(folder).content_hash == _gradebook_hash(tmp_path, "bob")


def test_the_same_code_under_another_name_is_the_same_submission(tmp_path):
    (tmp_path / "ada.py").write_text("X = 1\n")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "submission.py").write_text("X = 1\n")
    assert content_hash(tmp_path / "ada.py") == content_hash(tmp_path / "bob")


def test_running_a_notebook_again_keeps_its_hash_and_editing_its_code_does_not(tmp_path):
    first = content_hash(write_notebook(tmp_path / "a.ipynb", code("X = 1")))
    assert content_hash(write_notebook(tmp_path / "a.ipynb", code("X = 1", outputs=[image_output(1000)]))) == first
    assert content_hash(write_notebook(tmp_path / "a.ipynb", code("X = 2"))) != first


def test_a_submission_past_the_limit_is_refused_by_the_report_and_the_gradebook_alike(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "MAX_BYTES", 1000)
    (tmp_path / "ada.py").write_text("X = 1\n" + "#" * 1000)
    with pytest.raises(TooLarge, match="larger than"):
        load_submission(tmp_path / "ada.py")
    entries, refused = find_entries(tmp_path)
    assert entries == [] and "the submission is larger than" in refused[0].reason


def test_the_cache_digest_is_the_same_rule_over_the_code_it_normalises():
    assert code_digest({"notes.txt": b"hello"}) == digest({"notes.txt": b"hello"}, named=True)


def test_a_renamed_lone_module_is_one_submission_to_the_gradebook_but_another_cache_entry():
    """Its report would otherwise say the other file's name where a failure points."""
    assert digest({"ada.py": b"X = 1\n"}) == digest({"bob.py": b"X = 1\n"})
    assert code_digest({"ada.py": b"X = 1\n"}) != code_digest({"bob.py": b"X = 1\n"})
