"""Where the grader keeps files between runs: a cache only its owner can read, written whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from grader.locations import cache_dir, write_atomically


def test_the_cache_is_created_readable_by_its_owner_only(tmp_path, monkeypatch):
    """It holds other grades' measurements and logs, which a worker running as another user must not read."""
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_a_cache_left_readable_by_others_is_closed_again(tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir(mode=0o755)
    (tmp_path / "cache").chmod(0o755)
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    cache_dir()
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_a_cache_that_cannot_be_created_is_still_named(tmp_path, monkeypatch):
    """Whoever writes there meets the error and decides whether it matters."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert cache_dir() == tmp_path / "file" / "cache"


def test_a_file_is_replaced_whole_and_no_part_file_is_left(tmp_path):
    target = tmp_path / "deep" / "measurements.json"
    assert write_atomically(target, lambda out: out.write(b"first"))
    assert write_atomically(target, lambda out: out.write(b"second"))
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["measurements.json"]


def test_a_write_that_fails_leaves_the_old_file_and_no_part_file(tmp_path):
    target = tmp_path / "measurements.json"
    target.write_bytes(b"old")

    def fails_halfway(out):
        out.write(b"half")
        raise OSError("disk full")

    assert not write_atomically(target, fails_halfway)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["measurements.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_that_cannot_be_written_costs_only_the_write(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    assert not write_atomically(tmp_path / "locked" / "x.npy", lambda out: out.write(b"x"))
