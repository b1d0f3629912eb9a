"""The Dask backend, on a local cluster of two worker processes: results, shipping, timeouts, lost workers,
GPU requests and cancellation. Every grading process a test starts is looked for afterwards in the
process table, by a marker in its submission's name, with everything it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SUBMISSIONS
from idx_fixtures import closed_port_url

from grader.baselines import Baselines, ReferenceStats, Stat
from grader.batch.jobs import GradingJob, OnResult
from grader.batch.local import LocalBackend
from grader.batch.run_one import Outcome
from grader.batch.submissions import Entry, Student, content_hash

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")
pytest.importorskip("torch")

import dask  # noqa: E402  (after the skips: both come with distributed)
from distributed import Client, LocalCluster  # noqa: E402

from grader.batch import dask_backend  # noqa: E402
from grader.batch.dask_backend import ClusterError, DaskBackend, entry_files  # noqa: E402

TORCH_SMALL = (SUBMISSIONS / "torch_small.py").read_text()
OPTIONS = ("--problem", "iris", "--threads", "1")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Two one-thread worker processes, kept away from the user's cache and the network like the tests."""
    env = {
        "GRADER_CACHE_DIR": str(tmp_path_factory.mktemp("worker-cache")),
        "GRADER_MNIST_MIRRORS": closed_port_url(),
        "GRADER_DATA_DIR": "",
    }
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        env=env,
        local_directory=str(tmp_path_factory.mktemp("dask")),
    ) as cluster:
        yield cluster


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    """A client on the cluster once both its workers are up (a test may have killed one)."""
    with Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def rubric_and_baselines(tmp_path_factory: pytest.TempPathFactory, fast_rubric_file: Path) -> tuple[Path, Path]:
    """The fast rubric, and baselines for the Iris models at 50% accuracy: a reference no default has."""
    stat = Stat(0.5, 0.0, [0.5])
    reference = ReferenceStats(stat, stat, stat, Stat(0.0, 0.0, [0.0]), Stat(20, 0, [20]), Stat(1, 0, [1]), "cpu")
    baselines = Baselines(
        1, "test", "", [0], {"full": {"torch": {"iris/single": reference, "iris/multi": reference}}}, {}
    )
    path = tmp_path_factory.mktemp("baselines") / "baselines.json"
    baselines.save(path)
    return fast_rubric_file, path


def make_job(
    path: Path, rubric_and_baselines: tuple[Path, Path], timeout: float = 120.0, gpu: bool = False
) -> GradingJob:
    rubric, baselines = rubric_and_baselines
    entry = Entry(Student(path.stem), path, content_hash(path))
    return GradingJob(entry, OPTIONS, rubric, baselines, timeout, gpu)


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def sleeper(seconds: float) -> str:
    """A submission that sleeps while being imported, then is torch_small."""
    return f"import time\ntime.sleep({seconds})\n{TORCH_SMALL}"


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def collect(results: list[tuple[GradingJob, Outcome]]) -> OnResult:
    return lambda job, outcome: results.append((job, outcome))


class ProcessWatch:
    """Records, from a thread, every process whose command line holds ``marker``, and everything those
    processes start, so that a test can check afterwards that none is left."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.seen: dict[int, psutil.Process] = {}
        self.commands: dict[int, list[str]] = {}  # as seen: those of a process that has ended are gone
        self.parents: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._scan()
            time.sleep(0.1)

    def _scan(self) -> None:
        for process in psutil.process_iter(["cmdline"]):
            if self.marker in " ".join(process.info["cmdline"] or []):
                with contextlib.suppress(psutil.Error):
                    self._record(process, process.info["cmdline"])
        for process in list(self.seen.values()):
            for child in descendants(process):
                with contextlib.suppress(psutil.Error):
                    self._record(child, child.cmdline())

    def _record(self, process: psutil.Process, command: list[str]) -> None:
        if process.pid not in self.seen:
            self.seen[process.pid], self.commands[process.pid] = process, command
            self.parents[process.pid] = process.ppid()

    def graders(self) -> list[psutil.Process]:
        """The ``grade`` processes seen, oldest first."""
        found = [self.seen[pid] for pid, command in self.commands.items() if "grader.cli" in command]
        return sorted(found, key=lambda process: process.create_time())

    def wait_for_grader(self, timeout: float = 60.0) -> psutil.Process:
        """The first ``grade`` process, once it has started its sandboxed worker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            graders = self.graders()
            if graders and alive(descendants(graders[0])):
                return graders[0]
            time.sleep(0.1)
        raise AssertionError(f"no grading process with {self.marker} started within {timeout:g} s")


def descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie nobody has reaped yet has ended)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.Error:
            pass
    return running


def left_after(processes: list[psutil.Process], seconds: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(processes)


def report(outcome: Outcome) -> dict:
    return json.loads(outcome.report_json)


def test_entry_files_are_those_the_grader_reads(tmp_path):
    folder = tmp_path / "alice"
    write(folder, "submission.py", "import helpers\n")
    write(folder, "lib/helpers.py", "X = 1\n")
    for skipped in ("__pycache__/helpers.cpython-311.pyc", ".git/HEAD", ".env", "venv/lib/site.py", "lib/.hidden"):
        write(folder, skipped, "skipped\n")
    (folder / "link.py").symlink_to(folder / "submission.py")

    assert entry_files(folder) == {"submission.py": b"import helpers\n", "lib/helpers.py": b"X = 1\n"}
    assert entry_files(folder / "submission.py") == {"submission.py": b"import helpers\n"}


def test_jobs_graded_on_the_cluster_score_as_they_do_locally(client, tmp_path, rubric_and_baselines):
    jobs = [
        make_job(write(tmp_path, "torch_small.py", TORCH_SMALL), rubric_and_baselines),
        make_job(write(tmp_path, "exits.py", (SUBMISSIONS / "exits_at_import.py").read_text()), rubric_and_baselines),
    ]
    local: list[tuple[GradingJob, Outcome]] = []
    on_cluster: list[tuple[GradingJob, Outcome]] = []

    LocalBackend(jobs=2).run(jobs, collect(local))
    DaskBackend(client=client).run(jobs, collect(on_cluster))

    assert sorted(job.entry.student.id for job, _ in on_cluster) == ["exits", "torch_small"]
    local_outcomes = {job.entry.student.id: outcome for job, outcome in local}
    for job, outcome in on_cluster:
        expected = local_outcomes[job.entry.student.id]
        assert isinstance(outcome, Outcome)
        assert (outcome.status, outcome.error) == (expected.status, expected.error)
        assert outcome.points == expected.points
        if outcome.report_json:
            assert report(outcome)["scores"] == report(expected)["scores"]
            assert report(outcome)["rubric"] == report(expected)["rubric"]
    graded = local_outcomes["torch_small"]
    assert graded.status == "graded" and graded.points
    assert "reference 50.0%" in graded.report_json  # the shipped baselines, not the default ones
    assert local_outcomes["exits"].status == "ungradable"


def test_a_folder_is_shipped_as_bytes_and_graded_where_the_worker_put_it(cluster, tmp_path, rubric_and_baselines):
    folder = tmp_path / "bob"
    write(folder, "submission.py", "from model import build_model  # noqa: F401\n")
    write(folder, "model.py", TORCH_SMALL)
    write(folder, "__pycache__/model.cpython-311.pyc", "not shipped")
    results: list[tuple[GradingJob, Outcome]] = []

    made: list[Client] = []

    class RecordedClient(Client):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_backend, "Client", RecordedClient)
        DaskBackend(scheduler=cluster.scheduler_address).run([make_job(folder, rubric_and_baselines)], collect(results))

    [(_, outcome)] = results
    assert outcome.status == "graded", outcome.log
    submission = report(outcome)["measurements"]["submission"]
    assert sorted(submission["files"]) == ["model.py", "submission.py"]
    shipped_to = Path(submission["path"])
    assert shipped_to.name == "bob" and not shipped_to.is_relative_to(tmp_path)
    assert not shipped_to.parent.parent.exists()  # the task's folder, deleted once graded
    assert [client.status for client in made] == ["closed"]


def test_a_job_past_its_timeout_is_stopped_with_everything_it_started(client, tmp_path, rubric_and_baselines):
    name = marker()
    path = write(tmp_path, f"{name}.py", sleeper(3600))
    results: list[tuple[GradingJob, Outcome]] = []
    scheduler_file = tmp_path / "scheduler.json"
    # What `dask scheduler --scheduler-file` writes, as far as a client reads it. (Client.write_scheduler_file
    # dumps the scheduler's live metrics, which fails once they hold tuple keys.)
    scheduler_file.write_text(json.dumps({"type": "Scheduler", "address": client.scheduler.address}))

    with ProcessWatch(name) as watch:
        started = time.monotonic()
        DaskBackend(scheduler_file=scheduler_file).run([make_job(path, rubric_and_baselines, 8.0)], collect(results))
        seconds = time.monotonic() - started

    [(_, outcome)] = results
    assert outcome.status == "timed_out" and "longer than 8 s" in outcome.error
    assert seconds < 30
    [grader] = watch.graders()
    assert len(watch.seen) > 1  # the grading process had started its sandboxed worker
    assert left_after(list(watch.seen.values())) == []
    command = watch.commands[grader.pid]
    assert not Path(command[command.index("grader.cli") + 1]).parent.parent.exists()  # the task's folder


def test_a_worker_killed_mid_task_the_task_runs_again_and_nothing_of_it_is_left(client, tmp_path, rubric_and_baselines):
    name = marker()
    path = write(tmp_path, f"{name}.py", sleeper(8))
    workers = client.run(os.getpid)
    results: list[tuple[GradingJob, Outcome]] = []
    backend = DaskBackend(client=client)

    with ProcessWatch(name) as watch:
        batch = threading.Thread(target=backend.run, args=([make_job(path, rubric_and_baselines)], collect(results)))
        batch.start()
        first = watch.wait_for_grader()
        first_attempt = [first, *descendants(first)]
        killed = watch.parents[first.pid]
        assert killed in workers.values()
        os.kill(killed, signal.SIGKILL)
        # Gone by their lifeline, well before the submission's 8 s import could have ended on its own.
        assert left_after(first_attempt, seconds=4) == []
        batch.join(timeout=120)

    assert not batch.is_alive()
    [(_, outcome)] = results
    assert outcome.status == "graded", outcome.error
    assert outcome.points
    _, second = watch.graders()
    [other] = [pid for pid in workers.values() if pid != killed]
    assert watch.parents[second.pid] == other  # graded again, from the start, by the other worker


def test_a_task_whose_workers_keep_dying_comes_back_as_an_error(tmp_path, rubric_and_baselines):
    name = marker()
    path = write(tmp_path, f"{name}.py", sleeper(3600))
    results: list[tuple[GradingJob, Outcome]] = []
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
        ProcessWatch(name) as watch,
    ):
        [worker] = client.run(os.getpid).values()
        batch = threading.Thread(
            target=DaskBackend(client=client).run, args=([make_job(path, rubric_and_baselines)], collect(results))
        )
        batch.start()
        watch.wait_for_grader()
        os.kill(worker, signal.SIGKILL)
        batch.join(timeout=60)

    assert not batch.is_alive()
    [(_, outcome)] = results
    assert outcome.status == "error"
    assert "KilledWorker" in outcome.error and "died" in outcome.error
    assert left_after(list(watch.seen.values())) == []


def test_gpu_jobs_without_a_gpu_worker_fail_at_once(client, tmp_path, rubric_and_baselines):
    job = make_job(write(tmp_path, "gpu.py", TORCH_SMALL), rubric_and_baselines, gpu=True)
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"no worker .* offers the GPU resource") as error:
        DaskBackend(client=client).run([job], collect([]))
    assert "--resources GPU=1" in str(error.value)
    assert time.monotonic() - started < 5


def test_a_cluster_without_workers_fails_at_once(tmp_path, rubric_and_baselines):
    job = make_job(write(tmp_path, "alone.py", TORCH_SMALL), rubric_and_baselines)
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty,
        Client(empty, set_as_default=False) as client,
        pytest.raises(ClusterError, match="has no workers"),
    ):
        DaskBackend(client=client).run([job], collect([]))


def test_ctrl_c_kills_the_running_grading_through_the_stop_event(client, tmp_path, rubric_and_baselines, monkeypatch):
    """The stop event alone stops it: cancelling the tasks does nothing here (the next test does the reverse)."""
    monkeypatch.setattr(dask_backend.Client, "cancel", lambda self, *args, **kwargs: None)
    name = marker()
    # A generous timeout: on a loaded machine (CI sets up another environment meanwhile) the grading process and
    # its worker can take a minute to start, and the job must still be running when the interrupt comes.
    job = make_job(write(tmp_path, f"{name}.py", sleeper(3600)), rubric_and_baselines, timeout=600)

    with ProcessWatch(name) as watch:

        def interrupted_while_waiting(futures: object, **kwargs: object) -> Iterator[object]:
            """Ctrl-C as it lands: in the main thread, while the backend waits for results, once a grading runs.
            (A real SIGINT sent then can be lost inside distributed's own wait: about one run in three, and
            even re-sent every 10 s, once in a loaded CI run.)"""
            watch.wait_for_grader(timeout=300)
            raise KeyboardInterrupt
            yield  # a generator, as as_completed is

        monkeypatch.setattr(dask_backend, "as_completed", interrupted_while_waiting)
        with pytest.raises(KeyboardInterrupt):
            DaskBackend(client=client).run([job], collect([]))
        assert watch.graders()
        assert left_after(list(watch.seen.values()), seconds=5) == []


def test_cancelled_tasks_stop_grading_even_if_the_stop_event_was_never_set(
    client, tmp_path, rubric_and_baselines, monkeypatch
):
    """As when the client goes away without a word: the workers let its tasks go, and the tasks stop."""
    monkeypatch.setattr(dask_backend.Event, "set", lambda self: None)
    name = marker()
    jobs = [
        make_job(write(tmp_path, "quick.py", TORCH_SMALL), rubric_and_baselines),
        make_job(write(tmp_path, f"{name}.py", sleeper(3600)), rubric_and_baselines, timeout=60),
    ]

    def stop_after_the_first(job: GradingJob, outcome: Outcome) -> None:
        raise RuntimeError("stop")

    with ProcessWatch(name) as watch:
        with pytest.raises(RuntimeError, match="stop"):
            DaskBackend(client=client).run(jobs, stop_after_the_first)
        assert watch.graders()
        assert left_after(list(watch.seen.values()), seconds=5) == []


def test_a_scheduler_out_of_reach_fails_with_the_address(tmp_path, rubric_and_baselines, monkeypatch):
    monkeypatch.setattr(dask_backend, "CONNECT_SECONDS", 1)
    job = make_job(write(tmp_path, "far.py", TORCH_SMALL), rubric_and_baselines)
    address = closed_port_url().replace("http://", "tcp://").rstrip("/")
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address}"):
        DaskBackend(scheduler=address).run([job], collect([]))
    with pytest.raises(ClusterError, match="no such scheduler file"):
        DaskBackend(scheduler_file=tmp_path / "scheduler.json").run([job], collect([]))
