"""Finding, downloading, reading and validating the four MNIST files, and the decoded-array cache."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from idx_fixtures import MNIST_NAMES, closed_port_url, http_server, isolate, make_fake_mnist, write_idx

from grader.data import mnist
from grader.data.mnist import mnist_files, read_mnist
from grader.errors import DataError

Files = dict[str, bytes]
Paths = dict[str, Path]


@pytest.fixture(autouse=True)
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def _folders(paths: dict[str, Path]) -> set[Path]:
    return {path.parent for path in paths.values()}


# --- where the files are looked for -------------------------------------------------------------


def test_the_data_dir_option_beats_the_environment_and_the_cache(tmp_path: Path, cache: Path) -> None:
    option, env_dir = make_fake_mnist(tmp_path / "option"), make_fake_mnist(tmp_path / "env")
    make_fake_mnist(cache / "mnist")
    assert _folders(mnist_files(option, env={"GRADER_DATA_DIR": str(env_dir)})) == {option}


def test_the_environment_beats_the_cache(tmp_path: Path, cache: Path) -> None:
    env_dir = make_fake_mnist(tmp_path / "env")
    make_fake_mnist(cache / "mnist")
    assert _folders(mnist_files(env={"GRADER_DATA_DIR": str(env_dir)})) == {env_dir}


def test_the_cache_is_used_when_nothing_else_is_given(cache: Path) -> None:
    make_fake_mnist(cache / "mnist")
    assert _folders(mnist_files(env={})) == {cache / "mnist"}


def test_the_process_environment_is_read_when_no_mapping_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = make_fake_mnist(tmp_path / "env")
    monkeypatch.setenv("GRADER_DATA_DIR", str(env_dir))
    assert _folders(mnist_files()) == {env_dir}


def test_a_folder_with_only_some_files_is_passed_over(tmp_path: Path) -> None:
    partial = make_fake_mnist(tmp_path / "partial")
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    env_dir = make_fake_mnist(tmp_path / "env")
    assert _folders(mnist_files(partial, env={"GRADER_DATA_DIR": str(env_dir)})) == {env_dir}


def test_files_in_an_mnist_subfolder_are_found(tmp_path: Path) -> None:
    """People point at ../shared/data, whose files are in mnist/."""
    make_fake_mnist(tmp_path / "data" / "mnist")
    assert _folders(mnist_files(tmp_path / "data", env={})) == {tmp_path / "data" / "mnist"}


def test_uncompressed_files_are_accepted_and_read_the_same(tmp_path: Path) -> None:
    gz = read_mnist(mnist_files(make_fake_mnist(tmp_path / "gz"), env={}))
    raw_paths = mnist_files(make_fake_mnist(tmp_path / "raw", gzipped=False), env={})
    assert {path.name for path in raw_paths.values()} == {n.removesuffix(".gz") for n in MNIST_NAMES}
    raw = read_mnist(raw_paths)
    np.testing.assert_array_equal(raw.train_images, gz.train_images)
    np.testing.assert_array_equal(raw.test_labels, gz.test_labels)


def test_local_files_need_not_match_the_official_checksums(tmp_path: Path) -> None:
    """Instructors may hold re-encoded copies: local files are validated by structure, not by hash."""
    arrays = read_mnist(mnist_files(make_fake_mnist(tmp_path / "d"), env={}))
    assert set(arrays.sha256) == set(MNIST_NAMES)
    assert set(arrays.sha256.values()).isdisjoint(mnist.MNIST_FILES.values())


# --- downloading when nothing is found ------------------------------------------------------------


@pytest.fixture
def fake_official(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    """Fake files, made 'official' by pointing MNIST_FILES at their checksums."""
    source = make_fake_mnist(tmp_path / "served")
    files = {name: (source / name).read_bytes() for name in MNIST_NAMES}
    monkeypatch.setattr(mnist, "MNIST_FILES", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    return files


def test_missing_files_are_downloaded_into_the_cache_once(fake_official: Files, cache: Path) -> None:
    with http_server({f"/m/{name}": body for name, body in fake_official.items()}) as url:
        paths = mnist_files(env={}, mirrors=[url + "m/"])
    assert paths == {name: cache / "mnist" / name for name in MNIST_NAMES}
    assert all(paths[name].read_bytes() == body for name, body in fake_official.items())
    assert _folders(mnist_files(env={}, mirrors=[closed_port_url()])) == {cache / "mnist"}


def test_only_the_missing_files_are_downloaded(fake_official: Files, cache: Path) -> None:
    (cache / "mnist").mkdir(parents=True)
    for name in MNIST_NAMES[:3]:
        (cache / "mnist" / name).write_bytes(fake_official[name])
    last = MNIST_NAMES[3]
    with http_server({f"/{last}": fake_official[last]}) as url:
        assert mnist_files(env={}, mirrors=[url])[last].read_bytes() == fake_official[last]


def test_mirrors_from_the_environment_are_split_on_commas_and_spaces(fake_official: Files, cache: Path) -> None:
    dead = closed_port_url()
    with http_server({f"/{name}": body for name, body in fake_official.items()}) as url:
        paths = mnist_files(env={"GRADER_MNIST_MIRRORS": f" {dead}, {url}\n"})
    assert _folders(paths) == {cache / "mnist"}


def test_when_nothing_works_the_error_lists_every_place_and_mirror(tmp_path: Path, cache: Path) -> None:
    option, env_dir = tmp_path / "option", tmp_path / "env"
    env_dir.mkdir()
    first, second = closed_port_url(), closed_port_url() + "mnist/"
    env = {"GRADER_DATA_DIR": str(env_dir), "GRADER_MNIST_MIRRORS": f"{first},{second}"}
    with pytest.raises(DataError) as info:
        mnist_files(option, env=env)
    lines = info.value.message.splitlines()
    assert f"  --data-dir: {option} (does not exist)" in lines
    assert f"  GRADER_DATA_DIR: {env_dir} (missing {', '.join(MNIST_NAMES)})" in lines
    assert any(line.startswith(f"  cache: {cache / 'mnist'} (") for line in lines)
    assert f"  {first}{MNIST_NAMES[0]}: connection refused" in lines
    assert f"  {second}{MNIST_NAMES[0]}: connection refused" in lines
    hint = info.value.hint
    assert str(cache / "mnist") in hint
    assert all(way in hint for way in ("--data-dir", "GRADER_DATA_DIR", "GRADER_MNIST_MIRRORS"))


# --- reading and validating ---------------------------------------------------------------------------


@pytest.fixture
def fake_paths(tmp_path: Path) -> dict[str, Path]:
    return mnist_files(make_fake_mnist(tmp_path / "fake", n_train=600, n_test=100), env={})


def test_reads_the_four_arrays_with_their_checksums(fake_paths: dict[str, Path]) -> None:
    arrays = read_mnist(fake_paths)
    assert arrays.train_images.shape == (600, 28, 28)
    assert arrays.train_labels.shape == (600,)
    assert arrays.test_images.shape == (100, 28, 28)
    assert arrays.test_labels.shape == (100,)
    assert arrays.train_images.dtype == np.uint8
    assert np.bincount(arrays.train_labels).tolist() == [60] * 10
    assert arrays.sha256 == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in fake_paths.values()}


@pytest.mark.parametrize(
    ("name", "array", "complaint"),
    [
        pytest.param(MNIST_NAMES[0], np.zeros((600, 20, 20), np.uint8), r"shape \(600, 20, 20\)", id="20x20"),
        pytest.param(MNIST_NAMES[2], np.zeros((100, 784), np.uint8), r"shape \(100, 784\)", id="flat-images"),
        pytest.param(MNIST_NAMES[1], np.zeros((600, 1), np.uint8), "labels are 1-D", id="2d-labels"),
        pytest.param(MNIST_NAMES[3], np.full(100, 10, np.uint8), "holds label 10", id="label-out-of-range"),
    ],
)
def test_files_of_the_wrong_shape_or_range_are_named(
    fake_paths: dict[str, Path], name: str, array: np.ndarray, complaint: str
) -> None:
    write_idx(fake_paths[name], array)
    with pytest.raises(DataError, match=complaint) as info:
        read_mnist(fake_paths)
    assert str(fake_paths[name]) in info.value.message


def test_image_and_label_counts_must_match(fake_paths: dict[str, Path]) -> None:
    write_idx(fake_paths["t10k-labels-idx1-ubyte.gz"], np.zeros(99, np.uint8))
    with pytest.raises(DataError, match=r"holds 100 images but .* holds 99 labels") as info:
        read_mnist(fake_paths)
    assert str(fake_paths["t10k-images-idx3-ubyte.gz"]) in info.value.message
    assert str(fake_paths["t10k-labels-idx1-ubyte.gz"]) in info.value.message


def test_a_truncated_file_is_reported_through_read_mnist(fake_paths: dict[str, Path]) -> None:
    path = fake_paths["train-images-idx3-ubyte.gz"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        read_mnist(fake_paths)


# --- the decoded-array cache --------------------------------------------------------------------------


def test_decoded_arrays_are_cached_and_reused_without_gunzipping(
    fake_paths: dict[str, Path], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read_mnist(fake_paths)
    assert sorted(p.name for p in (cache / "mnist-decoded").iterdir()) == sorted(
        f"{digest}.npy" for digest in first.sha256.values()
    )

    def no_gunzip(_data: bytes) -> bytes:
        raise AssertionError("the cached array should have been used")

    monkeypatch.setattr(gzip, "decompress", no_gunzip)
    second = read_mnist(fake_paths)
    assert isinstance(second.train_images, np.memmap)
    assert not second.train_images.flags.writeable
    np.testing.assert_array_equal(second.train_images, first.train_images)
    np.testing.assert_array_equal(second.test_labels, first.test_labels)


def test_a_damaged_cache_entry_is_decoded_again_and_replaced(fake_paths: Paths, cache: Path) -> None:
    first = read_mnist(fake_paths)
    expected = first.train_images
    entry = cache / "mnist-decoded" / f"{first.sha256[MNIST_NAMES[0]]}.npy"
    entry.write_bytes(b"not an npy file")
    np.testing.assert_array_equal(read_mnist(fake_paths).train_images, expected)
    np.testing.assert_array_equal(np.load(entry), expected)


def test_an_unwritable_cache_only_skips_caching(
    fake_paths: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GRADER_CACHE_DIR", str(blocker / "cache"))
    assert read_mnist(fake_paths).train_images.shape == (600, 28, 28)
