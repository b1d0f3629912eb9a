"""The walls: what each isolation level puts in the sandbox's reach, and what it keeps out."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

import grader
from grader.isolation import FILES, GRADER_FILES, Isolation, bubblewrap_prefix, private_uid, python_paths

PACKAGE = Path(grader.__file__).resolve().parent


def test_the_folder_the_grader_runs_in_is_not_among_python_paths(tmp_path, monkeypatch):
    """``python -m grader.cli`` in a course folder puts that folder first on sys.path: it holds the roster
    and the gradebook, and must not be bound into the sandbox."""
    course = tmp_path / "course"
    course.mkdir()
    monkeypatch.syspath_prepend(str(course))
    monkeypatch.chdir(course)
    paths = python_paths()
    assert not any(path == course or course in path.parents for path in paths)
    assert PACKAGE in paths or any(root in PACKAGE.parents for root in paths)
    assert Path(sys.prefix).resolve() in paths or any(root in Path(sys.prefix).resolve().parents for root in paths)


def test_of_a_source_checkout_only_the_grader_package_is_bound():
    checkout = PACKAGE.parent
    bound = [Path(arg) for arg in bubblewrap_prefix([], [], [])]
    assert PACKAGE in bound
    assert checkout / "tests" not in bound and checkout / "reference" not in bound and checkout not in bound


def test_bubblewraps_memory_backed_folders_are_bounded():
    prefix = bubblewrap_prefix([], [], [])
    for folder in ("/tmp", "/dev/shm"):
        at = prefix.index(folder)
        assert prefix[at - 1] == "--tmpfs" and prefix[at - 3] == "--size"


def test_the_worker_writes_only_its_own_folders_and_reads_the_data_read_only(tmp_path):
    scratch, out, data = tmp_path / "scratch", tmp_path / "out", tmp_path / "data"
    prefix = bubblewrap_prefix([scratch, out], [data], [])
    pairs = list(itertools.pairwise(prefix))
    assert ("--bind", str(scratch)) in pairs and ("--bind", str(out)) in pairs
    assert ("--ro-bind", str(data)) in pairs and ("--bind", str(data)) not in pairs


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="a private user takes root")
def test_handing_folders_over_to_a_private_user(tmp_path):
    uid = private_uid()
    assert uid is not None and uid >= 1_900_000_000
    scratch, data = tmp_path / "work" / "scratch", tmp_path / "work" / "data"
    for folder in (scratch, data):
        folder.mkdir(parents=True)
    (scratch / "submission.py").write_text("pass")
    (data / "x_train.npy").write_bytes(b"")
    Isolation("user", (GRADER_FILES,), uid).hand_over([scratch], [data])
    assert (scratch.stat().st_uid, (scratch / "submission.py").stat().st_uid) == (uid, uid)
    assert scratch.stat().st_mode & 0o777 == 0o700  # no other student's worker looks in
    assert (data / "x_train.npy").stat().st_uid == 0 and (data / "x_train.npy").stat().st_mode & 0o004


def test_which_levels_keep_students_apart():
    assert Isolation("bubblewrap", ("network", "processes", FILES, GRADER_FILES)).separates_students
    assert Isolation("user", (GRADER_FILES,), 1_900_000_001).separates_students
    assert not Isolation("unshare", ("network", "processes")).separates_students
    assert not Isolation("none", ()).separates_students
