"""Student-controlled text made safe to print in any format: what every renderer applies first."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Tab, newline, carriage return and the printable characters XML 1.0 allows, C1 controls excluded.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Text without colour codes, control characters or lone surrogates: printable in a page, a table
    cell or an XML attribute as it is."""
    return _NOT_XML.sub("", _ANSI.sub("", text))


def percent(fraction: float) -> str:
    """An accuracy the way every format shows it: 0.9731 -> "97.3%"."""
    return f"{100 * fraction:.1f}%"
