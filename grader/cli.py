"""The ``grade`` command.

``grade SUBMISSION`` grades one submission (the command ``submission``, named or not);
``grade baselines`` regenerates the reference baselines; ``grade rubric`` shows the rubric in force.

Exit codes (``grader.errors``): 0 graded and at or above the pass mark; 1 graded, below it; 2 usage error;
3 the submission could not be graded at all. A command that stops on an error raises it: ``GradeGroup``
shows it and exits with the code the error's class carries, the same from every command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import dacite
from rich.console import Console

from grader import __version__, frameworks
from grader.baselines import REPOSITORY_BASELINES
from grader.batch.commands import batch_command, export_command, regrade_command
from grader.batch.similarity import copies_command
from grader.bundle import choices, write_bundle
from grader.cli_options import (
    baselines_option,
    report_options,
    rubric_and_baselines,
    rubric_option,
    seed_option,
    show_error,
    training_options,
)
from grader.data import PROBLEMS
from grader.errors import EXIT_UNGRADABLE, GraderError
from grader.lifeline import hold_inherited_lifeline
from grader.load import frameworks_imported, load_submission
from grader.pipeline import GradeOptions, grade, measure_submission
from grader.records import to_json
from grader.render import FORMATS
from grader.render.progress import ProgressPrinter
from grader.render.terminal import render_found, render_terminal
from grader.report import Report, created_now
from grader.rubric import DEFAULT_RUBRIC, Rubric, load_rubric
from grader.score import score

DEFAULT_COMMAND = "submission"


class GradeGroup(click.Group):
    """``grade PATH`` means ``grade submission PATH``: the common case needs no sub-command. And the one
    place an error stops a command: shown with its hint, exiting with the code its class carries."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraderError as error:
            show_error(error)
            ctx.exit(error.exit_code)


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nn-grader")
def main() -> None:
    """Retrain and grade a neural-network submission (Iris + MNIST, PyTorch or Keras).

    \b
    grade hw.ipynb                 grade one submission (a notebook, a .py module, or a folder)
    grade baselines                regenerate reference/baselines.json
    grade rescore report.json      score a JSON report again under another rubric, without retraining
    grade framework hw.ipynb       the framework (and extras) a submission imports (for CI: install only those)
    grade rubric                   print the rubric in force
    grade batch submissions/       grade a class into a gradebook (resumable); see also regrade, export
    """
    hold_inherited_lifeline()


@main.command(DEFAULT_COMMAND)
@click.argument("path", type=click.Path(path_type=Path))
@training_options
@seed_option
@report_options
@click.option(
    "--run-all",
    is_flag=True,
    help="A notebook: run every cell in order, training and plots included (normally only imports, "
    "definitions and constants are kept).",
)
@click.option("--keep-workdir", is_flag=True, help="Keep the worker's scratch directory, for debugging.")
@click.option("--no-progress", is_flag=True, help="No progress output on stderr.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Retrain even if this code was measured before (same code, training rubric, data and grader).",
)
def submission_command(
    path: Path,
    quick: bool,
    device: str,
    data_dir: Path | None,
    test_data: dict[str, Path],
    problems: tuple[str, ...],
    threads: int,
    rubric_path: Path | None,
    seed: int | None,
    formats: tuple[str, ...],
    out: Path | None,
    baselines_path: Path | None,
    fail_under: float | None,
    run_all: bool,
    keep_workdir: bool,
    no_progress: bool,
    no_cache: bool,
) -> None:
    """Grade the submission at PATH: a notebook, a module, or a folder holding one."""
    _check_formats(formats, out)
    rubric, baselines = rubric_and_baselines(rubric_path, baselines_path)
    stderr = Console(stderr=True, highlight=False)
    with ProgressPrinter(stderr, enabled=not no_progress) as progress:
        options = _trained_as_asked(
            device,
            data_dir,
            test_data,
            problems,
            threads,
            progress,
            quick=quick,
            seed=seed,
            keep_workdir=keep_workdir,
            run_all=run_all,
            progress=not no_progress,
            cache=not no_cache,
        )
        report = grade(path, options, rubric, baselines)
    _emit(report, formats, out, fail_under)


@main.command("rescore")
@click.argument("report_path", metavar="REPORT.json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@rubric_option("A TOML file overriding parts of the default rubric.")
@report_options
def rescore_command(
    report_path: Path,
    rubric_path: Path | None,
    formats: tuple[str, ...],
    out: Path | None,
    baselines_path: Path | None,
    fail_under: float | None,
) -> None:
    """Score a JSON report's measurements again, under another rubric or baselines: no retraining."""
    _check_formats(formats, out)
    rubric, baselines = rubric_and_baselines(rubric_path, baselines_path)
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        stored = Report.from_dict(data)
    except (OSError, ValueError, dacite.DaciteError) as error:
        raise click.BadParameter(f"{report_path} is not a report written by grade --format json ({error})") from None
    _check_training(stored, rubric, report_path, rubric_path)
    _emit(score(stored.measurements, baselines, rubric, created=created_now()), formats, out, fail_under)


def _check_training(stored: Report, rubric: Rubric, report_path: Path, rubric_path: Path | None) -> None:
    """Refuse a rubric that trains differently from the one the report was measured under: re-scoring cannot show
    what another epoch budget or seed would have trained (a report from before the training digest passes)."""
    trained_under = stored.rubric.get("training")
    if trained_under is not None and trained_under != rubric.training.digest:
        given = rubric_path or "the default rubric"
        raise GraderError(
            f"{given} changes what training measures (epochs, budgets, seed, ablation or what-ifs) from the rubric "
            f"{report_path} was measured under: rescore cannot score those measurements under it",
            f"grade the submission again under it: grade SUBMISSION --rubric {given}",
        )


def _trained_as_asked(
    device: str,
    data_dir: Path | None,
    test_data: dict[str, Path],
    problems: tuple[str, ...],
    threads: int,
    on_event: ProgressPrinter,
    **more: Any,
) -> GradeOptions:
    """What every training command's ``training_options`` ask for, reporting to ``on_event``; ``more`` adds
    the command's own."""
    return GradeOptions(
        device=device,
        data_dir=data_dir,
        test_data=test_data,
        problems=problems or PROBLEMS,
        threads=threads,
        on_event=on_event,
        **more,
    )


def _check_formats(formats: tuple[str, ...], out: Path | None) -> None:
    to_stdout = [name for name in formats if name != "github"]
    if len(to_stdout) > 1 and out is None:
        raise click.UsageError("several --format values need --out DIR to write them to")


def _emit(report: Report, formats: tuple[str, ...], out: Path | None, fail_under: float | None) -> None:
    """Write the report in every format asked for, then exit with its exit code.

    With --out each format goes to its file there and the terminal summary is shown too; without it the
    one format asked for goes to standard output. GitHub annotations always go to standard output (the
    runner reads them from the log) and the job summary to $GITHUB_STEP_SUMMARY.
    """
    if fail_under is not None:
        report = report.with_pass_mark(fail_under)
    formats = formats or ("terminal",)
    if "github" in formats:
        click.echo(FORMATS["github"].render(report), nl=False)
        _append_job_summary(report)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in formats:
            if (file_name := FORMATS[name].file_name) is not None:
                (out / file_name).write_text(FORMATS[name].render(report))
        render_terminal(report, Console(highlight=False))
    elif formats == ("terminal",) or formats == ("github",):
        render_terminal(report, Console(highlight=False))
    else:
        click.echo(FORMATS[formats[0]].render(report), nl=False)
    sys.exit(report.exit_code)


def _append_job_summary(report: Report) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from grader.render.github import job_summary

        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(job_summary(report))


@main.command("baselines")
@click.argument("solutions", nargs=-1, type=click.Path(exists=True, path_type=Path))
@training_options
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
@click.option("--modes", default="full,quick", show_default=True, help="Comma-separated: full, quick.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=REPOSITORY_BASELINES,
    show_default=True,
    help="Where to write the baselines JSON.",
)
def baselines_command(
    solutions: tuple[Path, ...],
    quick: bool,
    device: str,
    data_dir: Path | None,
    test_data: dict[str, Path],
    problems: tuple[str, ...],
    threads: int,
    rubric_path: Path | None,
    seeds: str,
    modes: str,
    out: Path,
) -> None:
    """Grade the reference SOLUTIONS over several seeds and write their baselines.

    Default SOLUTIONS: the PyTorch and Keras solutions in reference/.
    """
    from grader.reference_runs import REFERENCE_SOLUTIONS, measure_baselines

    seed_list, mode_list = _seeds_and_modes(seeds, "quick" if quick else modes)
    rubric = load_rubric(rubric_path)
    stderr = Console(stderr=True, highlight=False)
    with ProgressPrinter(stderr) as progress:
        options = _trained_as_asked(device, data_dir, test_data, problems, threads, progress, progress=True)
        solution_list = list(solutions) or REFERENCE_SOLUTIONS
        baselines = measure_baselines(solution_list, seed_list, mode_list, rubric, options, log=stderr.print)
    out.parent.mkdir(parents=True, exist_ok=True)
    baselines.save(out)
    stderr.print(f"wrote {out}")


def _seeds_and_modes(seeds: str, modes: str) -> tuple[list[int], list[str]]:
    """``--seeds 0,1,2`` and ``--modes full,quick`` as lists, each with at least one valid item."""
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{seeds!r} is not a comma-separated list of whole numbers", param_hint="--seeds"
        ) from None
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    if not seed_list or not mode_list or any(m not in ("full", "quick") for m in mode_list):
        raise click.UsageError("--seeds needs at least one seed and --modes only full and/or quick")
    return seed_list, mode_list


@main.command("framework")
@click.argument("path", type=click.Path(path_type=Path))
def framework_command(path: Path) -> None:
    """Print the framework(s) the submission at PATH imports ("torch", "keras"), then the extras it needs
    ("lightning", "torchvision"), one per line, without running it: a CI job installs only what it prints.
    Nothing found prints the default framework, "torch"."""
    found = frameworks_imported(load_submission(path))
    click.echo("\n".join(found or [frameworks.DEFAULT]))


@main.command("data")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Look here first (then $GRADER_DATA_DIR, then the user cache).",
)
def data_command(data_dir: Path | None) -> None:
    """Find MNIST, or download it into the user cache, check it, and print where its files are: run it
    once where grading must not download (a CI cache, an autograder image)."""
    from grader.data.mnist import mnist_files, read_mnist

    files = mnist_files(data_dir, progress=sys.stderr.isatty())
    read_mnist(files)
    click.echo("\n".join(str(path) for path in files.values()))


@main.command("gradescope-bundle")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path), default="autograder.zip")
@click.option(
    "--framework",
    type=click.Choice(choices()),
    default=frameworks.BOTH,
    show_default=True,
    help="The framework(s) the autograder image installs.",
)
@rubric_option("A rubric TOML to grade with on Gradescope (default: the grader's own).")
@baselines_option
def gradescope_bundle_command(out: Path, framework: str, rubric_path: Path | None, baselines_path: Path | None) -> None:
    """Write OUT (default autograder.zip): the autograder to upload to Gradescope as it is, carrying this
    grader, its baselines and rubric, setup.sh and run_autograder."""
    _rubric, baselines = rubric_and_baselines(rubric_path, baselines_path)  # checked before they are packed
    entries = write_bundle(out, framework, baselines, rubric_path)
    click.echo(f"wrote {out} ({len(entries)} files): upload it as the assignment's autograder on Gradescope")


@main.command("rubric")
@rubric_option("Show the default rubric with this file laid over it (and check the file).")
def rubric_command(rubric_path: Path | None) -> None:
    """Print the rubric in force, as TOML (the default, commented) or as merged JSON with --rubric."""
    if rubric_path is None:
        click.echo(DEFAULT_RUBRIC.read_text(), nl=False)
        return
    rubric = load_rubric(rubric_path)
    click.echo(json.dumps(rubric.to_dict(), indent=2))


@main.command("models")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the MNIST IDX files are (as for grading).",
)
@rubric_option("A TOML file overriding parts of the default rubric (its [freeform] budgets apply).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's record as JSON.")
def models_command(path: Path, data_dir: Path | None, rubric_path: Path | None, as_json: bool) -> None:
    """Run a free-form notebook (one without build_model) as grading does, and list the models it builds,
    the ones that would be graded and why, the cells that fail and the mistakes seen: in seconds, since
    nothing is retrained. Exits 0 when a model to grade was found, 3 when none was."""
    rubric, _ = rubric_and_baselines(rubric_path, None)
    options = GradeOptions(data_dir=data_dir, cache=False, find_only=True)
    measurements = measure_submission(path, options, rubric)
    if as_json:
        click.echo(to_json(measurements))
    else:
        render_found(measurements, Console(highlight=False))
    sys.exit(EXIT_UNGRADABLE if measurements.failure else 0)


main.add_command(batch_command)
main.add_command(regrade_command)
main.add_command(export_command)
main.add_command(copies_command)

if __name__ == "__main__":
    main()
