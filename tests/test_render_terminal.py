"""The terminal report and the JSON report: golden files, 80 columns, no colour needed, live progress.

Golden files: see golden_files.py.
"""

from __future__ import annotations

import io
import json

import pytest
from golden_files import matches_golden
from report_factory import sample_report, ungradable_report
from rich.console import Console

from grader.render import FORMATS
from grader.render.progress import ProgressPrinter
from grader.render.terminal import render_terminal
from grader.report import SCHEMA_VERSION, Report


@pytest.mark.parametrize(("name", "report"), [("sample", sample_report), ("ungradable", ungradable_report)])
def test_the_terminal_report_matches_its_golden_file(name, report):
    matches_golden(f"{name}_report.txt", FORMATS["terminal"].render(report()))


def test_the_json_report_matches_its_golden_file_and_reads_back():
    text = FORMATS["json"].render(sample_report())
    matches_golden("sample_report.json", text)
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION
    assert Report.from_dict(data) == sample_report()


def test_the_terminal_report_fits_80_columns_and_says_everything_in_words():
    output = io.StringIO()
    render_terminal(sample_report(), Console(file=output, width=80, no_color=True, force_terminal=False))
    text = output.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text  # no colour codes: the words carry the meaning
    assert "PASS" in text and "not trained" in text and "Next steps" in text


def events(task: str, epochs: int) -> list[dict]:
    return [
        {"event": "phase", "task": task, "phase": "build"},
        {"event": "phase", "task": task, "phase": "train"},
        *(
            {"event": "epoch", "task": task, "epoch": e, "epochs": epochs, "val_accuracy": 0.9}
            for e in range(1, epochs + 1)
        ),
        {"event": "result", "task": task},
    ]


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
        for event in events("iris/single", 5)[:-1]:
            progress(event)
        assert progress.bar is not None
        task = progress.bar.tasks[0]
        assert (task.description, task.completed, task.total) == ("iris/single", 5, 5)
        assert task.fields["status"] == "val acc 90.0%"


def test_a_report_from_cached_measurements_says_so_and_how_to_retrain():
    report = sample_report()
    report.measurements.reused = True
    text = FORMATS["terminal"].render(report)
    assert "measurements reused" in text and "--no-cache" in text
    assert "measurements reused" not in FORMATS["terminal"].render(sample_report())
