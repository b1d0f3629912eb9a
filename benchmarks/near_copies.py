"""Why ``grade copies`` uses copydetect: three ways of finding near-copies, side by side, on the written corpus of
tests/fixtures/similarity (an original, its renamed, re-ordered, re-run and re-commented copies, a submission
made of part of a public solution, and different solutions), then timed over a class of 50.

    python benchmarks/near_copies.py

- copydetect: winnowing over Pygments tokens (MOSS's algorithm), names and comments filtered, the starter's
  fingerprints left out; what the grader uses (grader.batch.similarity.compare).
- pycode_similar: each function's normalised syntax tree diffed against the other file's closest function (install
  it to run this row: pip install pycode_similar; it is not a dependency of the grader).
- token 5-grams: Jaccard over the Python tokens, names as one token, comments dropped, the starter's 5-grams
  left out: the baseline a few lines of code give.

Each cell is the similarity the method gives the pair (1 = the same code); "detected" at the grader's default
threshold. "Highest different" is the largest similarity between two genuinely different solutions: a false
positive above the threshold.
"""

from __future__ import annotations

import io
import random
import re
import time
import tokenize
from collections.abc import Callable
from pathlib import Path

from machine import describe_machine

from grader.batch.similarity import DEFAULT_THRESHOLD, Document, boilerplate_code, compare, read_code
from grader.notebook import parse_cell

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "similarity"
CLASS = FIXTURES / "class"
CASES = {
    "renamed variables": ("alice", "bob"),
    "re-ordered functions": ("alice", "carol"),
    "re-run notebook": ("erin", "frank"),
    "comments changed": ("alice", "alice_recommented"),
    "part of a public one": ("kim", "posted_solution"),
}
DIFFERENT = ["alice", "dave", "grace", "heidi", "ivan", "judy", "erin", "kim"]
CLASS_SIZE = 50

Similarity = Callable[[list[tuple[str, str]], list[str]], dict[tuple[str, str], float]]


def corpus() -> dict[str, str]:
    code = {path.stem: read_code(path) for path in sorted(CLASS.iterdir())}
    code["alice_recommented"] = _recommented(code["alice"])
    code["posted_solution"] = read_code(FIXTURES / "public" / "posted_solution.py")
    return code


def _recommented(code: str) -> str:
    """Every comment replaced by another, and a docstring added to each function."""
    code = re.sub(r"#.*", "# (my own words here)", code)
    return re.sub(r"(def \w+\(.*\):\n)", r'\1    """Written by me."""\n', code)


def by_copydetect(documents: list[tuple[str, str]], boilerplate: list[str]) -> dict[tuple[str, str], float]:
    found = compare([Document(name, text) for name, text in documents], boilerplate=boilerplate, threshold=0.0)
    return {(pair.first.name, pair.second.name): pair.similarity for pair in found.pairs}


def by_pycode_similar(documents: list[tuple[str, str]], boilerplate: list[str]) -> dict[tuple[str, str], float]:
    import pycode_similar

    python = {name: _plain_python(text) for name, text in documents}
    shares = {}
    for i, (first, _) in enumerate(documents):
        for second, _ in documents[i + 1 :]:
            both = []
            for a, b in ((first, second), (second, first)):
                try:
                    [(_, functions)] = pycode_similar.detect([python[a], python[b]], module_level=True)
                except (pycode_similar.NoFuncException, SyntaxError):
                    both.append(0.0)
                    continue
                total = sum(f.total_count for f in functions)
                both.append(sum(f.plagiarism_count for f in functions) / total if total else 0.0)
            shares[first, second] = max(both)
    return shares


def _plain_python(text: str) -> str:
    """Notebook magics made Python, as the grader reads cells; what does not parse left as it is."""
    tree = parse_cell(text)
    import ast

    return ast.unparse(tree) if tree is not None else text


def by_token_ngrams(documents: list[tuple[str, str]], boilerplate: list[str], n: int = 5) -> dict:
    given = set().union(*(_ngrams(code, n) for code in boilerplate)) if boilerplate else set()
    grams = {name: _ngrams(text, n) - given for name, text in documents}
    shares = {}
    for i, (first, _) in enumerate(documents):
        for second, _ in documents[i + 1 :]:
            union = grams[first] | grams[second]
            shares[first, second] = len(grams[first] & grams[second]) / len(union) if union else 0.0
    return shares


def _ngrams(code: str, n: int) -> set[tuple[str, ...]]:
    words = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                continue
            words.append("N" if token.type == tokenize.NAME and not _keyword(token.string) else token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # what was read so far
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _keyword(word: str) -> bool:
    import keyword

    return keyword.iskeyword(word)


def a_class(code: dict[str, str], size: int) -> list[tuple[str, str]]:
    """``size`` entries: the corpus, then its files again with their names renamed at random."""
    rng = random.Random(0)
    originals = sorted(code.items())
    out = list(originals)
    while len(out) < size:
        name, text = originals[len(out) % len(originals)]
        names = sorted(set(re.findall(r"\b[a-z_][a-z_0-9]{2,}\b", text)))
        renamed = {word: f"v{rng.randrange(10**6)}" for word in rng.sample(names, min(10, len(names)))}
        text = re.sub(r"\b[a-z_][a-z_0-9]{2,}\b", lambda match, renamed=renamed: renamed.get(match[0], match[0]), text)
        out.append((f"{name}_{len(out)}", text))
    return out


def main() -> None:
    code = corpus()
    starter = boilerplate_code([FIXTURES / "starter"])
    methods: dict[str, Similarity] = {
        "copydetect 0.5 (winnowing)": by_copydetect,
        "pycode_similar 1.4 (AST diff)": by_pycode_similar,
        "token 5-grams (Jaccard)": by_token_ngrams,
    }
    names = [*CASES, "highest different", f"seconds for {CLASS_SIZE}"]
    print(f"Machine: {describe_machine()}")
    print(f"Similarity of each pair; * detected at the default threshold {DEFAULT_THRESHOLD:g}.\n")
    print("| method | " + " | ".join(names) + " |")
    print("| --- " * (len(names) + 1) + "|")
    for label, method in methods.items():
        try:
            found = method(sorted(code.items()), starter)
        except ImportError as error:
            print(f"| {label} | not installed ({error.name}) |")
            continue
        cells = []
        for first, second in CASES.values():
            share = found.get((first, second), found.get((second, first), 0.0))
            cells.append(f"{share:.2f}{' *' if share >= DEFAULT_THRESHOLD else ''}")
        different = [(share, pair) for pair, share in found.items() if pair[0] in DIFFERENT and pair[1] in DIFFERENT]
        worst, pair = max(different)
        cells.append(f"{worst:.2f}{' *' if worst >= DEFAULT_THRESHOLD else ''} ({pair[0]}, {pair[1]})")
        started = time.perf_counter()
        method(a_class(code, CLASS_SIZE), starter)
        cells.append(f"{time.perf_counter() - started:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
