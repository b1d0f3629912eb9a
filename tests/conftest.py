"""Shared fixtures: an isolated cache, a small learnable MNIST, a fast rubric, fixture submissions."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from idx_fixtures import isolate, make_fake_mnist

from grader.adapters import TrainingData
from grader.pipeline import GradeOptions
from grader.records import TrainingPlan
from grader.rubric import Rubric, load_rubric

FIXTURES = Path(__file__).parent / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"
REPOSITORY = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY.parent / "shared" / "data"

# Small budgets so that a whole submission trains in seconds; limits short enough to test timeouts.
FAST_RUBRIC = """
[limits]
import_seconds = 60.0
build_seconds = 60.0
grace_seconds = 4.0
[problems.iris]
max_epochs = 40
[problems.iris.defaults]
epochs = 20
[problems.mnist]
max_epochs = 3
quick_max_epochs = 2
[problems.mnist.defaults]
epochs = 2
"""


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test touches the user's cache or data folder, and none can download."""
    return isolate(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def fake_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_mnist(tmp_path_factory.mktemp("fake-mnist"), n_train=1200, n_test=200)


@pytest.fixture(scope="session")
def fast_rubric_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rubric") / "fast.toml"
    path.write_text(FAST_RUBRIC)
    return path


@pytest.fixture(scope="session")
def fast_rubric(fast_rubric_file: Path) -> Rubric:
    return load_rubric(fast_rubric_file)


@pytest.fixture(scope="session")
def short_build_rubric(tmp_path_factory: pytest.TempPathFactory) -> Rubric:
    """The fast rubric with a short limit on building and predicting, for the code that never returns there. The
    fast rubric's own limit is the default's: a loaded machine (the suite runs on every core) must not cut short
    a prediction that would finish."""
    path = tmp_path_factory.mktemp("rubric") / "short_build.toml"
    path.write_text(FAST_RUBRIC.replace("build_seconds = 60.0", "build_seconds = 10.0"))
    return load_rubric(path)


@pytest.fixture
def iris_only(fake_mnist: Path) -> GradeOptions:
    """Options for grading just the Iris models: the quickest full pass through the pipeline."""
    return GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1)


@pytest.fixture
def both_problems(fake_mnist: Path) -> GradeOptions:
    return GradeOptions(data_dir=fake_mnist, threads=1)


def write_submission(directory: Path, source: str, name: str = "submission.py") -> Path:
    path = directory / name
    path.write_text(source)
    return path


def blobs(n_classes: int = 3, n: int = 240, shape: tuple[int, ...] = (4,), seed: int = 0) -> TrainingData:
    """Well separated Gaussian blobs, 3/4 for training: any working training loop fits them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(n_classes, int(np.prod(shape))))
    y = np.arange(n) % n_classes
    x = (centres[y] + rng.normal(0, 0.5, size=(n, centres.shape[1]))).astype(np.float32).reshape(-1, *shape)
    half = n * 3 // 4
    return TrainingData("iris", n_classes, x[:half], y[:half], x[half:], y[half:])


def training_plan(**changes) -> TrainingPlan:
    """A short plan for adapter tests; keyword arguments change any field."""
    settings = dict(
        epochs=15,
        batch_size=16,
        optimizer="adam",
        learning_rate=0.01,
        weight_decay=0.0,
        early_stopping=None,
        max_seconds=60.0,
    )
    return TrainingPlan(**{**settings, **changes})


def processes_with(marker: str) -> list[int]:
    """Live processes (not zombies) whose command line holds ``marker``, this one excepted."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                alive = "State:\tZ" not in (entry / "status").read_text()
                if alive and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def descendants_of(pid: int) -> set[int]:
    """The processes started, directly or not, by ``pid`` that still have their parent: when tests run side by
    side (pytest-xdist), another test's workers are not this one's."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET, and remembers it."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1: its base URL, and the paths asked of it (none, if nothing got out)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _RecordingHandler)
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
