"""Near-copies in a class: pairs of submissions whose code is similar, for the instructor to look at.

Byte-identical entries are found by their content hash (the class summary lists them); a renamed variable,
re-ordered functions or a notebook run again with other outputs change the bytes but not the code. Here each
entry's code (a notebook's code cells, outputs ignored) is fingerprinted with copydetect, a maintained
implementation of winnowing (Schleimer, Wilkerson and Aiken, the algorithm behind MOSS): its tokenizer
(Pygments) reduces every name to one letter and drops comments, so renaming and commenting change nothing,
and the fingerprints are a set, so order does not matter. Fingerprints of the starter code and the reference
solutions are boilerplate: code every student was given is not evidence of anything. Chosen against
pycode_similar and a token n-gram baseline with ``benchmarks/near_copies.py`` (see the README).

Nothing is decided here: a pair is *similar* by a share of its code, with the regions that match; whether
it is a copy is the instructor's call (students of one course write alike, and short code matches by chance).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from grader.baselines import REFERENCE_DIR
from grader.content_hash import files_under
from grader.errors import UngradableError
from grader.notebook import code_cells

NOISE = 25  # copydetect's noise threshold: matches shorter than this many characters of filtered code are ignored
GUARANTEE = 30  # copydetect's guarantee threshold: matches at least this long are always found
DEFAULT_THRESHOLD = 0.6  # a pair is listed when this share of one side's code is found in the other (the benchmark)
MIN_FILTERED_CHARS = 2 * NOISE  # less code of its own than this, past the boilerplate, is not compared
MAX_CODE_CHARS = 1_000_000  # an entry's code past this is not read: no class hands in more, a hostile one might
STARTER_DIR = Path(__file__).resolve().parents[2] / "student_template"  # in a checkout of the repository
DEFAULT_BOILERPLATE = (STARTER_DIR, REFERENCE_DIR)
SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Document:
    """One entry's code as compared and shown: each file or notebook cell after a comment naming it."""

    name: str  # the student id, or a public solution's path inside its folder
    text: str
    public: bool = False


@dataclass(frozen=True)
class SimilarPair:
    """Two documents and how much of each is found in the other, with the matching regions of each
    (character offsets into its text)."""

    first: Document
    second: Document
    share_first: float  # of the first's code (past the boilerplate), the part found in the second
    share_second: float
    regions_first: list[tuple[int, int]]
    regions_second: list[tuple[int, int]]

    @property
    def similarity(self) -> float:
        """The larger share: a student who copied a part into their own larger work still shows."""
        return max(self.share_first, self.share_second)


@dataclass
class Comparison:
    """What was compared, what was found above the threshold, and what could not be compared and why."""

    threshold: float
    compared: list[str] = field(default_factory=list)
    pairs: list[SimilarPair] = field(default_factory=list)
    not_compared: dict[str, str] = field(default_factory=dict)  # name: why


def read_code(path: Path) -> str:
    """The code of an entry (a module, a notebook or a folder of them), each file or cell after a comment
    line naming it. Comments do not count in the comparison, so the names only help the reader. Raises
    OSError or UngradableError when it cannot be read."""
    files = [path] if path.is_file() else [path / name for name in files_under(path)]
    parts, size = [], 0
    for file in (f for f in files if f.suffix in SUFFIXES):
        label = file.name if file == path else file.relative_to(path).as_posix()
        if file.suffix == ".ipynb":
            pieces = [(f"{label}, cell {cell.number}", cell.source) for cell in code_cells(file)]
        else:
            pieces = [(label, file.read_text(encoding="utf-8", errors="replace"))]
        for title, code in pieces:
            parts.append(f"# ---- {title.replace(chr(10), ' ')} ----\n{code.rstrip()}\n")
            size += len(parts[-1])
            if size > MAX_CODE_CHARS:
                return "\n".join(parts)[:MAX_CODE_CHARS]
    return "\n".join(parts)


def read_documents(paths: Iterable[tuple[str, Path]], *, public: bool = False) -> tuple[list[Document], dict[str, str]]:
    """The documents of named entries, and those that could not be read, with why."""
    documents, unreadable = [], {}
    for name, path in paths:
        try:
            documents.append(Document(name, read_code(path), public))
        except UngradableError as error:
            unreadable[name] = error.failure.message
        except OSError as error:
            unreadable[name] = f"cannot be read ({error.strerror or error})"
    return documents, unreadable


def entries_of(folder: Path) -> list[tuple[str, Path]]:
    """A folder's entries as ``grade batch`` names them: a module, a notebook or a folder per student."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_symlink() or (path.is_file() and path.suffix not in SUFFIXES):
            continue
        found.append((path.stem if path.is_file() else path.name, path))
    return found


def public_solutions(folder: Path) -> list[tuple[str, Path]]:
    """Every module and notebook under a folder of known public solutions, each one document."""
    return [(name, folder / name) for name in files_under(folder) if Path(name).suffix in SUFFIXES]


def boilerplate_code(paths: Sequence[Path]) -> list[str]:
    """The code every student was given (the starter, the reference solutions), from the paths that exist."""
    code = []
    for path in paths:
        if path.is_dir():
            code += [read_code(path / name) for name in files_under(path) if Path(name).suffix in SUFFIXES]
        elif path.is_file():
            code.append(read_code(path))
    return code


def compare(
    documents: Sequence[Document],
    *,
    boilerplate: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparison:
    """Every pair of the class's documents, and each against every public one (public ones are not compared
    with each other); the pairs at or above ``threshold``, most similar first."""
    import numpy as np
    from copydetect.detector import CodeFingerprint, compare_files

    _hash_kgrams_stably()
    excluded = [
        CodeFingerprint("starter.py", NOISE, 1, language="python", fp=io.StringIO(code)) for code in boilerplate
    ]
    excluded_hashes = np.unique(np.array([h for print_ in excluded for h in print_.hashes], dtype=np.int64))
    result = Comparison(threshold)
    prints = []
    for document in documents:
        fingerprint = CodeFingerprint(
            f"{document.name}.py",
            NOISE,
            GUARANTEE - NOISE + 1,
            excluded_hashes,
            language="python",
            fp=io.StringIO(document.text),
        )
        if fingerprint.token_coverage < MIN_FILTERED_CHARS:
            result.not_compared[document.name] = "too little code of its own, past the starter code, to compare"
            continue
        prints.append((document, fingerprint))
        result.compared.append(document.name)
    for i, (first, first_print) in enumerate(prints):
        for second, second_print in prints[i + 1 :]:
            if first.public and second.public:
                continue
            _, shares, slices = compare_files(first_print, second_print)
            share_first, share_second = (float(min(share, 1.0)) for share in shares)
            if max(share_first, share_second) >= threshold:
                regions = [_regions(found) for found in slices]
                result.pairs.append(SimilarPair(first, second, share_first, share_second, *regions))
    result.pairs.sort(key=lambda pair: (-pair.similarity, pair.first.name, pair.second.name))
    return result


def _hash_kgrams_stably() -> None:
    """copydetect hashes each k-gram with Python's ``hash()``, which is salted per process: the same class
    compared twice got other similarities (a few hundredths apart), and a pair could cross the threshold.
    Its fingerprints are built from one function, so it gets one that hashes the same in every run."""
    import copydetect.utils

    copydetect.utils.hashed_kgrams = _stable_kgrams


def _stable_kgrams(text: str, k: int) -> Any:
    """The 64-bit blake2b of every k characters of ``text``, as copydetect's numpy array of signed ints."""
    import numpy as np

    hashes = [
        int.from_bytes(hashlib.blake2b(text[at : at + k].encode(), digest_size=8).digest(), "big", signed=True)
        for at in range(len(text) - k + 1)
    ]
    return np.array(hashes, dtype=np.int64)


def compare_folder(
    folder: Path,
    *,
    public: Path | None = None,
    boilerplate: Sequence[Path] = DEFAULT_BOILERPLATE,
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparison:
    """``grade copies``: a submissions folder's entries, with a folder of public solutions if given."""
    documents, unreadable = read_documents(entries_of(folder))
    if public is not None:
        found, unreadable_public = read_documents(public_solutions(public), public=True)
        documents += found
        unreadable.update(unreadable_public)
    result = compare(documents, boilerplate=boilerplate_code(boilerplate), threshold=threshold)
    result.not_compared.update(unreadable)
    return result


def _regions(slices: object) -> list[tuple[int, int]]:
    """copydetect's 2 x N array of slice starts and ends as (start, end) pairs."""
    if len(slices) == 0:  # type: ignore[arg-type]  # no overlap at all: an empty 1-D array
        return []
    starts, ends = slices[0], slices[1]  # type: ignore[index]
    return [(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


@click.command("copies")
@click.argument("submissions", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--public",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of known public solutions (modules, notebooks) to compare each submission with.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="List a pair when at least this share of one side's code is found in the other.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the pairs side by side as HTML.")
@click.option(
    "--boilerplate",
    "given",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Code every student was given (repeatable; default: this grader's starter and reference solutions).",
)
def copies_command(
    submissions: Path, public: Path | None, threshold: float, out: Path | None, given: tuple[Path, ...]
) -> None:
    """List the pairs of entries of SUBMISSIONS (named as grade batch names them) whose code is similar,
    renamed variables, re-ordered functions and notebook outputs aside. Similar is not copied: look at them."""
    from grader.batch.summary import pairs_view
    from grader.render.similar_pairs import render_pairs_page

    result = compare_folder(submissions, public=public, boilerplate=given or DEFAULT_BOILERPLATE, threshold=threshold)
    for pair in result.pairs:
        click.echo(
            f"{pair.similarity:4.0%}  {_shown(pair.first)} ~ {_shown(pair.second)}  "
            f"({pair.share_first:.0%} of the first found in the second, {pair.share_second:.0%} the other way)"
        )
    if not result.pairs:
        click.echo(f"no pair is similar at {threshold:.0%} or more ({len(result.compared)} compared)")
    for name, why in sorted(result.not_compared.items()):
        click.echo(f"not compared: {_shown_name(name)}: {why}", err=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_pairs_page(pairs_view(result)), encoding="utf-8")
        click.echo(f"wrote {out} ({len(result.pairs)} pairs)", err=True)


def _shown(document: Document) -> str:
    return _shown_name(document.name) + (" (public)" if document.public else "")


def _shown_name(name: str) -> str:
    """A name as one printable line: a folder name is the student's choice, control characters included."""
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
