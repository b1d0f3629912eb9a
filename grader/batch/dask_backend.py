"""The Dask backend: each job is one task on a Dask cluster, which runs one grading process on a worker.

A cluster for grading::

    dask scheduler                                        # prints its address, tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 4              # a CPU worker: four gradings at a time
    CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nthreads 1 --resources GPU=1   # one per GPU

A job that trains on a GPU asks for the worker resource ``GPU=1``, so it runs only on a worker started with
``--resources GPU=1``, and on the device that worker's ``CUDA_VISIBLE_DEVICES`` names (the task leaves it as
it is). Each worker needs the grader and the frameworks installed, and the MNIST files where ``grade`` looks
for them ($GRADER_DATA_DIR or its cache): no file system is shared. The entry's files (those the grader
would read), the rubric and the baselines travel with the task as bytes; the task writes them into a folder
of its own in the worker's local directory, grades them there in a ``grade`` process of their own (see
``run_one``), and deletes the folder. Only plain data crosses the wire, both ways: the outcome comes back as
a dict of strings and numbers, and the report in it is the grader's own JSON text.

Stopping: when ``run`` is left early (Ctrl-C, or ``on_result`` raising) it sets the batch's
``distributed.Event`` and cancels its tasks; a running task polls the event, and whether its worker has let
it go (its client vanished without setting the event), and kills its grading process group. When a worker
dies, the grading processes it started exit by their lifeline.

Retrying: a task whose worker dies is run again on another worker by the scheduler, up to the scheduler's
``distributed.scheduler.allowed-failures`` times (3 unless the scheduler was started with another, e.g.
``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler``); ``retries`` does not count these, it is
how many more times a task that raised (writing its files, reaching the scheduler) is run. A task that
still fails comes back as an outcome with status "error" that names the cause; a grading that fails is an
outcome already, and is not retried.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grader.batch.jobs import GradingJob, OnResult
from grader.batch.run_one import Outcome, grade_entry
from grader.batch.submissions import Entry, Student
from grader.content_hash import files_under
from grader.errors import GraderError

try:
    from distributed import Client, Event, Future, as_completed, get_worker
except ImportError as error:  # an optional extra
    raise GraderError("the Dask backend needs the distributed package", "pip install 'nn-grader[dask]'") from error

CONNECT_SECONDS = 30

Shipped = dict[str, Any]  # one job as plain data: see _ship


class ClusterError(GraderError):
    """The Dask cluster cannot grade these jobs: out of reach, without workers, or without a GPU worker."""


class DaskBackend:
    """Grades jobs on the Dask cluster at ``scheduler`` (``tcp://HOST:PORT``), the one ``scheduler_file``
    describes, or that of ``client``; a client it opened itself, it closes."""

    def __init__(
        self,
        scheduler: str | None = None,
        scheduler_file: Path | None = None,
        client: Client | None = None,
        retries: int = 2,
    ) -> None:
        if [scheduler, scheduler_file, client].count(None) != 2:
            raise ValueError("give one of scheduler, scheduler_file and client")
        self.scheduler = scheduler
        self.scheduler_file = scheduler_file
        self.client = client
        self.retries = retries

    def run(self, jobs: Sequence[GradingJob], on_result: OnResult) -> None:
        """Grade ``jobs`` on the cluster, handing each outcome to ``on_result`` here as it comes."""
        if not jobs:
            return
        client = self.client or self._connect()
        try:
            _check_cluster(client, jobs)
            self._grade(client, jobs, on_result)
        finally:
            if client is not self.client:
                client.close()

    def _connect(self) -> Client:
        where = self.scheduler or f"the address in {self.scheduler_file}"
        if self.scheduler_file is not None and not self.scheduler_file.is_file():  # Client would wait for it forever
            raise ClusterError(
                f"{self.scheduler_file}: no such scheduler file",
                f"start the scheduler with: dask scheduler --scheduler-file {self.scheduler_file}",
            )
        try:
            if self.scheduler_file is not None:
                return Client(scheduler_file=str(self.scheduler_file), timeout=CONNECT_SECONDS, set_as_default=False)
            return Client(self.scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
        except OSError as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {where}: {error}",
                "start it (dask scheduler) and check the address, or the scheduler file it wrote",
            ) from error

    def _grade(self, client: Client, jobs: Sequence[GradingJob], on_result: OnResult) -> None:
        batch = uuid.uuid4().hex
        stop = Event(f"nn-grader-stop-{batch}", client=client)
        futures: dict[Future[dict[str, Any]], GradingJob] = {}
        try:
            for number, job in enumerate(jobs):
                key = f"grade-{job.entry.student.id}-{number}-{batch}"
                future = client.submit(
                    _grade_shipped,
                    _ship(job),
                    stop.name,
                    key,
                    key=key,
                    retries=self.retries,
                    resources={"GPU": 1} if job.gpu else None,
                )
                futures[future] = job
            for future in as_completed(list(futures), loop=client.loop):
                on_result(futures[future], _outcome(future))
        except BaseException:  # Ctrl-C, or on_result failing: stop the gradings that run, drop the others
            stop.set()
            client.cancel(list(futures))
            raise


def _check_cluster(client: Client, jobs: Sequence[GradingJob]) -> None:
    """Fail now, rather than leave tasks waiting forever for a worker that is not there."""
    assert client.scheduler is not None  # a connected client's
    address = client.scheduler.address
    workers = client.scheduler_info(n_workers=-1)["workers"]  # all of them; releases before 2025 ignore n_workers
    if not workers:
        raise ClusterError(f"the Dask cluster at {address} has no workers", f"start one: dask worker {address}")
    gpu_jobs = sum(job.gpu for job in jobs)
    if gpu_jobs and not any((worker.get("resources") or {}).get("GPU", 0) >= 1 for worker in workers.values()):
        raise ClusterError(
            f"{gpu_jobs} job(s) train on a GPU, but no worker of the Dask cluster at {address} offers the GPU resource",
            f"start one worker per GPU: CUDA_VISIBLE_DEVICES=0 dask worker {address} --resources GPU=1",
        )


def entry_files(path: Path) -> dict[str, bytes]:
    """The files of an entry that the grader reads: a file by its name; a folder's by their paths in it,
    as the loader lists them (``grader.load.files_under``)."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {name: (path / name).read_bytes() for name in files_under(path)}


def _ship(job: GradingJob) -> Shipped:
    """The job as plain data, with the contents of every file it names."""
    return {
        "student": job.entry.student.id,
        "content_hash": job.entry.content_hash,
        "entry": job.entry.path.name,
        "folder": job.entry.path.is_dir(),
        "files": entry_files(job.entry.path),
        "rubric": _file(job.rubric),
        "baselines": _file(job.baselines),
        "options": list(job.options),
        "timeout": job.timeout,
        "gpu": job.gpu,
    }


def _file(path: Path | None) -> tuple[str, bytes] | None:
    return None if path is None else (path.name, path.read_bytes())


def _grade_shipped(shipped: Shipped, stop_event: str, key: str) -> dict[str, Any]:
    """Runs on a worker: write what was shipped into a folder of its own, grade it, delete the folder."""
    worker = get_worker()
    stop = Event(stop_event)

    def cancelled() -> bool:
        task = worker.state.tasks.get(key)  # "cancelled" once the scheduler lets it go, event or not
        return task is None or task.state == "cancelled" or stop.is_set()

    with tempfile.TemporaryDirectory(prefix="nn-grader-", dir=worker.local_directory) as scratch:
        root = Path(scratch)
        entry = root / "entry" / shipped["entry"]
        _write(entry if shipped["folder"] else entry.parent, shipped["files"])
        rubric, baselines = (_write_named(root / name, shipped[name]) for name in ("rubric", "baselines"))
        # The job as it is here: it names none of the client's files, grade_args gets their places here.
        job = GradingJob(
            Entry(Student(shipped["student"]), entry, shipped["content_hash"]),
            tuple(shipped["options"]),
            None,
            None,
            shipped["timeout"],
            shipped["gpu"],
        )
        args = job.grade_args(rubric=rubric, baselines=baselines)
        outcome = grade_entry(entry, args, job.timeout, cancelled=cancelled)
    return asdict(outcome)


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _write_named(folder: Path, file: tuple[str, bytes] | None) -> Path | None:
    if file is None:
        return None
    name, content = file
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def _outcome(future: Future[dict[str, Any]]) -> Outcome:
    """What the task sent back; a task that failed for good (its workers died, or it raised) as an error."""
    try:
        return Outcome(**future.result())
    except Exception as error:
        return Outcome("error", "", f"the Dask task failed: {type(error).__name__}: {error}", "", 0.0)
