"""Batch grading: decide what needs grading, hand it to a backend, store each result as it comes.

Resuming is the default: an entry whose files, rubric, settings and grader version match its stored
result is skipped; ``retry_failed`` grades again those that could not be graded, timed out or hit an
error; ``force`` grades everything. Entries with the same files (a copied submission) are graded once
and the result stored for each student.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.batch.gradebook import Gradebook, GradebookError, GradingKey
from grader.batch.jobs import Backend, GradingJob
from grader.batch.run_one import STATUSES, Outcome
from grader.batch.submissions import Entry

FAILED = ("ungradable", "timed_out", "error")
NOT_STORED = "not stored"  # graded, but the gradebook would not take the result


@dataclass
class BatchPlan:
    to_grade: list[Entry]  # one per distinct content
    copies: dict[str, list[Entry]]  # content hash -> the other entries with the same files
    skipped: list[Entry]  # already graded under the same key

    @property
    def total(self) -> int:
        return len(self.to_grade) + sum(len(copies) for copies in self.copies.values())


@dataclass
class BatchResult:
    counts: Counter[str] = field(default_factory=Counter)  # status -> number of students
    skipped: int = 0


def plan_batch(
    entries: list[Entry], gradebook: Gradebook, key: GradingKey, *, retry_failed: bool = False, force: bool = False
) -> BatchPlan:
    pending: list[Entry] = []
    skipped: list[Entry] = []
    for entry in entries:
        row = gradebook.get(entry.student.id)
        done = row is not None and row.content_hash == entry.content_hash and key.matches(row)
        retry = row is not None and row.status in FAILED and retry_failed
        (pending if force or not done or retry else skipped).append(entry)
    by_content: dict[str, list[Entry]] = defaultdict(list)
    for entry in pending:
        by_content[entry.content_hash].append(entry)
    return BatchPlan(
        to_grade=[same[0] for same in by_content.values()],
        copies={digest: same[1:] for digest, same in by_content.items() if len(same) > 1},
        skipped=skipped,
    )


def run_batch(
    plan: BatchPlan,
    gradebook: Gradebook,
    backend: Backend,
    key: GradingKey,
    make_job: Callable[[Entry], GradingJob],
    on_recorded: Callable[[Entry, Outcome], None] = lambda entry, outcome: None,
    on_not_stored: Callable[[Entry, GradebookError], None] = lambda entry, error: None,
) -> BatchResult:
    """Grade the plan; each student's result is in the gradebook the moment its grading ends. A result the
    gradebook would not take (locked past every retry) is handed to ``on_not_stored`` and the batch goes
    on: the next batch grades that entry again."""
    result = BatchResult(Counter({status: 0 for status in STATUSES}), len(plan.skipped))

    def record(job: GradingJob, outcome: Outcome) -> None:
        for entry in [job.entry, *plan.copies.get(job.entry.content_hash, [])]:
            try:
                gradebook.record(entry, outcome, key)
            except GradebookError as error:
                result.counts[NOT_STORED] += 1
                on_not_stored(entry, error)
                continue
            result.counts[outcome.status] += 1
            on_recorded(entry, outcome)

    backend.run([make_job(entry) for entry in plan.to_grade], record)
    return result
