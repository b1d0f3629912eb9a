"""Options shared by the ``grade`` commands (each command states what it takes with these decorators),
and the one way an error is shown."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from grader.baselines import Baselines, load_baselines
from grader.data import PROBLEMS, read_private_test
from grader.errors import BaselineError, DataError, GraderError
from grader.render import FORMATS
from grader.rubric import Rubric, load_rubric


def rubric_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--rubric", "rubric_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help_text
    )


baselines_option = click.option(
    "--baselines",
    "baselines_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Reference baselines JSON (default: the grader's own).",
)
seed_option = click.option("--seed", type=int, default=None, help="Training seed (default: the rubric's).")


def _test_sets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Path]:
    """PROBLEM=PATH, once per problem at most, each set read and checked now: a bad one is a usage error
    before anything trains (and before a batch starts grading anyone)."""
    chosen: dict[str, Path] = {}
    for value in values:
        problem, _, path = value.partition("=")
        if problem not in PROBLEMS or not path:
            raise click.BadParameter(f"{value!r} is not PROBLEM=PATH with PROBLEM iris or mnist (e.g. mnist=my_test/)")
        if problem in chosen:
            raise click.BadParameter(f"two test sets for {problem}: {chosen[problem]} and {path}")
        try:
            read_private_test(problem, Path(path))
        except DataError as error:
            raise click.BadParameter(str(error)) from None
        chosen[problem] = Path(path).expanduser().absolute()
    return chosen


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that trains."""
    options = [
        click.option(
            "--quick",
            is_flag=True,
            help="A fifth of MNIST and at most 3 epochs per MNIST model: a fast, rougher grade. Reports say so.",
        ),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda"]),
            default="auto",
            show_default=True,
            help="auto: a CUDA GPU, then Apple MPS (PyTorch), else the CPU.",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where the MNIST IDX files are (else $GRADER_DATA_DIR, else the user cache, "
            "else they are downloaded).",
        ),
        click.option(
            "--test-data",
            metavar="PROBLEM=PATH",
            multiple=True,
            callback=_test_sets,
            help="Grade against your own held-out test set instead of PROBLEM's public one (once per problem): "
            "mnist=DIR holding an images and a labels IDX file, or PROBLEM=FILE.npz with arrays x and y "
            "(Iris: the 4 measurements in cm, as load_iris() gives them).",
        ),
        click.option(
            "--problem",
            "problems",
            type=click.Choice(PROBLEMS),
            multiple=True,
            help="Grade only this problem (repeatable). Default: both.",
        ),
        click.option("--threads", type=click.IntRange(min=0), default=0, help="CPU threads for training (0: all)."),
        rubric_option("A TOML file overriding parts of the default rubric."),
    ]
    return _decorated(command, options)


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that produces a report."""
    options = [
        click.option(
            "--format",
            "formats",
            type=click.Choice(list(FORMATS)),
            multiple=True,
            help="Report format(s), repeatable; several need --out (github excepted). Default: terminal. "
            + "; ".join(f"{f.name}: {f.what}" for f in FORMATS.values()),
        ),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Write each format to its file in DIR (report.json, report.html, results.json, junit.xml...); "
            "the terminal summary is still shown.",
        ),
        baselines_option,
        click.option(
            "--fail-under", type=float, default=None, help="Points needed to pass (instead of the rubric's pass mark)."
        ),
    ]
    return _decorated(command, options)


def _decorated(command: Callable[..., Any], options: list[Callable[[Any], Any]]) -> Callable[..., Any]:
    """``command`` under ``options``, the first listed shown first in --help (as if stacked above it)."""
    for option in reversed(options):
        command = option(command)
    return command


def show_error(error: GraderError) -> None:
    """Say what went wrong and what to do, as written (a message's ``[limits]`` is no markup), with no line
    break of ours: the terminal wraps it, and a path copied from it is whole."""
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    stderr.print(f"[bold red]error:[/] {escape(error.message)}")
    if error.hint:
        stderr.print(f"  hint: {escape(error.hint)}")


def rubric_and_baselines(rubric_path: Path | None, baselines_path: Path | None) -> tuple[Rubric, Baselines]:
    rubric = load_rubric(rubric_path)
    baselines = load_baselines(baselines_path)
    if baselines is None:
        raise BaselineError("no reference baselines were found", "pass --baselines FILE, or run: grade baselines")
    return rubric, baselines


def collected_into(record: type[Any], name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Hand the command the options named like ``record``'s fields as one ``record``, its argument ``name``:
    a command with twenty options takes them as one dataclass, not twenty parameters. Goes right above
    the ``def``, under the options."""
    names = [field.name for field in dataclasses.fields(record)]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_record(**options: Any) -> Any:
            collected = record(**{key: options.pop(key) for key in names})
            return command(**options, **{name: collected})

        return with_record

    return decorate
