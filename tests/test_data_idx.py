"""The IDX reader: decodes good files, and rejects damaged ones with an error that names the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from idx_fixtures import idx_bytes, isolate, write_idx

from grader.data.idx import read_idx
from grader.errors import DataError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


@pytest.mark.parametrize("name", ["images.idx.gz", "images.idx"])
@pytest.mark.parametrize("shape", [(7,), (3, 28, 28)])
def test_reads_gzipped_and_raw_files_with_the_headers_shape(tmp_path: Path, name: str, shape: tuple) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    result = read_idx(write_idx(tmp_path / name, array))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, array)


def test_gzip_is_recognised_by_content_not_by_file_name(tmp_path: Path) -> None:
    path = tmp_path / "labels-no-suffix"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8))))
    np.testing.assert_array_equal(read_idx(path), np.arange(5))


def _gzipped_labels() -> bytes:
    return gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8) % 10), mtime=0)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:12] + bytes(20) + data[32:], id="corrupt-deflate-stream"),
        pytest.param(lambda data: data + b"garbage", id="trailing-garbage"),
    ],
)
def test_damaged_gzip_is_reported_with_the_file_and_a_fix(tmp_path: Path, damage) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(damage(_gzipped_labels()))
    with pytest.raises(DataError, match="truncated or corrupt gzip") as info:
        read_idx(path)
    assert str(path) in info.value.message
    assert "downloaded again" in info.value.hint


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        pytest.param(b"\x00\x00", "too short", id="shorter-than-magic"),
        pytest.param(b"\x12\x34\x08\x01" + bytes(8), "not an IDX file", id="bad-magic"),
        pytest.param(b"\x00\x00\x0d\x01\x00\x00\x00\x01" + bytes(4), "data type code 0x0d", id="float-dtype"),
        pytest.param(b"\x00\x00\x08\x00", "declares 0 dimensions", id="zero-dims"),
        pytest.param(b"\x00\x00\x08\x03\x00\x00\x00\x02", "inside its IDX header", id="header-cut-short"),
        pytest.param(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10], "is truncated", id="data-cut-short"),
        pytest.param(idx_bytes(np.zeros(10, np.uint8)) + b"\x01", "1 trailing bytes", id="trailing-data"),
    ],
)
def test_bad_idx_content_is_reported_with_the_file(tmp_path: Path, data: bytes, complaint: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DataError, match=complaint) as info:
        read_idx(path)
    assert str(path) in info.value.message
    assert "replace it with a good copy" in info.value.hint


def test_a_missing_file_is_a_data_error_not_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope.gz")
