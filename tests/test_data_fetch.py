"""Downloads: verified against sha256, atomic, and every mirror's failure explained."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from idx_fixtures import closed_port_url, http_server, isolate, silent_server

from grader.data.fetch import DownloadError, download
from grader.errors import DataError

NAME = "t10k-labels-idx1-ubyte.gz"
BODY = bytes(range(256)) * 40
SHA = hashlib.sha256(BODY).hexdigest()
REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_good_file_lands_under_its_name_with_no_temporary_files_left(tmp_path: Path) -> None:
    with http_server({f"/{NAME}": BODY}) as url:
        path = download(NAME, SHA, tmp_path / "dl", [url])
    assert path == tmp_path / "dl" / NAME
    assert path.read_bytes() == BODY
    assert _leftovers(tmp_path / "dl") == [NAME]


def test_a_wrong_checksum_is_rejected_and_leaves_no_file(tmp_path: Path) -> None:
    with http_server({f"/{NAME}": BODY + b"tampered"}) as url, pytest.raises(DownloadError) as info:
        download(NAME, SHA, tmp_path, [url])
    assert f"sha256 mismatch: expected {SHA}, got " in info.value.message
    assert _leftovers(tmp_path) == []


def test_a_truncated_transfer_is_rejected_and_leaves_no_file(tmp_path: Path) -> None:
    claimed = len(BODY) + 1000
    with (
        http_server({f"/{NAME}": BODY}, claimed_lengths={f"/{NAME}": claimed}) as url,
        pytest.raises(DownloadError, match=f"truncated: got {len(BODY)} of {claimed} bytes"),
    ):
        download(NAME, SHA, tmp_path, [url])
    assert _leftovers(tmp_path) == []


def test_a_failed_download_keeps_an_existing_file_intact(tmp_path: Path) -> None:
    (tmp_path / NAME).write_bytes(b"earlier copy")
    with http_server({f"/{NAME}": b"bad"}) as url, pytest.raises(DownloadError):
        download(NAME, SHA, tmp_path, [url])
    assert (tmp_path / NAME).read_bytes() == b"earlier copy"


def test_a_404_falls_through_to_the_next_mirror(tmp_path: Path) -> None:
    with http_server({f"/good/{NAME}": BODY}) as url:
        path = download(NAME, SHA, tmp_path, [url + "missing/", url + "good"])
    assert path.read_bytes() == BODY


def test_when_every_mirror_fails_the_error_names_the_file_and_each_mirrors_reason(tmp_path: Path) -> None:
    dead = closed_port_url()
    with http_server({}) as url, pytest.raises(DownloadError) as info:
        download(NAME, SHA, tmp_path, [url, dead])
    error = info.value
    assert isinstance(error, DataError)
    assert NAME in error.message
    assert f"  {url}{NAME}: HTTP 404 Not Found" in error.message.splitlines()
    assert f"  {dead}{NAME}: connection refused" in error.message.splitlines()
    assert error.failures == [(url + NAME, "HTTP 404 Not Found"), (dead + NAME, "connection refused")]
    assert "GRADER_MNIST_MIRRORS" in error.hint


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with silent_server() as url, pytest.raises(DownloadError, match=r"timed out after 0\.3 s"):
        download(NAME, SHA, tmp_path, [url], timeout=0.3)


def test_a_mirror_that_is_not_a_url_is_reported_not_crashed_on(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown url type"):
        download(NAME, SHA, tmp_path, ["not-a-url/"])


def test_an_uncreatable_destination_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="cannot create"):
        download(NAME, SHA, tmp_path / "file" / "sub", ["http://127.0.0.1:1/"])


def test_without_progress_nothing_is_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with http_server({f"/{NAME}": BODY}) as url:
        download(NAME, SHA, tmp_path, [url])
    assert capfd.readouterr() == ("", "")


def test_with_progress_a_bar_goes_to_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with http_server({f"/{NAME}": BODY}) as url:
        download(NAME, SHA, tmp_path, [url], progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert NAME in err


@pytest.mark.mnist
@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST files not found in {REAL_MNIST}")
def test_the_official_checksums_accept_official_files_and_reject_the_re_encoded_copy(tmp_path: Path) -> None:
    """The shared train images are re-encoded (README), so only the three official files verify."""
    from grader.data.mnist import MNIST_FILES

    routes = {f"/{name}": (REAL_MNIST / name).read_bytes() for name in MNIST_FILES}
    with http_server(routes) as url:
        for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            assert download(name, MNIST_FILES[name], tmp_path, [url]).read_bytes() == routes[f"/{name}"]
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            download("train-images-idx3-ubyte.gz", MNIST_FILES["train-images-idx3-ubyte.gz"], tmp_path, [url])
    assert not (tmp_path / "train-images-idx3-ubyte.gz").exists()
