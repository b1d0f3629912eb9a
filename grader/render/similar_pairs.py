"""Similar submissions as HTML: a page of its own (``grade copies --out``) and a section of the class summary,
laid out from the pairs' view (``class_view.PairsView``) that the batch stage builds.

Each pair is listed with the share of each side's code found in the other, then shown side by side with the
similar regions marked and a few lines around them. The wording says *similar*, never *copied*: the page
shows where to look, and the instructor decides. All student code passes through ``html_text``.
"""

from __future__ import annotations

import bisect
import itertools

from grader.figures import percent
from grader.render.class_view import PairsView, PairView
from grader.render.html import document, table
from grader.render.text import html_text

CONTEXT_LINES = 2  # lines shown around each similar region
PAIRS_STYLE = """
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; }
.side-by-side pre { font-size: 12px; overflow-x: auto; background: #f6f8fa; padding: .4rem; margin: 0; }
.side-by-side mark { background: #ffe08a; }
details { margin: .4rem 0; }
"""
ABOUT = (
    "Pairs of submissions whose code is similar: the share of each one's code (comments, names and order "
    "aside; the starter code and reference solutions left out) found in the other. Students of one course "
    "write alike, and short code matches by chance: this shows where to look, not what happened."
)


def render_pairs_page(view: PairsView) -> str:
    """``grade copies --out pairs.html``: the whole page."""
    return document("Similar submissions", ["<h1>Similar submissions</h1>", *_pairs(view)], PAIRS_STYLE)


def pairs_section(view: PairsView) -> list[str]:
    """The class summary's section, with the styles its page lacks; a class whose files could not be read
    again says so instead of comparing nothing."""
    heading = "<h2>Similar submissions</h2>"
    if view.unavailable:
        return [heading, f"<p>{html_text(f'Not compared: {view.unavailable}.')}</p>"]
    return [f"<style>{PAIRS_STYLE}</style>", heading, *_pairs(view)]


def _pairs(view: PairsView) -> list[str]:
    """The pairs at or above the threshold, a table and then each side by side."""
    parts = [f"<p>{html_text(ABOUT)}</p>"]
    compared = f"{view.compared} compared, at a threshold of {percent(view.threshold)}"
    if not view.pairs:
        parts.append(f"<p>{html_text(f'No pair is similar above the threshold ({compared}).')}</p>")
    else:
        count = f"{len(view.pairs)} similar pair{'s' if len(view.pairs) > 1 else ''}"
        parts.append(f"<p>{html_text(f'{count} ({compared}), most similar first.')}</p>")
        header = [
            "First",
            "Second",
            "Of the first's code, found in the second",
            "Of the second's code, found in the first",
        ]
        rows = [[pair.first, pair.second, percent(pair.share_first), percent(pair.share_second)] for pair in view.pairs]
        parts.append(table(header, rows, numbers=(2, 3)))
        parts += [_side_by_side(pair) for pair in view.pairs]
    if view.not_compared:
        items = "".join(
            f"<li>{html_text(name)}: {html_text(why)}</li>" for name, why in sorted(view.not_compared.items())
        )
        parts.append(f"<p>Not compared:</p><ul>{items}</ul>")
    return parts


def _side_by_side(pair: PairView) -> str:
    summary = f"{pair.first} and {pair.second}: {percent(pair.share_first)} and {percent(pair.share_second)} similar"
    first = _marked(pair.text_first, pair.regions_first)
    second = _marked(pair.text_second, pair.regions_second)
    return (
        f"<details><summary>{html_text(summary)}</summary><div class=side-by-side>"
        f"<pre>{first}</pre><pre>{second}</pre></div></details>"
    )


def _marked(text: str, regions: list[tuple[int, int]]) -> str:
    """The text, escaped, line by line: the regions in ``<mark>`` and only the lines near them kept, each
    run of the others one ``…``."""
    lines = text.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    marked = [(start, end) for start, end in sorted(regions) if end > start]
    shown: set[int] = set()
    for start, end in marked:
        first, last = bisect.bisect_right(starts, start) - 1, bisect.bisect_right(starts, end - 1) - 1
        shown.update(range(first - CONTEXT_LINES, last + CONTEXT_LINES + 1))
    out: list[str] = []
    for number, (line, start) in enumerate(zip(lines, starts, strict=True)):
        if number not in shown:
            if not out or out[-1] != "…":
                out.append("…")
            continue
        cuts = sorted({0, len(line)} | {max(0, min(len(line), edge - start)) for span in marked for edge in span})
        pieces = []
        for left, right in itertools.pairwise(cuts):
            piece = html_text(line[left:right])
            inside = any(s <= start + left and start + right <= e for s, e in marked)
            pieces.append(f"<mark>{piece}</mark>" if inside else piece)
        out.append("".join(pieces))
    return "\n".join(out)
