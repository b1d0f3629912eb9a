"""How much slower than a quiet reference machine this one is right now, so time budgets stretch with it.

A rubric's ``seconds_per_model`` is meant for a quiet machine. On a busy or slow one the same training
takes longer, and a budget in plain seconds would cut a student's model short for what other work on
the machine did. The parent (trusted code, before any worker starts) times a small fixed workload with
the thread count the worker will train with and compares it with the same workload on a quiet machine.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

FACTOR_ENV = "GRADER_MACHINE_FACTOR"  # a fixed factor instead of a measured one (reproducible budgets)
MIN_FACTOR, MAX_FACTOR = 1.0, 6.0
SIZE, PRODUCTS = 512, 32  # 8.6 GFLOP of float32 matrix products: about 0.1 s on one quiet core
# The workload on one thread of a quiet 2-core x86-64 machine (AVX2, OpenBLAS), where the rubric's
# budgets were set; more threads are assumed to share the work at 85% efficiency.
REFERENCE_SECONDS = 0.092
THREAD_EFFICIENCY = 0.85
MAX_THREADS = 4  # past a few threads, a product this small no longer scales: it would read as slowness
RUNS = 3


@dataclass(frozen=True)
class MachineSpeed:
    """What training gets on this machine right now: the threads it runs on, and how much its time budgets
    stretch."""

    threads: int
    factor: float  # in [1, 6]: the workload's time on those threads over a quiet machine's


def machine_speed(threads: int) -> MachineSpeed:
    """Time the workload on ``threads`` threads (0: choose), the median of three runs after a warm-up.

    Not the best of three: on a machine shared with other work, the best run times the one quiet moment,
    and training meets the load the rest of the time. When the grader chooses, it also times one thread:
    with the other cores busy, threads that wait for each other are slower than one alone (PyTorch on both
    cores of a 2-core machine whose other core is taken trained 6x slower than quiet), and training gets
    whichever is faster now. The factor compares with a quiet machine training on all the threads asked
    for (all cores when the grader chooses): the budget a quiet machine would have needed.
    """
    fixed = os.environ.get(FACTOR_ENV)
    if fixed:
        return MachineSpeed(threads or os.cpu_count() or 1, _clamped(float(fixed)))
    wanted = threads or os.cpu_count() or 1
    candidates = [threads] if threads else sorted({wanted, 1}, reverse=True)
    seconds = {count: _median_seconds(count) for count in candidates}
    chosen = min(candidates, key=seconds.__getitem__)
    return MachineSpeed(chosen, _clamped(seconds[chosen] / _reference_seconds(wanted)))


def _median_seconds(threads: int) -> float:
    with threadpool_limits(min(threads, MAX_THREADS)):
        return statistics.median([_workload() for _ in range(RUNS + 1)][1:])


def _reference_seconds(threads: int) -> float:
    """The quiet machine's time for the workload on ``threads`` threads."""
    return REFERENCE_SECONDS / (1 + THREAD_EFFICIENCY * (min(threads, MAX_THREADS) - 1))


def _workload() -> float:
    """Seconds for a fixed chain of matrix products; the same inputs every time."""
    a = np.random.default_rng(0).standard_normal((SIZE, SIZE)).astype(np.float32)
    b = a.copy()
    started = time.perf_counter()
    for _ in range(PRODUCTS):
        b = a @ b
        b *= np.float32(1 / np.sqrt(SIZE))  # keep the values finite: the same arithmetic on every run
    return time.perf_counter() - started


def _clamped(factor: float) -> float:
    return round(min(max(factor, MIN_FACTOR), MAX_FACTOR), 2)
