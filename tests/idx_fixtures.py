"""Shared test helpers: IDX writers, a learnable fake MNIST, and local HTTP servers for download tests."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def idx_bytes(array: np.ndarray, *, dtype_code: int = 0x08) -> bytes:
    """The raw IDX encoding of a uint8 array: two zero bytes, dtype code, ndim, big-endian dims, data."""
    header = bytes([0, 0, dtype_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as IDX, gzipped when the name ends in .gz (like the MNIST files)."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0) if path.suffix == ".gz" else data)
    return path


def fake_digits(
    n: int, rng: np.random.Generator, prototypes: np.ndarray, noise_level: float = 40.0, label_noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of the class prototypes, classes balanced and shuffled; a ``label_noise``
    fraction of them then get a random label, which only memorising can fit."""
    labels = rng.permutation(np.arange(n) % len(prototypes)).astype(np.uint8)
    noise = rng.normal(0.0, noise_level, size=(n, 28, 28))
    images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
    relabelled = rng.random(n) < label_noise
    labels[relabelled] = rng.integers(0, len(prototypes), relabelled.sum())
    return images, labels


def make_fake_mnist(
    directory: Path,
    n_train: int = 600,
    n_test: int = 100,
    seed: int = 0,
    *,
    gzipped: bool = True,
    noise_level: float = 40.0,
    label_noise: float = 0.0,
) -> Path:
    """Write the four MNIST files with learnable synthetic digits into ``directory`` and return it.

    Each class is a fixed random blob pattern in the central 20x20 (like MNIST's padding) plus Gaussian
    noise, so even softmax regression separates the classes well. With ``label_noise``, a wide network
    memorises the wrongly labelled digits instead: a data set to overfit on purpose.
    """
    rng = np.random.default_rng(seed)
    prototypes = np.zeros((10, 28, 28))
    prototypes[:, 4:24, 4:24] = (rng.random((10, 20, 20)) < 0.3) * 220.0
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = fake_digits(n_train, rng, prototypes, noise_level, label_noise)
    test_images, test_labels = fake_digits(n_test, rng, prototypes, noise_level, label_noise)
    arrays = (train_images, train_labels, test_images, test_labels)
    for name, array in zip(MNIST_NAMES, arrays, strict=True):
        write_idx(directory / (name if gzipped else name.removesuffix(".gz")), array)
    return directory


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep a test away from the real user cache, data folder and the network; return its cache dir."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADER_CACHE_DIR", str(cache))
    monkeypatch.setenv("GRADER_MNIST_MIRRORS", closed_port_url())
    monkeypatch.delenv("GRADER_DATA_DIR", raising=False)
    # Budgets as the rubric says, on all cores: timing the machine costs most of a second per grade, and the
    # tests of the timing itself take this away.
    monkeypatch.setenv("GRADER_MACHINE_FACTOR", "1")
    return cache


@contextlib.contextmanager
def http_server(routes: dict[str, bytes], *, claimed_lengths: dict[str, int] | None = None) -> Iterator[str]:
    """Serve ``routes`` (URL path -> body) on 127.0.0.1; other paths get 404. Yields the base URL.

    ``claimed_lengths`` makes the server announce a Content-Length other than the body's, then close
    the connection: a truncated transfer.
    """
    claimed = claimed_lengths or {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(claimed.get(self.path, len(body))))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Keep test output clean."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections but never answers: requests to it time out."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
