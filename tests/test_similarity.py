"""Near-copies in a class (``grade copies``, the class summary's section), on a small corpus written for these
tests in the styles students write (tests/fixtures/similarity/class): an original (alice), a renamed copy
(bob), a re-ordered and re-commented copy (carol), a notebook (erin) and the same notebook run again with
other outputs and comments (frank), a copy of a public solution (kim, of public/posted_solution.py), and
different solutions (dave in Keras, grace with nn.Module classes, heidi a Keras notebook, ivan and judy both
filled in from the starter, tests/fixtures/similarity/starter).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.batch.gradebook import Row
from grader.batch.similarity import DEFAULT_THRESHOLD, Comparison, compare_folder
from grader.batch.submissions import Student
from grader.batch.summary import class_pairs, pairs_view
from grader.cli import main
from grader.render.similar_pairs import pairs_section, render_pairs_page

FIXTURES = Path(__file__).parent / "fixtures" / "similarity"
CLASS, PUBLIC, STARTER = FIXTURES / "class", FIXTURES / "public", FIXTURES / "starter"
COPIES = {("alice", "bob"), ("alice", "carol"), ("bob", "carol"), ("erin", "frank"), ("kim", "posted_solution.py")}


def similarity(comparison: Comparison) -> dict[tuple[str, str], float]:
    return {(pair.first.name, pair.second.name): pair.similarity for pair in comparison.pairs}


@pytest.fixture(scope="module")
def everything() -> Comparison:
    """Every pair, whatever its similarity."""
    return compare_folder(CLASS, public=PUBLIC, boilerplate=[STARTER], threshold=0.0)


def test_renamed_reordered_rerun_and_publicly_copied_submissions_are_similar(everything):
    found = similarity(everything)
    assert all(found[pair] >= 0.9 for pair in COPIES), {pair: found[pair] for pair in COPIES}


def test_different_solutions_stay_below_the_default_threshold(everything):
    others = {pair: share for pair, share in similarity(everything).items() if pair not in COPIES}
    assert max(others.values()) < DEFAULT_THRESHOLD, sorted(others.items(), key=lambda item: -item[1])[:3]


def test_the_default_threshold_lists_exactly_the_copies():
    found = compare_folder(CLASS, public=PUBLIC, boilerplate=[STARTER])
    assert set(similarity(found)) == COPIES


def test_code_from_the_starter_is_not_evidence(everything):
    """ivan and judy both filled in the starter: alike only in what they were given."""
    assert similarity(everything)["ivan", "judy"] < 0.25
    unexcluded = compare_folder(CLASS, boilerplate=[], threshold=0.0)
    assert similarity(unexcluded)["ivan", "judy"] >= 0.5


def test_public_solutions_are_not_compared_with_each_other(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    for name in ("a.py", "b.py"):
        shutil.copy(PUBLIC / "posted_solution.py", public / name)
    found = compare_folder(CLASS, public=public, boilerplate=[STARTER])
    assert ("a.py", "b.py") not in similarity(found)
    assert {("kim", "a.py"), ("kim", "b.py")} <= set(similarity(found))


def test_an_unreadable_or_empty_entry_is_said_not_compared(tmp_path):
    shutil.copy(CLASS / "alice.py", tmp_path / "alice.py")
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    (tmp_path / "empty.py").write_text("# nothing yet\n", encoding="utf-8")
    found = compare_folder(tmp_path, boilerplate=[STARTER])
    assert set(found.not_compared) == {"broken", "empty"}
    assert "not a notebook" in found.not_compared["broken"]


def test_the_page_shows_similar_regions_side_by_side_and_student_code_cannot_inject_markup(tmp_path):
    attack = (CLASS / "alice.py").read_text() + '\nNOTE = "</pre></details><script>alert(1)</script>"\n'
    for name in ("<img src=x onerror=alert(1)>", "mallory"):
        (tmp_path / f"{name}.py").write_text(attack, encoding="utf-8")
    page = render_pairs_page(pairs_view(compare_folder(tmp_path, boilerplate=[STARTER])))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page
    assert page.count("<pre>") == 2 and "<mark>" in page
    assert "copied" not in page.lower() and "similar" in page.lower()


def test_grade_copies_lists_the_pairs_and_writes_the_page(tmp_path):
    out = tmp_path / "pairs.html"
    args = ["copies", str(CLASS), "--public", str(PUBLIC), "--boilerplate", str(STARTER), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    listed = [line for line in result.stdout.splitlines() if " ~ " in line]
    assert len(listed) == len(COPIES)
    assert any("kim ~ posted_solution.py (public)" in line for line in listed)
    assert out.read_text(encoding="utf-8").count("<details>") == len(COPIES)


def row(student: str, path: Path) -> Row:
    fields = {f.name: None for f in dataclasses.fields(Row)}
    return Row(**{**fields, "student": Student(student), "path": str(path), "status": "graded"})


def test_the_class_summary_section_lists_similar_pairs_from_where_the_class_was_graded():
    rows = [row(name, CLASS / f"{name}.py") for name in ("alice", "bob", "dave")]
    section = "\n".join(pairs_section(class_pairs(rows)))
    assert "1 similar pair (" in section and "alice" in section and "bob" in section
    assert "<details>" in section


def test_the_class_summary_section_says_when_the_files_are_gone():
    section = "\n".join(pairs_section(class_pairs([row("alice", Path("no/such/alice.py"))])))
    assert "Not compared: the submissions&#x27; files are not where they were graded from" in section


def test_the_same_class_gets_the_same_similarities_in_every_run():
    """copydetect's own k-gram hash is salted per process; the grader's is not, so a class compared again is
    compared the same."""
    script = (
        "from pathlib import Path; from grader.batch.similarity import compare_folder; "
        f"found = compare_folder(Path({str(CLASS)!r}), public=Path({str(PUBLIC)!r}), "
        f"boilerplate=[Path({str(STARTER)!r})], threshold=0.0); "
        "print([(p.first.name, p.second.name, p.similarity) for p in found.pairs])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1 and "alice" in runs.pop()
