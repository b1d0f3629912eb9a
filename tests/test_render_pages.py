"""The feedback pages (Markdown and HTML): the same content, learning curves embedded, the student's text
escaped, and an HTML file that a real browser shows with its plots.

Golden files leave the images out (``plots=False``): their pixels belong to matplotlib's version; the
plots are tested for what they show instead (test_render_plots.py).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest
import report_factory
from golden_files import matches_golden
from png_colours import has_colour
from report_factory import (
    ATTACK_LINES,
    attack_report,
    hostile_report,
    keras_report,
    passing_report,
    quick_report,
    sample_report,
    ungradable_report,
)

from grader.render.html import render_html
from grader.render.markdown import render_markdown
from grader.render.plots import ONSET, TRAIN

PNG_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
REPORTS = {
    "sample": sample_report,
    "ungradable": ungradable_report,
    "passing": passing_report,
    "quick": quick_report,
    "keras": keras_report,
}


@pytest.mark.parametrize("name", REPORTS)
def test_the_markdown_page_matches_its_golden_file(name):
    matches_golden(f"{name}_report.md", render_markdown(REPORTS[name](), plots=False))


@pytest.mark.parametrize("name", REPORTS)
def test_the_html_page_matches_its_golden_file(name):
    matches_golden(f"{name}_report.html", render_html(REPORTS[name](), plots=False))


def test_both_pages_embed_one_png_per_trained_model_and_nothing_external():
    report = sample_report()
    for text in (render_markdown(report), render_html(report)):
        images = PNG_URI.findall(text)
        assert len(images) == 3
        assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
        assert "http://" not in text and "https://" not in text  # no fonts, scripts or images to fetch


def test_the_pages_show_every_check_with_its_message_and_hint():
    report = sample_report()
    markdown, html = render_markdown(report, plots=False), render_html(report, plots=False)
    gap = next(c for c in report.score("mnist/multi").checks if c.id == "gap")
    assert gap.hint
    for check in (c for s in report.scores for c in s.checks):
        assert check.title in markdown and check.title in html
    assert gap.hint.replace('"', "&quot;") in html
    assert "overfitting from epoch" not in markdown  # the plot's legend, not the page's text
    assert "validation loss rising from epoch 7 on" in markdown and "validation loss rising from epoch 7 on" in html


def test_a_passing_report_says_so_and_lists_no_failure():
    html = render_html(passing_report(), plots=False)
    assert 'class="verdict pass"' in html
    assert 'class="failure"' not in html and 'class="status-fail"' not in html and "Next steps" not in html


def test_student_text_cannot_inject_markup_into_the_html_page():
    html = render_html(hostile_report(), plots=False)
    assert "<script>" not in html and "<img src=x" not in html and "\x1b" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_student_text_cannot_inject_markup_or_break_out_of_a_code_block_in_markdown():
    markdown = render_markdown(hostile_report(), plots=False)
    outside_code = re.sub(r"^(`{3,})text\n.*?^\1$", "", markdown, flags=re.M | re.S)
    assert "```" in markdown and "```" not in outside_code
    assert "<script>" not in outside_code and "<img" not in outside_code
    assert "\x1b" not in markdown and "\x07" not in markdown
    assert "[link](http://x)" not in outside_code  # the brackets are escaped: no live link
    assert "````text" in markdown  # the traceback's own ``` cannot close its block: the fence is longer
    # table rows keep their columns: a | in a message is escaped
    for row in (line for line in markdown.splitlines() if line.startswith("| ")):
        assert len(re.findall(r"(?<!\\)\|", row)) in (5, 8)  # 4 or 7 columns


def test_a_path_and_printed_output_with_markup_and_control_characters_are_shown_as_written_in_both_pages():
    """In a class batch the submission's path holds the folder a student named; the log tail quotes what
    their code printed. Escape sequences and control characters are dropped (a tab or line break kept),
    markup escaped."""
    report = attack_report()
    report.measurements.submission.path = "<b>eve</b>\x1b]0;owned\x07[x](http://evil)\x08/hw.py"
    html = render_html(report, plots=False)
    markdown = render_markdown(report, plots=False)
    shown = [
        "red and wiped",
        "title link",
        "okPASS 2J",
        "[bold red]Total 100 / 100 · PASS[/]",
        "\tindented",
        *ATTACK_LINES[5:],
    ]
    assert "<h1>Feedback for &lt;b&gt;eve&lt;/b&gt;[x](http://evil)/hw.py</h1>" in html
    assert "<pre>" + "\n".join(shown) + "</pre>" in html
    assert "# Feedback for &lt;b>eve&lt;/b>\\[x\\](http://evil)/hw.py\n" in markdown
    assert "```text\n" + "\n".join(shown) + "\n```" in markdown
    for page in (html, markdown):
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", page)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_a_real_browser_shows_the_html_page_with_its_plots(tmp_path):
    """Screenshots of the page with and without plots: only the first shows the curves' training blue."""
    shots = {}
    for plots in (True, False):
        page = tmp_path / f"report-{plots}.html"
        page.write_text(render_html(sample_report(), plots=plots))
        shot = tmp_path / f"shot-{plots}.png"
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1000,8000",
                f"--screenshot={shot}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        shots[plots] = shot.read_bytes()
    assert has_colour(shots[True], TRAIN) and has_colour(shots[True], ONSET)
    assert not has_colour(shots[False], TRAIN)


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_both_pages_show_each_diagnosis_with_its_what_ifs_and_each_warning_once(render):
    page = render(report_factory.planted_report(), plots=False)
    assert page.count("Diagnosis:") == 4
    assert "without the final softmax: 95.3% test accuracy instead of 69.4%" in page
    assert page.count("early") > 0 and page.count("is not known") == 1


def test_the_tables_say_stopped_early_only_when_early_stopping_stopped_it():
    report = report_factory.planted_report()  # mnist/multi ran every epoch of its own loop
    page = render_markdown(report, plots=False)
    assert "(stopped early)" not in page and "its own training loop" in page
    report.measurements.models[3].run.stop_reason = "time_budget"
    assert "10 (stopped at the time budget)" in render_markdown(report, plots=False)
