"""A batch job: one entry to grade and how, its files named so that a backend grading elsewhere can ship
the rubric and the baselines and pass their new places instead."""

from __future__ import annotations

from pathlib import Path

from grader.batch.jobs import GradingJob
from grader.batch.submissions import Entry, Student

ENTRY = Entry(Student("s1"), Path("/course/s1.py"), content_hash="h")


def test_the_grade_arguments_are_the_options_then_the_rubric_and_baselines_given():
    job = GradingJob(ENTRY, ("--quick", "--seed", "3"), Path("/course/rubric.toml"), None, timeout=60.0, gpu=False)
    assert job.grade_args() == ["--quick", "--seed", "3", "--rubric", "/course/rubric.toml"]
    bare = GradingJob(ENTRY, (), None, None, timeout=60.0, gpu=False)
    assert bare.grade_args() == []


def test_a_backend_grading_elsewhere_passes_the_places_it_shipped_the_files_to():
    job = GradingJob(ENTRY, ("--quick",), Path("/course/rubric.toml"), Path("/course/baselines.json"), 60.0, gpu=True)
    assert job.grade_args(rubric=Path("/scratch/rubric.toml"), baselines=Path("/scratch/baselines.json")) == [
        "--quick",
        "--rubric",
        "/scratch/rubric.toml",
        "--baselines",
        "/scratch/baselines.json",
    ]
