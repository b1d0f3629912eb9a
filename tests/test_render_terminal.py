"""The terminal report and the JSON report: golden files, 80 columns, no colour needed, and student text shown
on a terminal without the terminal acting on it (live progress: test_render_progress.py).

Golden files: see golden_files.py.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from golden_files import matches_golden
from report_factory import (
    ATTACK_LINES_SHOWN,
    attack_report,
    isolation_report,
    keras_report,
    passing_report,
    planted_report,
    quick_report,
    reused_report,
    sample_report,
    ungradable_report,
)
from rich.console import Console

from grader.render import FORMATS
from grader.render.terminal import render_terminal, render_text
from grader.render.text import terminal_text
from grader.report import SCHEMA_VERSION, Report

TERMINAL_REPORTS = {
    "sample": sample_report,
    "ungradable": ungradable_report,
    "passing": passing_report,
    "quick": quick_report,
    "reused": reused_report,
    "partial_isolation": lambda: isolation_report(["network", "files"]),
    "keras": keras_report,
}


@pytest.mark.parametrize("name", TERMINAL_REPORTS)
def test_the_terminal_report_matches_its_golden_file(name):
    matches_golden(f"{name}_report.txt", FORMATS["terminal"].render(TERMINAL_REPORTS[name]()))


@pytest.mark.parametrize(("name", "report"), [("sample", sample_report), ("ungradable", ungradable_report)])
def test_the_json_report_matches_its_golden_file_and_reads_back(name, report):
    text = FORMATS["json"].render(report())
    matches_golden(f"{name}_report.json", text)
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION
    assert Report.from_dict(data) == report()


def test_a_machine_that_walled_the_submission_off_from_everything_warns_of_nothing():
    shown = render_text(isolation_report(["network", "processes", "files"]))
    assert "isolation" not in shown and "warning" not in shown


def test_a_machine_that_walled_it_off_from_part_names_what_the_code_could_reach():
    shown = render_text(isolation_report(["network", "files"]))
    assert "not walled off from\n         processes (see" in shown


def test_a_quick_grade_says_so_in_its_heading():
    assert "QUICK mode (a subset of the data)" in render_text(quick_report()).splitlines()[0]
    assert "QUICK" not in render_text(sample_report())


def test_a_keras_submission_is_told_what_to_change_in_keras_terms():
    shown = " ".join(render_text(keras_report()).split())
    assert "keras.layers.Dropout(0.2)" in shown and "keras.callbacks.EarlyStopping" in shown
    assert "nn.Dropout" not in shown and "weight_decay" not in shown


def test_the_terminal_report_fits_80_columns_and_says_everything_in_words():
    output = io.StringIO()
    render_terminal(sample_report(), Console(file=output, width=80, no_color=True, force_terminal=False))
    text = output.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text  # no colour codes: the words carry the meaning
    assert "PASS" in text and "not trained" in text and "Next steps" in text


def test_a_finding_shared_by_several_models_is_said_once_with_their_list():
    text = render_text(planted_report())
    assert text.count("Loss matches the output") == 1
    assert "Loss matches the output: 0/0.5 each in iris/single, iris/multi, mnist/single, mnist/multi" in text
    assert text.count("early_stoping") == 1  # the scorer's grouped warning, not one per model as well
    assert "without the final softmax: 95.3% test accuracy instead of 69.4%" in text
    assert "2×Dropout(0.9)" in text


def test_the_terminal_report_is_short_and_its_wrapped_lines_keep_their_indent():
    lines = render_text(planted_report()).splitlines()
    assert len(lines) <= 45  # 69 before findings were grouped and said once
    steps = [n for n, line in enumerate(lines) if line.startswith("  1. ")]
    assert steps and lines[steps[0] + 1].startswith("     ") and lines[steps[0] + 1][5] != " "
    assert not any("  " in line.strip() for line in lines if not line.startswith((" Model", " ─", " iris", " mnist")))
    assert " points" not in "\n".join(line for line in lines if "gap" in line and "pp" not in line)


def test_a_report_from_cached_measurements_says_so_and_how_to_retrain():
    report = sample_report()
    report.measurements.reused = True
    text = FORMATS["terminal"].render(report)
    assert "measurements reused" in text and "--no-cache" in text
    assert "measurements reused" not in FORMATS["terminal"].render(sample_report())


# Student text on a terminal: shown, never acted on

RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # the colours Rich itself writes
STOP_TOKEN = re.compile(r"::stop-commands::([0-9a-f]{32})")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "red"),  # colour
        ("\x1b[1A\x1b[2Kup", "up"),  # the cursor moved up, the line wiped
        ("\x1b]0;title\x07x", "x"),  # the window's title, ended by BEL
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # a hyperlink, ended by ST
        ("\x1b]0;left open\nnext line", "\nnext line"),  # a title never ended hides no more than its line
        ("ok\rPASS", "ok\\rPASS"),  # a carriage return drawing over the line
        ("ok\x08\x08PASS", "ok\\x08\\x08PASS"),  # backspaces
        ("\x9b2J \x07 \x00 \x7f \ud800", "\\x9b2J \\x07 \\x00 \\x7f \\ud800"),  # C1, BEL, NUL, DEL, a surrogate
        ("\x1b", "\\x1b"),  # an escape that starts nothing
        ("\tin\tout", "    in  out"),
        ("one\r\ntwo\nthree", "one\ntwo\nthree"),
        ("[bold red]x[/]", "[bold red]x[/]"),  # markup is Rich's business: see the tests below
    ],
)
def test_terminal_text_drops_escape_sequences_and_writes_out_every_other_control_character(text, shown):
    assert terminal_text(text) == shown


def test_terminal_text_on_one_line_writes_out_newlines_too():
    assert terminal_text("alice\n[2/2] bob: graded", one_line=True) == "alice\\n[2/2] bob: graded"


def test_what_the_submission_printed_is_shown_as_written_after_its_control_characters_are_neutralised():
    text = render_text(attack_report())
    tail = text.split("Last 10 lines the submission printed:\n", 1)[1]
    assert tail.splitlines() == ATTACK_LINES_SHOWN
    assert "ValueError: bad\\rTotal 100 / 100 · PASS ::error::fake [bold]x[/bold]" in text
    assert "at [b]hw.py, line 3: x[::2]" in text
    assert "Next: [red]fix it[/red]" in text  # markup shown, not applied
    assert "warning: iris/single: HYPERPARAMS key '[bold]lr\\r' is not used" in text


def test_on_a_colour_terminal_the_only_escape_sequences_are_richs_own_colours(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    output = io.StringIO()
    render_terminal(attack_report(), Console(file=output, width=100, force_terminal=True, color_system="truecolor"))
    colours = RICH_STYLE.findall(output.getvalue())
    assert colours  # the terminal did get colours
    unstyled = RICH_STYLE.sub("", output.getvalue())
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", unstyled)  # no control character but newline
    shown = "".join(line.rstrip() + "\n" for line in unstyled.splitlines())  # report.txt has no padding
    assert shown == render_text(attack_report())  # the words are the same as in report.txt


def test_under_github_actions_the_terminal_report_is_printed_with_workflow_commands_stopped(monkeypatch):
    """The runner reads this output too (``grade --format github`` prints it after the annotations): a
    student's "::add-mask::" must reach it as text. Each report stops commands under a token of its own."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    printed = []
    for _ in range(2):
        output = io.StringIO()
        render_terminal(attack_report(), Console(file=output, width=80, no_color=True, force_terminal=False))
        printed.append(output.getvalue().splitlines())
    tokens = []
    for lines in printed:
        token = STOP_TOKEN.fullmatch(lines[0])[1]
        assert lines[-1] == f"::{token}::"
        assert lines.count(f"::{token}::") == 1 and "::add-mask::secret" in lines[1:-1]
        tokens.append(token)
    assert tokens[0] != tokens[1]


def test_elsewhere_the_terminal_report_prints_no_stop_commands(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    output = io.StringIO()
    render_terminal(sample_report(), Console(file=output, width=80, no_color=True, force_terminal=False))
    assert "::" not in output.getvalue()


@pytest.mark.parametrize("width", [80, 64])
def test_the_models_table_never_cuts_the_points_where_the_line_is_short(width):
    """A student reads their points first: where 80 columns (or fewer) are too few, the regularization column
    gives way, never the points."""
    report = sample_report()
    output = io.StringIO()
    render_terminal(report, Console(file=output, width=width, no_color=True, force_terminal=False))
    table = output.getvalue().split("Diagnosis")[0]
    for score in report.scores:
        assert f"{score.points:g}/{score.max_points:g}" in table
