"""Student-controlled text made safe for each place it is shown: every neutraliser lives here, and every
renderer applies the one for its format to everything a student could have written.

A student writes far more than their code: everything it prints, its errors and tracebacks, the code lines
quoted from their files, the files' names, the keys of HYPERPARAMS, and in a class batch their id (a
folder's name) and the roster's name and e-mail.
"""

from __future__ import annotations

import html
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Escape sequences whole, so none leaves its parameters behind as text: CSI (colours, cursor moves,
# "\x1b[2J" clearing the screen), OSC ("\x1b]0;title\x07", hyperlinks) and the other string sequences,
# ended by BEL or ST, or left open, then only to the end of the line, and the two-character ones.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]",
)
# Tab, newline, carriage return and the printable characters XML 1.0 allows, C1 controls excluded.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What a terminal acts on rather than shows: C0 and C1 controls and DEL, and lone surrogates, which no
# terminal can be sent. Tab and newline are dealt with on their own.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
TAB_WIDTH = 4
# Text a spreadsheet runs as a formula (OWASP's list; a carriage return is a newline by the time this is
# checked), and the full-width signs some spreadsheets read as the same.
FORMULA_START = ("=", "+", "-", "@", "\t", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_WORKFLOW_COMMAND_START = re.compile(r"(?<=:)(?=:)|(?<=##)(?=\[)")  # between the two colons, before the [
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")
_MD_BLOCK_START = re.compile(r"^(?:\d+[.)]|[-+])(?=\s|$)|^>")  # text that would open a list or a quote


def clean(text: str) -> str:
    """Text without escape sequences, control characters or lone surrogates: printable in a page, a table
    cell or an XML attribute as it is."""
    return _NOT_XML.sub("", _ESCAPE_SEQUENCE.sub("", text))


def terminal_text(text: str, *, one_line: bool = False) -> str:
    """Text for a terminal that cannot act on it: escape sequences dropped (colours, cursor moves, window
    titles), tabs as spaces, and every other control character shown as Python writes it (``\\r``,
    ``\\x08``), so no carriage return or backspace can draw over what the grader printed. ``one_line``
    shows newlines as ``\\n`` too, for a table cell or a progress line a student must not add lines to."""
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\r\n", "\n").expandtabs(TAB_WIDTH)
    shown = _TERMINAL_CONTROL.sub(lambda match: ascii(match[0])[1:-1], text)
    return shown.replace("\n", "\\n") if one_line else shown


@contextmanager
def workflow_commands_stopped(print_line: Callable[[str], object]) -> Iterator[None]:
    """Under GitHub Actions, what is printed inside is read as plain text, never as a workflow command.

    The runner reads every line a step prints, on standard output and standard error, for commands
    (``::add-mask::``, ``::error::``, and ``##[command]`` anywhere in a line); a student's printed line
    among the grader's would be run. ``::stop-commands::TOKEN`` pauses that until ``::TOKEN::``: the token
    is drawn afresh each time, after the student's code ran, so no student text can resume early.
    Elsewhere nothing is added."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        yield
        return
    token = secrets.token_hex(16)
    print_line(f"::stop-commands::{token}")
    try:
        yield
    finally:
        print_line(f"::{token}::")


def workflow_inert(text: str) -> str:
    """Text no CI runner reads as a workflow command, on whatever line it lands: every ``::`` and ``##[``
    broken with a backslash (``:\\:``, ``##\\[``). For progress on standard error, where a stop-commands block
    does not fit: the runner reads standard output and standard error in no fixed order between them, so a
    block still open on one could swallow the annotations printed on the other."""
    return _WORKFLOW_COMMAND_START.sub("\\\\", text)


def workflow_data(text: str) -> str:
    """A workflow command's message: the runner reads one line, so line breaks and % are percent-encoded."""
    return clean(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A workflow command's property value (file, title): also ``:`` and ``,``, which end the value."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def spreadsheet_cell(text: str) -> str:
    """A CSV cell of text that a spreadsheet shows and never runs: printable, and prefixed with ``'``
    where it starts the way a formula does (``=HYPERLINK(...)``, ``+cmd``, ``-1+1``, ``@SUM(...)``).

    A carriage return becomes a newline: ``csv`` quotes a cell holding a newline, but not one holding a lone
    carriage return, which a spreadsheet reads as the end of the row, starting the next with whatever
    follows it."""
    text = clean(text).replace("\r\n", "\n").replace("\r", "\n")
    return "'" + text if text.startswith(FORMULA_START) else text


def html_text(text: str) -> str:
    """Text inside HTML, an element or a quoted attribute: shown as written, never read as markup."""
    return html.escape(clean(text))


def md_text(text: str) -> str:
    """Text as inert Markdown: on one line, no HTML, no emphasis, links, code or table cells of its own."""
    text = " ".join(clean(text).splitlines()).strip().replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda match: match[0][:-1] + "\\" + match[0][-1], text)


_SPACES = re.compile(r"(?<=\S) {2,}(?=\S)")


def prose(text: str) -> str:
    """A message as running text: the two spaces that set code apart in a message
    (``run  build_model(...)  yourself``) read as one where the code is not formatted."""
    return _SPACES.sub(" ", text)
