"""Student-controlled text made safe for each place it is shown: every neutraliser lives here, and every
renderer applies the one for its format to everything a student could have written.

A student writes far more than their code: everything it prints, its errors and tracebacks, the code lines
quoted from their files, the files' names, the keys of HYPERPARAMS, and in a class batch their id (a
folder's name) and the roster's name and e-mail.
"""

from __future__ import annotations

import html
import re

# Escape sequences whole, so none leaves its parameters behind as text: CSI (colours, cursor moves,
# "\x1b[2J" clearing the screen), OSC ("\x1b]0;title\x07", hyperlinks) and the other string sequences,
# ended by BEL or ST, or left open, then only to the end of the line, and the two-character ones.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]",
)
# Tab, newline, carriage return and the printable characters XML 1.0 allows, C1 controls excluded.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")
_MD_BLOCK_START = re.compile(r"^(?:\d+[.)]|[-+])(?=\s|$)|^>")  # text that would open a list or a quote


def clean(text: str) -> str:
    """Text without escape sequences, control characters or lone surrogates: printable in a page, a table
    cell or an XML attribute as it is."""
    return _NOT_XML.sub("", _ESCAPE_SEQUENCE.sub("", text))


def workflow_data(text: str) -> str:
    """A workflow command's message: the runner reads one line, so line breaks and % are percent-encoded."""
    return clean(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A workflow command's property value (file, title): also ``:`` and ``,``, which end the value."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def html_text(text: str) -> str:
    """Text inside HTML, an element or a quoted attribute: shown as written, never read as markup."""
    return html.escape(clean(text))


def md_text(text: str) -> str:
    """Text as inert Markdown: on one line, no HTML, no emphasis, links, code or table cells of its own."""
    text = " ".join(clean(text).splitlines()).strip().replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda match: match[0][:-1] + "\\" + match[0][-1], text)


def percent(fraction: float) -> str:
    """An accuracy the way every format shows it: 0.9731 -> "97.3%"."""
    return f"{100 * fraction:.1f}%"
