"""The walls: which isolation level a machine gets and what each promises, what each puts in the sandbox's
reach, and what it keeps out."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

import grader
from grader import isolation as isolation_module
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


def test_bubblewrap_hides_the_secrets_of_a_home_but_never_what_the_worker_needs(tmp_path):
    """A credentials folder is covered by an empty one and a credentials file by /dev/null; a hidden path
    that holds one of the worker's own folders, or that does not exist, is left alone."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".netrc").write_text("machine example.com password hunter2")
    scratch = home / "grading" / "scratch"
    scratch.mkdir(parents=True)
    prefix = bubblewrap_prefix([scratch], [], [home / ".ssh", home / ".netrc", home / ".aws", home])
    pairs = list(itertools.pairwise(prefix))
    assert ("--tmpfs", str(home / ".ssh")) in pairs
    assert prefix[prefix.index(str(home / ".netrc")) - 2 : prefix.index(str(home / ".netrc"))] == [
        "--ro-bind",
        "/dev/null",
    ]
    assert str(home / ".aws") not in prefix
    assert ("--tmpfs", str(home)) not in pairs  # it holds the scratch folder


@pytest.mark.parametrize("tool", ["user", "none"])
def test_without_namespaces_the_worker_command_is_left_as_it_is(tool):
    worker = ["python", "-m", "grader.worker"]
    assert Isolation(tool, ()).command(worker, writable=[], readable=[], hidden=[]) == worker


def test_unshare_and_bubblewrap_wrap_the_worker_command(tmp_path):
    worker = ["python", "-m", "grader.worker"]
    unshared = Isolation("unshare", ("network", "processes")).command(worker, writable=[], readable=[], hidden=[])
    assert unshared[0] == "unshare" and {"--net", "--pid", "--kill-child"} <= set(unshared)
    assert unshared[-3:] == worker
    walled = Isolation("bubblewrap", ()).command(worker, writable=[tmp_path], readable=[], hidden=[])
    assert walled[0] == "bwrap" and walled[-4:] == ["--", *worker]
    assert {"--unshare-all", "--die-with-parent"} <= set(walled)


@pytest.fixture
def machine(monkeypatch):
    """A Linux machine described by hand: which tools are installed, which of them start Python, whether
    the grader is root. ``isolation()`` is probed afresh for it, and afresh again after the test."""
    tools: dict[str, bool] = {}  # "bwrap" / "unshare" / "user" / "unshare as user" -> starts Python
    monkeypatch.setattr(isolation_module.sys, "platform", "linux")
    monkeypatch.setattr(isolation_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation_module, "private_uid", lambda: 1_900_000_007)
    monkeypatch.setattr(isolation_module.shutil, "which", lambda name: f"/usr/bin/{name}" if name in tools else None)

    def runs(prefix: list[str], uid: int | None) -> bool:
        tool = prefix[0] if prefix else "user"
        return tools.get(f"{tool} as user" if uid is not None and prefix else tool, False)

    monkeypatch.setattr(isolation_module, "_runs", runs)
    monkeypatch.delenv("GRADER_ISOLATION", raising=False)
    isolation_module._isolation.cache_clear()
    yield tools
    isolation_module._isolation.cache_clear()


def test_bubblewrap_walls_off_everything_and_is_preferred(machine):
    machine.update({"bwrap": True, "unshare": True, "unshare as user": True, "user": True})
    walls = isolation_module.isolation()
    assert (walls.tool, set(walls.features), walls.uid) == (
        "bubblewrap",
        {"network", "processes", FILES, GRADER_FILES},
        None,
    )


def test_unshare_as_root_runs_the_worker_as_a_private_user(machine):
    machine.update({"unshare": True, "unshare as user": True, "user": True})
    walls = isolation_module.isolation()
    assert (walls.tool, set(walls.features), walls.uid) == (
        "unshare",
        {"network", "processes", GRADER_FILES},
        1_900_000_007,
    )
    assert walls.separates_students


def test_unshare_that_cannot_change_user_keeps_the_network_and_processes_apart_only(machine):
    """An interpreter other users may not run (Python under /root): the worker runs as the grader's user."""
    machine.update({"unshare": True, "unshare as user": False, "user": False})
    walls = isolation_module.isolation()
    assert (walls.tool, walls.features, walls.uid) == ("unshare", ("network", "processes"), None)
    assert not walls.separates_students


def test_where_namespaces_are_refused_a_root_grader_runs_the_worker_as_a_private_user(machine):
    """Gradescope's Docker, GitHub's ubuntu-24.04 runners: nothing walled off but the grader's files."""
    machine.update({"unshare": False, "user": True})
    walls = isolation_module.isolation()
    assert (walls.tool, walls.features, walls.uid) == ("user", (GRADER_FILES,), 1_900_000_007)


def test_with_nothing_that_works_the_worker_is_a_plain_child_process(machine):
    walls = isolation_module.isolation()
    assert (walls.tool, walls.features, walls.uid) == ("none", (), None)


def test_a_level_chosen_by_hand_is_used_even_where_a_better_one_works(machine, monkeypatch):
    machine.update({"bwrap": True, "unshare": True})
    monkeypatch.setenv("GRADER_ISOLATION", "unshare")
    assert isolation_module.isolation().tool == "unshare"


def test_a_level_chosen_by_hand_that_does_not_work_here_falls_back_to_none(machine, monkeypatch):
    """The report then says the worker was not isolated; the grade still runs."""
    machine.update({"unshare": True})
    monkeypatch.setenv("GRADER_ISOLATION", "bubblewrap")
    assert isolation_module.isolation() == Isolation("none", ())


def test_an_unknown_level_is_refused_naming_the_levels(machine, monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "docker")
    with pytest.raises(
        ValueError, match="GRADER_ISOLATION must be one of bubblewrap, unshare, user, none, got 'docker'"
    ):
        isolation_module.isolation()
