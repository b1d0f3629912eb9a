"""Batch grading on this machine, side by side in one run:

1. throughput: a class of 8 Iris-only PyTorch submissions (distinct files, so none is deduplicated),
   graded with ``grade batch --jobs 1`` and ``--jobs 2`` into fresh gradebooks;
2. regrade: 1,000 stored submissions re-scored under another rubric with ``grade regrade``.

    python benchmarks/batch_grading.py [--students 8] [--stored 1000]

Prints a table with the machine and the library versions.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine

REPOSITORY = Path(__file__).resolve().parent.parent
SUBMISSION = REPOSITORY / "tests" / "fixtures" / "submissions" / "torch_small.py"


def make_class(folder: Path, students: int) -> Path:
    folder.mkdir(parents=True)
    for n in range(students):
        (folder / f"student{n:02d}.py").write_text(SUBMISSION.read_text() + f"\n# student {n}\n")
    return folder


def grade(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def throughput(work: Path, students: int, jobs: int) -> float:
    folder = make_class(work / f"class-{jobs}", students)
    return grade("batch", str(folder), "--db", str(work / f"jobs{jobs}.sqlite"), "--problem", "iris",
                 "--jobs", str(jobs), "--no-cache", "--no-progress")  # fmt: skip


def fill_gradebook(source_db: Path, target: Path, stored: int) -> None:
    """``stored`` rows, each a copy of a real graded row under another student id."""
    from grader.batch.gradebook import Gradebook, GradingKey
    from grader.batch.run_one import Outcome
    from grader.batch.submissions import Entry, Student

    with Gradebook(source_db) as source:
        row = next(r for r in source.rows() if r.report_json)
    outcome = Outcome(row.status, row.report_json or "", row.error, row.log, row.seconds, row.device)
    with Gradebook(target) as gradebook, gradebook.transaction():
        for n in range(stored):
            entry = Entry(Student(f"s{n:05d}"), Path(row.path), row.content_hash)
            gradebook.record(entry, outcome, GradingKey.of(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--stored", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        seconds = {jobs: throughput(work, args.students, jobs) for jobs in (1, 2)}
        fill_gradebook(work / "jobs1.sqlite", work / "big.sqlite", args.stored)
        rubric = work / "rubric.toml"
        rubric.write_text('name = "benchmark"\n[accuracy]\npoints = 20.0\n')
        regrade = grade("regrade", "--db", str(work / "big.sqlite"), "--rubric", str(rubric))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {describe_machine()}")
    print(f"{'measure':<46} {'seconds':>9} {'per item':>10} {'speed-up':>9}")
    for jobs, total in seconds.items():
        label = f"batch of {args.students} Iris submissions, --jobs {jobs}"
        print(f"{label:<46} {total:9.1f} {total / args.students:9.2f}s {seconds[1] / total:8.2f}x")
    label = f"regrade of {args.stored} stored submissions"
    print(f"{label:<46} {regrade:9.1f} {1000 * regrade / args.stored:8.1f}ms {'':>9}")


if __name__ == "__main__":
    main()
