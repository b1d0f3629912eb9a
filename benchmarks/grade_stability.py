"""Same submission, same rubric, same seeds: how much does the grade move with the machine's load?

Grades one submission ``--runs`` times under three conditions, side by side in one run:

1. quiet: nothing else running;
2. loaded: another process keeps one core busy with matrix products (as another training job would);
3. loaded, calibration off: the same load with ``GRADER_MACHINE_FACTOR=1``, i.e. budgets in plain
   seconds on every core, as the grader had them before budgets stretched with the machine's measured
   speed and training took the thread count that is faster at the moment;
4. loaded, with the default rubric's budgets (those 1 to 3 use are tight on purpose, see below).

The rubric's time budgets are set tight on purpose (``--pressure`` times the slowest model's training time
in a quiet warm-up run), so that load can matter: with the default, generous budgets nothing is ever cut
and every condition gives the same grade trivially.

    python benchmarks/grade_stability.py [--runs 5] [--submission PATH] [--full] [--data-dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from grader_cost import grade  # benchmarks/ is on the path of a script run from it
from machine import describe_machine

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "examples" / "submission.py"
LOAD = """
import numpy as np
a = np.random.default_rng(0).standard_normal((768, 768)).astype(np.float32)
b = a.copy()
while True:
    b = a @ b
    b /= np.abs(b).max()  # bounded, never denormal: the same work every product
"""


@contextmanager
def one_core_busy():
    """Another process on one core, single-threaded, for as long as the block runs."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load = subprocess.Popen([sys.executable, "-c", LOAD], env=env)
    try:
        time.sleep(1.0)  # running before the grader measures the machine
        yield
    finally:
        load.kill()
        load.wait()


def tight_rubric(report: dict, pressure: float, path: Path) -> dict[str, float]:
    """Budgets at ``pressure`` times each problem's slowest model in the warm-up run (at least 2 s)."""
    budgets: dict[str, float] = {}
    for model in report["measurements"]["models"]:
        if model["run"] is not None:
            problem = model["problem"]
            budgets[problem] = max(budgets.get(problem, 0.0), model["run"]["seconds"])
    budgets = {problem: max(2.0, round(pressure * seconds, 1)) for problem, seconds in budgets.items()}
    path.write_text("".join(f"[problems.{p}]\nseconds_per_model = {s}\n" for p, s in budgets.items()))
    return budgets


def summary(runs: list[tuple[float, dict]]) -> tuple[str, float, float, int, str]:
    points = [report["points"] for _, report in runs]
    models = [m for _, report in runs for m in report["measurements"]["models"]]
    cut = sum(1 for m in models if m["run"] and m["run"]["stop_reason"] in ("time_budget", "killed"))
    cut += sum(1 for m in models if m["failure"] and m["failure"]["kind"] == "timeout")
    factors = sorted({m["run"]["machine_factor"] for m in models if m["run"]})
    return (
        ", ".join(f"{p:g}" for p in points),
        max(points) - min(points),
        statistics.mean(seconds for seconds, _ in runs),
        cut,
        f"{factors[0]:g}-{factors[-1]:g}" if factors else "-",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", type=Path, default=EXAMPLE)
    parser.add_argument("--full", action="store_true", help="full mode (default: --quick)")
    parser.add_argument("--pressure", type=float, default=1.5, help="budget / quiet training time")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="2 runs, Iris only: a check the script works")
    options = parser.parse_args()
    runs = 2 if options.smoke else options.runs
    args = ["--no-cache"] + ([] if options.full else ["--quick"])
    args += ["--problem", "iris"] if options.smoke else []
    args += ["--data-dir", str(options.data_dir)] if options.data_dir else []
    with tempfile.TemporaryDirectory() as work:
        rubric = Path(work) / "tight.toml"
        warm_seconds, warm = grade(str(options.submission), *args)
        budgets = tight_rubric(warm, options.pressure, rubric)
        graded = [*args, "--rubric", str(rubric)]
        print(f"warm-up grade {warm_seconds:.1f} s; tight budgets (s): {budgets}", file=sys.stderr, flush=True)
        conditions: dict[str, list[tuple[float, dict]]] = {}
        conditions["quiet"] = [grade(str(options.submission), *graded) for _ in range(runs)]
        with one_core_busy():
            conditions["loaded"] = [grade(str(options.submission), *graded) for _ in range(runs)]
            fixed = os.environ | {"GRADER_MACHINE_FACTOR": "1"}
            conditions["loaded, calibration off"] = [
                grade(str(options.submission), *graded, env=fixed) for _ in range(runs)
            ]
            conditions["loaded, the default rubric's budgets"] = [
                grade(str(options.submission), *args) for _ in range(runs)
            ]
    mode = "full" if options.full else "quick"
    print(f"\nGrade stability: {options.submission.name}, {mode} mode, {runs} grades per condition")
    print(f"Machine: {describe_machine()}")
    print(f"Budgets: {options.pressure:g}x the quiet training time of each problem's slowest model: {budgets}\n")
    print("| condition | points, grade by grade | spread | mean seconds | models cut by the clock | factor |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, graded_runs in conditions.items():
        points, spread, seconds, cut, factor = summary(graded_runs)
        print(f"| {name} | {points} | {spread:.2f} | {seconds:.1f} | {cut} | {factor} |")


if __name__ == "__main__":
    main()
