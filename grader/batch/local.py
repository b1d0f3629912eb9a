"""The local backend: a pool of grading processes on this machine, ``jobs`` at a time.

Each job's ``grade_args`` set its CPU threads (so the pool does not oversubscribe the cores); a job that
trains on a GPU sees one visible GPU, handed out in turn, so that the jobs spread over all of them.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from grader.batch.jobs import GradingJob, OnResult
from grader.batch.run_one import Outcome, grade_entry


class LocalBackend:
    def __init__(self, jobs: int, gpus: Sequence[str] = ()) -> None:
        self.jobs = jobs
        self._gpus = itertools.cycle(gpus) if gpus else None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def run(self, jobs: Sequence[GradingJob], on_result: OnResult) -> None:
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="grade") as pool:
            futures = {pool.submit(self._grade, job): job for job in jobs}
            try:
                for future in as_completed(futures):
                    on_result(futures[future], future.result())
            except BaseException:  # Ctrl-C, or on_result failing: stop everything that runs
                self._stop.set()
                for future in futures:
                    future.cancel()
                raise

    def _grade(self, job: GradingJob) -> Outcome:
        env = dict(os.environ)
        if job.gpu and self._gpus is not None:
            with self._lock:
                env["CUDA_VISIBLE_DEVICES"] = next(self._gpus)
        return grade_entry(job.entry.path, job.grade_args(), job.timeout, env=env, cancelled=self._stop.is_set)


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)
