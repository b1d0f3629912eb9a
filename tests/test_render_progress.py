"""Progress while the worker trains: a live bar per model on a terminal, one quiet line per model elsewhere,
and whatever the worker's pipe or a student id says shown as plain text."""

from __future__ import annotations

import io

from report_factory import ATTACK_LINES
from rich.console import Console

from grader.render.progress import BatchProgress, ProgressPrinter


def events(task: str, epochs: int) -> list[dict]:
    return [
        {"event": "phase", "task": task, "phase": "build"},
        {"event": "phase", "task": task, "phase": "train"},
        *(
            {"event": "epoch", "task": task, "epoch": e, "epochs": epochs, "val_accuracy": 0.9}
            for e in range(1, epochs + 1)
        ),
        {"event": "phase", "task": task, "phase": "predict"},
        {"event": "result", "task": task},
    ]


def quiet_progress(*events: dict) -> list[str]:
    """What progress prints elsewhere than a terminal, each line without its time."""
    output = io.StringIO()
    with ProgressPrinter(Console(file=output, width=100, force_terminal=False)) as progress:
        for event in events:
            progress(event)
    return [line.rsplit(" (", 1)[0] for line in output.getvalue().splitlines()]


def test_live_progress_shows_a_line_from_the_first_second_then_epochs_elapsed_time_and_budget():
    console = Console(file=io.StringIO(), width=150, force_terminal=True)
    with ProgressPrinter(console) as progress:
        assert progress.bar is not None
        [starting] = progress.bar.tasks
        assert starting.fields["status"] == "starting the worker"
        progress({"event": "stage", "status": "loading iris and mnist"})  # the grader's own steps, until a model's
        assert starting.fields["status"] == "loading iris and mnist"
        progress({"event": "phase", "task": "mnist/multi", "phase": "train", "budget_s": 300})
        progress({"event": "progress", "task": "mnist/multi", "epochs": 2.5, "samples": 150000})
        [task] = progress.bar.tasks
        assert (task.description, task.completed, task.fields["budget"]) == ("mnist/multi", 2.5, "of 300 s")
        assert task.fields["status"] == "epoch 2.5"


def test_progress_elsewhere_than_a_terminal_is_one_quiet_line_per_model():
    output = io.StringIO()
    console = Console(file=output, width=100, force_terminal=False)
    with ProgressPrinter(console) as progress:
        for event in [*events("mnist/multi", 3), {"event": "result", "task": "mnist/multi+ablation"}]:
            progress(event)
    lines = output.getvalue().splitlines()
    assert [line.rsplit(" (", 1)[0] for line in lines] == [  # each ends with its time, "(0.1 s)"
        "mnist/multi: 3 epochs, val acc 90.0%",
        "mnist/multi (ablation): no regularization to switch off",
    ]


def test_progress_on_a_terminal_draws_a_bar_per_model_with_epochs_and_accuracy():
    output = io.StringIO()
    console = Console(file=output, width=100, force_terminal=True)
    with ProgressPrinter(console) as progress:
        for event in events("iris/single", 5)[:-2]:  # up to its last epoch
            progress(event)
        assert progress.bar is not None
        task = progress.bar.tasks[0]
        assert (task.description, task.completed, task.total) == ("iris/single", 5, 5)
        assert task.fields["status"] == "val acc 90.0%"


def test_a_model_whose_result_comes_before_its_predictions_failed_and_says_so():
    build = {"event": "phase", "task": "iris/multi", "phase": "build"}
    assert quiet_progress(build, {"event": "result", "task": "iris/multi"}) == [
        "iris/multi: failed while building the model and loading data"
    ]


def test_an_ablation_of_a_students_own_loop_that_trained_is_not_said_to_have_nothing_to_switch_off():
    task = "mnist/multi+ablation"
    phases = [{"event": "phase", "task": task, "phase": phase} for phase in ("build", "train", "predict")]
    own_loop = {"event": "progress", "task": task, "epochs": 15.0, "samples": 900000}
    assert quiet_progress(*phases, own_loop, {"event": "result", "task": task}) == ["mnist/multi (ablation): 15 epochs"]
    assert quiet_progress(phases[0], {"event": "result", "task": task}) == [
        "mnist/multi (ablation): no regularization to switch off"
    ]


def test_a_what_if_with_no_mistake_to_undo_says_so_and_one_that_trained_is_named_as_a_what_if():
    task = "iris/single+what-if"
    build = {"event": "phase", "task": task, "phase": "build"}
    assert quiet_progress(build, {"event": "result", "task": task}) == ["iris/single (what-if): no mistake to undo"]
    phases = [{"event": "phase", "task": task, "phase": phase} for phase in ("build", "train", "predict")]
    epoch = {"event": "epoch", "task": task, "epoch": 3, "epochs": 3, "val_accuracy": 0.9}
    assert quiet_progress(*phases, epoch, {"event": "result", "task": task}) == [
        "iris/single (what-if): 3 epochs, val acc 90.0%"
    ]


def test_progress_shows_what_the_worker_pipe_says_as_plain_text_no_runner_reads_as_a_command():
    """Student code can write events to the worker's pipe: a task's name is shown, on one line, and with
    every "::" and "##[" broken, since progress shares the runner with the annotations on standard output."""
    output = io.StringIO()
    console = Console(file=output, width=200, force_terminal=False)
    with ProgressPrinter(console) as progress:
        for line in ATTACK_LINES:
            progress({"event": "result", "task": line})
    assert [line.rsplit(" (", 1)[0] for line in output.getvalue().splitlines()] == [
        "red and wiped: done",
        "title link: done",
        "ok\\x08\\x08PASS \\x9b2J\\x07: done",
        "[bold red]Total 100 / 100 · PASS[/]: done",
        "    indented: done",
        ":\\:add-mask:\\:secret: done",
        "  :\\:error file=s.py:\\:fake: done",
        ":\\:stop-commands:\\:guessed: done",
        ":\\:guessed:\\:\\: done",  # the colon after it too
        "echo ##\\[set-output name=grade;]100: done",
    ]


def test_the_live_progress_bar_reads_no_markup_from_a_task_or_its_status():
    output = io.StringIO()
    console = Console(file=output, width=100, force_terminal=True)
    with ProgressPrinter(console) as progress:
        progress({"event": "phase", "task": "[blink]x\x1b]0;t\x07[/blink]", "phase": "[red]build\rPASS[/red]"})
        task = progress.bar.tasks[0]
        assert (task.description, task.fields["status"]) == ("[blink]x[/blink]", "[red]build\\rPASS[/red]")
        rendered = io.StringIO()
        Console(file=rendered, width=100, force_terminal=False).print(progress.bar.get_renderable())
    assert "[blink]x[/blink]" in rendered.getvalue() and "[red]build\\rPASS[/red]" in rendered.getvalue()


def test_batch_progress_shows_a_student_id_as_written_on_one_line():
    """A student id is a folder's name the student chose: markup, escape sequences, newlines and workflow
    commands in it are shown as text."""
    output = io.StringIO()
    hostile = "[bold red]eve[/]\x1b]0;owned\x07\n[2/2] mallory: graded ::error::x"
    with BatchProgress(Console(file=output, width=200, force_terminal=False), total=2) as progress:
        progress(hostile, "error", "Traceback\rPASS")
        progress("ada", "graded", "40 points, 12 s")
    assert output.getvalue().splitlines() == [
        "[1/2] [bold red]eve[/]\\n[2/2] mallory: graded :\\:error:\\:x: error (Traceback\\rPASS)",
        "[2/2] ada: graded (40 points, 12 s)",
    ]
