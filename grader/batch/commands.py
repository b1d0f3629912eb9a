"""The instructor's commands: ``grade batch`` a class into a gradebook, ``grade regrade`` it under another
rubric without retraining, ``grade export`` it for an LMS, with feedback pages and a class summary."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import dacite
from rich.console import Console
from rich.markup import escape

from grader import __version__
from grader.baselines import Baselines
from grader.batch.gradebook import Gradebook, GradebookError, GradingKey, Row
from grader.batch.jobs import Backend, GradingJob
from grader.batch.layouts import LAYOUTS
from grader.batch.local import LocalBackend, threads_per_job
from grader.batch.run_one import Outcome
from grader.batch.runner import BatchPlan, plan_batch, run_batch
from grader.batch.submissions import Entry, Gathered, Refused, gather, read_map, read_roster
from grader.cli_options import (
    baselines_option,
    collected_into,
    rubric_and_baselines,
    rubric_option,
    seed_option,
    show_error,
    training_options,
)
from grader.data import read_private_test
from grader.devices import visible_gpus
from grader.errors import GraderError, RubricError
from grader.isolation import isolation
from grader.records import Measurements, from_dict
from grader.render.progress import BatchProgress
from grader.render.text import clean
from grader.report import created_now
from grader.rubric import Rubric
from grader.score import score

DEFAULT_DB = Path("gradebook.sqlite")
DEFAULT_TIMEOUT = 1800.0
REFUSED_HASH = "not-read"  # a refused entry's files are never read, so never hashed


def db_option(command: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_DB,
        show_default=True,
        help="The gradebook (SQLite).",
    )(command)


def _keep_students_apart(allowed: bool) -> None:
    """Refuse a class batch where one student's worker could write another's gradebook row, submission or
    cached measurements, unless told to go on; and say which isolation grades the class."""
    walls = isolation()
    walled = ", ".join(walls.features) or "nothing"
    if walls.separates_students:
        Console(stderr=True).print(f"isolation: {walls.tool} (walled off: {walled})", markup=False, highlight=False)
        return
    problem = GraderError(
        f"the sandbox here is {walls.tool!r} (walled off: {walled}): each student's code would run as this "
        "user, able to write every other student's gradebook row, submission and cached measurements",
        "install bubblewrap (apt-get install bubblewrap), or run as root so each grade gets a private user; "
        "--allow-partial-isolation grades anyway",
    )
    if not allowed:
        raise problem
    Console(stderr=True).print(f"warning: {problem.message} (--allow-partial-isolation)", markup=False)


@dataclass(frozen=True)
class BatchChoices:
    """How ``grade batch`` grades, as its options say: everything but what to grade and where to store it."""

    quick: bool
    device: str
    data_dir: Path | None
    test_data: dict[str, Path]
    problems: tuple[str, ...]
    threads: int
    rubric_path: Path | None
    seed: int | None
    baselines_path: Path | None
    jobs: int | None
    timeout: float
    retry_failed: bool
    force: bool
    no_cache: bool
    backend: str
    scheduler: str | None
    scheduler_file: Path | None
    no_progress: bool
    allow_partial_isolation: bool

    def key(self, rubric: Rubric, baselines: Baselines) -> GradingKey:
        """What a stored result must have been graded under for a rerun to keep it."""
        settings: dict[str, Any] = {"quick": self.quick, "device": self.device, "problems": sorted(self.problems)}
        settings |= {"seed": self.seed, "baselines": baselines_digest(baselines)}
        if self.test_data:  # other test sets, other grades (absent otherwise: existing gradebooks still match)
            sets = sorted(self.test_data.items())
            settings["test_data"] = {p: read_private_test(p, path).record.sha256 for p, path in sets}
        return GradingKey(rubric.name, rubric.digest, json.dumps(settings, sort_keys=True), __version__)

    def grade_args(self, jobs: int) -> tuple[str, ...]:
        """The options of each submission's ``grade``, ``jobs`` of them at once: none names a file but the data's."""
        args = ["--device", self.device, "--threads", str(self.threads or threads_per_job(jobs))]
        args += ["--quick"] if self.quick else []
        args += ["--data-dir", str(self.data_dir.resolve())] if self.data_dir else []
        for problem, path in sorted(self.test_data.items()):
            args += ["--test-data", f"{problem}={path}"]
        args += [word for problem in self.problems for word in ("--problem", problem)]
        args += ["--seed", str(self.seed)] if self.seed is not None else []
        args += ["--no-cache"] if self.force or self.no_cache else []
        return tuple(args)

    def on_gpu(self) -> bool:
        """Whether a job trains on a GPU: a Dask worker's when asked for CUDA, a local one's when one is seen."""
        if self.backend == "dask":
            return self.device == "cuda"
        return self.device != "cpu" and bool(visible_gpus())


@click.command("batch")
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@db_option
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: id,name,email and any of login, canvas_id, moodle_id, github (matched against the entries' names).",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", *LAYOUTS]),
    default="auto",
    show_default=True,
    help="How SUBMISSIONS is laid out (auto: told from its names).",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV entry,student_id: maps entries (as --plan names them) to students, over the matching.",
)
@click.option("--plan", "show_plan", is_flag=True, help="Show which entry is which student, and exit without grading.")
@training_options
@seed_option
@baselines_option
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Submissions at once (default: the cores).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds for one submission's whole grading.",
)
@click.option("--retry-failed", is_flag=True, help="Grade again those that could not be graded, timed out or failed.")
@click.option("--force", is_flag=True, help="Grade everything again, even what is already graded (implies --no-cache).")
@click.option("--no-cache", is_flag=True, help="Retrain even code the measurements cache has seen.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask: the scheduler's address (tcp://HOST:PORT).")
@click.option(
    "--scheduler-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Dask: a scheduler file."
)
@click.option("--no-progress", is_flag=True, help="One line per submission, no progress bar.")
@click.option(
    "--allow-partial-isolation",
    is_flag=True,
    help="Grade even where one student's code could write another's grade (see the README's security model).",
)
@collected_into(BatchChoices, "choices")
def batch_command(
    submissions: Path,
    db: Path,
    roster: Path | None,
    layout: str,
    map_file: Path | None,
    show_plan: bool,
    choices: BatchChoices,
) -> None:
    """Grade every entry of SUBMISSIONS into the gradebook, several at once. SUBMISSIONS is a folder (or a zip
    of one): a folder, notebook or module per student named by the student's id, or an LMS's download
    (Canvas, Moodle, Gradescope, GitHub Classroom clones), matched to the roster. Rerunning resumes: what
    is already graded is skipped."""
    if show_plan:  # nothing is written for a plan
        staging = Path(click.get_current_context().with_resource(tempfile.TemporaryDirectory(prefix="grade-plan-")))
    else:  # beside the gradebook, which names the entries' files there
        staging = db.with_name(f"{db.name}.entries")
    students = read_roster(roster) if roster else None
    overrides = read_map(map_file) if map_file else None
    gathered = gather(submissions, staging, students, layout=layout, overrides=overrides, map_file=map_file)
    if show_plan:
        click.echo(format_plan(gathered, submissions, has_roster=students is not None), nl=False)
        return
    if choices.backend == "local":
        _keep_students_apart(choices.allow_partial_isolation)
    rubric, baselines = rubric_and_baselines(choices.rubric_path, choices.baselines_path)
    key = choices.key(rubric, baselines)
    with Gradebook(db) as gradebook:
        if students is not None:
            gradebook.set_roster(students.values())
        gradebook.remember_training(rubric)
        plan = plan_batch(gathered.entries, gradebook, key, retry_failed=choices.retry_failed, force=choices.force)
        _grade(plan, gathered.refused, gradebook, key, choices, f"{len(gathered.entries)} submissions in {submissions}")


def _grade(
    plan: BatchPlan, refused: list[Refused], gradebook: Gradebook, key: GradingKey, choices: BatchChoices, what: str
) -> None:
    """Record the refused entries, grade the plan, and say how it went on standard error."""
    stderr = Console(stderr=True, highlight=False)
    stderr.print(
        escape(
            f"{what}: {plan.total} to grade, {len(plan.skipped)} already graded"
            + (f", {sum(map(len, plan.copies.values()))} identical to another" if plan.copies else "")
            + (f", {len(refused)} not gradable" if refused else "")
        )
    )
    for entry in refused:
        stderr.print(escape(f"{entry.label or entry.path.name}: not graded, not read: {entry.reason}"))
        _record_refused(gradebook, entry, key)
    jobs = choices.jobs or threads_per_job(1)
    backend, args, on_gpu = _backend(choices, jobs), choices.grade_args(jobs), choices.on_gpu()
    started = time.monotonic()

    def make_job(entry: Entry) -> GradingJob:
        return GradingJob(entry, args, choices.rubric_path, choices.baselines_path, choices.timeout, on_gpu)

    with BatchProgress(stderr, plan.total, enabled=not choices.no_progress) as progress:

        def recorded(entry: Entry, outcome: Outcome) -> None:
            progress(escape(entry.student.id), outcome.status, escape(_detail(outcome)))  # text, not markup

        result = run_batch(plan, gradebook, backend, key, make_job, recorded, _not_stored)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items() if n)
    done = f"done in {time.monotonic() - started:.0f} s: {counts or 'nothing graded'}; gradebook: {gradebook.path}"
    stderr.print(escape(done))


def _not_stored(entry: Entry, error: GradebookError) -> None:
    """A result the gradebook would not take: said, and the batch goes on (the next one grades it again)."""
    show_error(error)


def _record_refused(gradebook: Gradebook, refused: Refused, key: GradingKey) -> None:
    """A refused entry is in the gradebook as not gradable, with the reason, like any other student."""
    entry = Entry(refused.student, refused.path, REFUSED_HASH, label=refused.label)
    try:
        gradebook.record(entry, Outcome("ungradable", "", f"not graded: {refused.reason}", "", 0.0), key)
    except GradebookError as error:
        _not_stored(entry, error)


@click.command("regrade")
@db_option
@rubric_option("The rubric to score with (default: the grader's own).")
@baselines_option
def regrade_command(db: Path, rubric_path: Path | None, baselines_path: Path | None) -> None:
    """Score every stored submission again from its measurements, under RUBRIC: no training, seconds for a
    class. Submissions stored without measurements (timed out, grader errors) are left as they are. A
    RUBRIC that changes training (epochs, budgets, seed...) is refused: grade the class again under it."""
    rubric, baselines = rubric_and_baselines(rubric_path, baselines_path)
    started, changes = time.monotonic(), []
    at = created_now()
    # one transaction: an error anywhere (a refused rubric, a GradebookError) changes nothing
    with Gradebook.open_existing(db) as gradebook, gradebook.transaction():
        measured = [row for row in gradebook.rows() if row.report_json]
        _check_training(rubric, rubric_path, gradebook, measured)
        gradebook.remember_training(rubric)
        for row in measured:
            stored, measurements, settings = _stored(db, row)
            settings["baselines"] = baselines_digest(baselines)
            report = score(measurements, baselines, rubric, created=at)
            new = gradebook.rescored(row, report, stored, settings)
            if (row.points, row.max_points, row.passed) != (new.points, new.max_points, new.passed):
                gradebook.log_regrade(row, new, at)
                changes.append((row, new))
    rescored = len(measured)
    click.echo(format_changes(changes), nl=False)
    click.echo(
        f"rescored {rescored} submissions under rubric {rubric.name} {rubric.digest} in "
        f"{time.monotonic() - started:.1f} s: {len(changes)} changed, {rescored - len(changes)} unchanged "
        "(table regrade_log keeps each change)",
        err=True,
    )


def _check_training(rubric: Rubric, rubric_path: Path | None, gradebook: Gradebook, rows: list[Row]) -> None:
    """Refuse a rubric whose training part is not the one the rows' measurements were made with: re-scoring
    cannot show what another epoch budget would have trained. Rows graded before the gradebook kept training
    parts (schema 2) cannot be checked: said, and re-scored."""
    trained_under = gradebook.trainings()
    known = {row.rubric_digest for row in rows if row.rubric_digest in trained_under}
    changed = sorted({key for digest in known for key in rubric.training.changed_from(trained_under[digest])})
    if changed:
        given = f"--rubric {rubric_path}" if rubric_path else "the default rubric"
        raise RubricError(
            f"{given} changes what training measures ({', '.join(changed)}): the measurements in "
            f"{gradebook.path} were made under other training settings, so regrade cannot score them under it",
            f"grade the class again under it: grade batch SUBMISSIONS --db {gradebook.path}"
            + (f" --rubric {rubric_path}" if rubric_path else "")
            + " (regrade re-scores only: points, bands, pass mark, what costs points)",
        )
    unknown = sum(row.rubric_digest not in trained_under for row in rows)
    if unknown:
        click.echo(
            f"warning: {unknown} results were graded before {gradebook.path} kept the rubric's training part: "
            "re-scored without checking that this rubric trains as theirs did",
            err=True,
        )


def format_changes(changes: list[tuple[Row, Row]]) -> str:
    """The regrade's changes as a table: each student's points and verdict before and after."""
    if not changes:
        return ""
    table = [["student", "before", "after", "change", "verdict"]]
    for before, after in changes:
        delta = (after.points or 0) - (before.points or 0)
        verdicts = f"{_verdict(before)} -> {_verdict(after)}" if before.passed != after.passed else _verdict(after)
        table.append([clean(after.student.id), _out_of(before), _out_of(after), f"{delta:+g}", verdicts])
    widths = [max(len(row[n]) for row in table) for n in range(len(table[0]))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in table
    )


def _out_of(row: Row) -> str:
    return f"{row.points:g} / {row.max_points:g}" if row.points is not None and row.max_points else "-"


def _verdict(row: Row) -> str:
    if row.status != "graded":
        return row.status
    return "passed" if row.passed else "below pass mark"


EXPORTS = {
    "csv": "a plain gradebook CSV: status, points and each model's points per student",
    "canvas": "a CSV for Canvas' gradebook import (with its Points Possible row)",
    "moodle": "a CSV for Moodle's grade import: identifier, grade, feedback",
    "json": "every stored result as JSON (--reports adds each full report)",
    "feedback": "a folder per student with report.html and report.md (--out DIR)",
    "summary": "the class summary page (HTML): scores, accuracy per model, common failures, copies",
}


@click.command("export")
@db_option
@click.option(
    "--format",
    "export_format",
    type=click.Choice(list(EXPORTS)),
    required=True,
    help="; ".join(f"{name}: {what}" for name, what in EXPORTS.items()),
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="The file (or, for feedback, folder).")
@click.option("--assignment", default="Neural networks", show_default=True, help="Canvas: the assignment column.")
@click.option(
    "--points-possible",
    type=float,
    default=100.0,
    show_default=True,
    help="Canvas and Moodle: the assignment's (grade item's) maximum points; grades are scaled to it.",
)
@click.option(
    "--ungraded",
    type=click.Choice(["blank", "0", "EX"]),
    default="blank",
    show_default=True,
    help="Canvas and Moodle: the grade of a student without a score (nothing handed in, timed out, grader "
    "error): blank (no grade), 0, or EX (Canvas: excused). An ungradable submission always scores 0.",
)
@click.option("--reports", is_flag=True, help="json: include each student's full report.")
def export_command(
    db: Path,
    export_format: str,
    out: Path | None,
    assignment: str,
    points_possible: float,
    ungraded: str,
    reports: bool,
) -> None:
    """Export the gradebook for an LMS, as feedback pages, or as the class summary: every roster student
    (missing where nothing was handed in) and every entry on no roster. Without --out a file format goes
    to standard output."""
    from grader.batch import export
    from grader.batch.summary import class_view
    from grader.render.class_summary import render_class_summary

    if export_format == "moodle" and ungraded == "EX":
        raise click.UsageError("Moodle has no excused grade: --ungraded blank or 0 with --format moodle")
    if points_possible <= 0:
        raise click.UsageError(f"--points-possible must be above 0, not {points_possible:g}")
    if export_format == "feedback" and out is None:
        raise click.UsageError("--format feedback needs --out DIR")
    with Gradebook.open_existing(db) as gradebook:
        rows, regrades = gradebook.class_rows(), gradebook.regrade_log()
    if export_format == "feedback":
        assert out is not None
        written = export.write_feedback(rows, out)
        click.echo(f"wrote {len(written)} feedback files for {len(rows)} students in {out}", err=True)
        return
    blank = export.UNGRADED_CHOICES[ungraded]
    renderers = {
        "csv": lambda: export.export_csv(rows),
        "canvas": lambda: export.export_canvas(rows, assignment, points_possible, ungraded=blank),
        "moodle": lambda: export.export_moodle(rows, points_possible, ungraded=blank),
        "json": lambda: export.export_json(rows, reports=reports, regrades=regrades),
        "summary": lambda: render_class_summary(class_view(rows)),
    }
    text = renderers[export_format]()
    if export_format == "moodle":
        _say_left_out(export.not_on_roster(rows))
    _write_export(text, out, len(rows))


def _say_left_out(left_out: list[Row]) -> None:
    """Moodle's importer stops the whole import at one user it cannot find: the file leaves them out, and says so."""
    if left_out:
        click.echo(
            f"left out of the Moodle file, not on the roster ({len(left_out)}): "
            + ", ".join(clean(row.student.id) for row in left_out)
            + " (map them with grade batch --map FILE.csv, or add them to the roster)",
            err=True,
        )


def _write_export(text: str, out: Path | None, students: int) -> None:
    """A file export: to ``out``, or to standard output without it."""
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"wrote {out} ({students} students)", err=True)


def _stored(db: Path, row: Row) -> tuple[dict[str, Any], Measurements, dict[str, Any]]:
    """A row's measurements (as parsed, and as a record) and settings, or GradebookError naming the row."""
    try:
        stored = json.loads(row.report_json or "")["measurements"]
        return stored, from_dict(Measurements, stored), dict(json.loads(row.settings))
    except (ValueError, TypeError, KeyError, dacite.DaciteError) as error:
        raise GradebookError(
            f"{db}: the stored result of {row.student.id} cannot be read ({type(error).__name__}: {error})",
            f"grade that student again: grade batch SUBMISSIONS --db {db} --force",
        ) from None


def baselines_digest(baselines: Baselines) -> str:
    """Part of a result's settings: other baselines, other points."""
    return hashlib.sha256(baselines.to_json().encode()).hexdigest()[:16]


def _backend(choices: BatchChoices, jobs: int) -> Backend:
    if choices.backend == "local":
        return LocalBackend(jobs, visible_gpus())
    if choices.scheduler is None and choices.scheduler_file is None:
        raise click.UsageError("--backend dask needs --scheduler tcp://HOST:PORT or --scheduler-file FILE")
    from grader.batch.dask_backend import DaskBackend  # distributed is an optional extra: GraderError without it

    return DaskBackend(scheduler=choices.scheduler, scheduler_file=choices.scheduler_file)


def _detail(outcome: Outcome) -> str:
    """A batch line's detail: ``46.5 / 100 points, 12 s``; an ungradable one's 0 out of the total, and why."""
    why = outcome.error.splitlines()[0][:100] if outcome.error else ""
    out_of = f" / {outcome.max_points:g}" if outcome.max_points is not None else ""
    if outcome.status == "graded" and outcome.points is not None:
        return f"{outcome.points:g}{out_of} points, {outcome.seconds:.0f} s"
    if outcome.status == "ungradable":
        return f"{outcome.points or 0:g}{out_of} points: {why}".rstrip(": ")
    return why


def format_plan(gathered: Gathered, submissions: Path, *, has_roster: bool) -> str:
    """What ``--plan`` shows: each entry and the student it is graded as (and by which key it matched),
    the entries on no roster, the roster students with nothing handed in, and the entries not graded."""
    lines = [f"{submissions}: {gathered.layout} layout, {len(gathered.mappings)} entries"]
    table = [["entry", "student", "name", "matched by", "late"]]
    for mapping in sorted(gathered.mappings, key=lambda m: (m.student.id, m.found.label)):
        matched = mapping.matched_by or ("not on the roster" if has_roster else "its name")
        late = "late" if mapping.found.late else ""
        table.append([mapping.found.label, mapping.student.id, mapping.student.name, matched, late])
    widths = [max(len(clean(row[n])) for row in table) for n in range(len(table[0]))]
    lines += [
        "  ".join(clean(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    unmatched = [m for m in gathered.mappings if has_roster and not m.on_roster]
    if unmatched:
        lines.append(
            f"not on the roster ({len(unmatched)}): graded under the id their name gives; --map FILE.csv maps them"
        )
        lines += [f"  {clean(m.found.label)} -> {clean(m.student.id)}" for m in unmatched]
    if has_roster:
        lines.append(f"missing ({len(gathered.missing)}): roster students with nothing handed in")
        lines += [f"  {clean(s.id)} {clean(s.name)}".rstrip() for s in gathered.missing]
    if gathered.refused:
        lines.append(f"not graded ({len(gathered.refused)}):")
        lines += [f"  {clean(r.label or r.path.name)}: {clean(r.reason)}" for r in gathered.refused]
    return "\n".join(lines) + "\n"
