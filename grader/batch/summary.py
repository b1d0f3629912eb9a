"""The class summary's view, built from the gradebook's rows: how the class did (students per status, points,
pass rate), how each model did beside its reference, which checks cost the most points, who was not graded
and why (an ungradable submission scores 0 out of the full total; a roster student with nothing handed in is
``missing``), the entries on no roster, the same files handed in twice, and the similar pairs.

All the counting and wording is here; ``render.class_summary`` only lays the view out and draws it.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from grader.batch.export import full_points, model_keys, not_on_roster, points_of
from grader.batch.gradebook import MISSING, Row
from grader.batch.run_one import STATUSES
from grader.batch.similarity import DEFAULT_BOILERPLATE, Comparison, Document, boilerplate_code, compare
from grader.batch.similarity import read_documents as read_entries
from grader.figures import percent
from grader.records import Accuracy
from grader.render.class_view import ClassView, ModelSpread, PairsView, PairView
from grader.report import Report

CHECKS_SHOWN = 15
STATUS_WORDS = {
    "graded": "graded",
    "ungradable": "could not be graded",
    "timed_out": "timed out",
    "error": "grader error",
    MISSING: "nothing handed in",
}
NOT_HASHED = ("", "not-read")  # a missing student's and a refused entry's stand-in hashes: no files compared
TOO_LARGE = "too-large-"  # the stand-in hash of an entry too large to hash: equal sizes, not equal files

Graded = tuple[Row, Report]


def class_view(rows: Iterable[Row], *, similar: bool = True) -> ClassView:
    """The class as the summary shows it, students in id order; ``similar=False`` reads no files again."""
    ordered = sorted(rows, key=lambda row: row.student.id)
    results = [(row, row.report()) for row in ordered]
    graded = [(row, report) for row, report in results if row.status == "graded" and report is not None]
    scored = [report for _, report in graded if report.max_points]
    marks = Counter(round(100 * report.pass_mark / report.max_points, 1) for report in scored)
    hashed = [row for row in ordered if row.content_hash not in NOT_HASHED]
    spreads = _spreads(graded)
    outside, full = not_on_roster(ordered), full_points(ordered)
    return ClassView(
        students=len(ordered),
        about=_about(ordered) if ordered else "",
        overview=_overview(ordered, graded, outside),
        statuses=_statuses(ordered),
        scored_percents=[100 * report.points / report.max_points for report in scored],
        pass_mark_percent=marks.most_common(1)[0][0] if marks else 0.0,
        models=[_model_line(spread, graded) for spread in spreads],
        spreads=spreads,
        graded=len(graded),
        costly_checks=_costly_checks(graded),
        not_graded=_not_graded(results, full),
        not_on_roster=[[row.student.id, row.entry, _grade(row)] for row in outside],
        identical=_identical(ordered),
        similar=class_pairs(hashed) if similar and ordered else None,
        every_student=_every_student(ordered, full),
    )


def _about(rows: list[Row]) -> str:
    stored = [row for row in rows if row.status != MISSING]
    rubrics = ", ".join(sorted({f"{row.rubric_name} {row.rubric_digest}".strip() for row in stored}))
    versions = ", ".join(sorted({row.grader_version for row in stored}))
    times = sorted(row.graded_at for row in stored) or ["-"]
    return f"{len(rows)} students · rubric {rubrics} · nn-grader {versions} · graded {times[0]} to {times[-1]}"


def _overview(rows: list[Row], graded: list[Graded], outside: list[Row]) -> list[tuple[str, str]]:
    """The numbers first: how many were graded, how many passed, the points' centre."""
    if not rows:
        return []
    passed = sum(1 for row in rows if row.passed)
    pass_rate = f"{passed} of {len(rows)} students ({percent(passed / len(rows))})"
    if graded:
        pass_rate += f"; {percent(passed / len(graded))} of those graded"
    facts = [("Students", str(len(rows))), ("Graded", f"{len(graded)} of {len(rows)}"), ("Passed", pass_rate)]
    if graded:
        facts.append(("Points", _centre([report for _, report in graded])))
    late = sum(1 for row in rows if row.late)
    facts += [("Late", f"{late} handed in late")] if late else []
    facts += [("Not on the roster", f"{len(outside)} entries")] if outside else []
    return facts


def _statuses(rows: list[Row]) -> list[list[str]]:
    """Students per status: every status a run can end in, then missing and any other stored, where found."""
    counts = Counter(row.status for row in rows)
    statuses = [*STATUSES, *([MISSING] if MISSING in counts else []), *sorted(set(counts) - {*STATUSES, MISSING})]
    return [[STATUS_WORDS.get(status, status), str(counts[status])] for status in statuses]


def _centre(reports: list[Report]) -> str:
    points = [report.points for report in reports]
    maxima = sorted({report.max_points for report in reports})
    out_of = f"{maxima[0]:g}" if len(maxima) == 1 else f"{maxima[0]:g} to {maxima[-1]:g}"
    return f"mean {statistics.mean(points):.1f}, median {statistics.median(points):g}, out of {out_of}"


def _spreads(graded: list[Graded]) -> list[ModelSpread]:
    """Each model's test accuracy over the class, beside the reference most of the class was scored against."""
    spreads = []
    for key in model_keys([report for _, report in graded]):
        accuracies = [a.test for _, report in graded if (a := _accuracy(report, key)) is not None]
        references = Counter(s.reference.test_accuracy for _, r in graded if (s := r.score(key)) and s.reference)
        spreads.append(ModelSpread(key, accuracies, references.most_common(1)[0][0] if references else None))
    return spreads


def _model_line(spread: ModelSpread, graded: list[Graded]) -> list[str]:
    key, accuracies, reference = spread.key, spread.accuracies, spread.reference
    untrained = sum(1 for _, report in graded if report.score(key) and _accuracy(report, key) is None)
    shown = percent(reference) if reference is not None else "-"
    if not accuracies:
        return [key, "0", str(untrained), "-", "-", shown]
    between = f"{percent(min(accuracies))} to {percent(max(accuracies))}"
    return [key, str(len(accuracies)), str(untrained), percent(statistics.median(accuracies)), between, shown]


def _costly_checks(graded: list[Graded]) -> list[list[str]]:
    """The checks that cost the class the most points: what to explain again in class."""
    lost: dict[tuple[str, str], list[float]] = defaultdict(list)
    titles = {}
    for _, report in graded:
        for score in report.scores:
            for check in (c for c in score.checks if c.lost > 0):
                lost[score.key, check.id].append(check.lost)
                titles[score.key, check.id] = check.title
    ranked = sorted(lost.items(), key=lambda item: (-sum(item[1]), -len(item[1]), item[0]))[:CHECKS_SHOWN]
    return [
        [
            titles[where],
            where[0],
            f"{len(losses)} of {len(graded)}",
            f"{statistics.mean(losses):.2f}",
            f"{round(sum(losses), 2):g}",
        ]
        for where, losses in ranked
    ]


def _not_graded(results: list[tuple[Row, Report | None]], full: float | None) -> list[list[str]]:
    """Every student without a graded result, and why: an ungradable one with its 0 out of the total."""
    return [
        [row.student.id, row.student.name, _status(row), _score(row, full), _reason(row, report)]
        for row, report in results
        if row.status != "graded"
    ]


def _every_student(rows: list[Row], full: float | None) -> list[list[str]]:
    """The class, one line each: every roster student (missing ones too) and every entry on no roster."""
    roster = {None: "", True: "", False: "not on the roster"}
    return [
        [
            row.student.id,
            row.student.name,
            _status(row),
            _score(row, full),
            "late" if row.late else "",
            roster[row.on_roster],
        ]
        for row in rows
    ]


def _identical(rows: list[Row]) -> list[list[str]]:
    """Students who handed in the same files byte for byte: a copy, or the starter code unchanged."""
    by_content: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if not row.content_hash.startswith(TOO_LARGE) and row.content_hash not in NOT_HASHED:
            by_content[row.content_hash].append(row)
    groups = sorted((same for same in by_content.values() if len(same) > 1), key=lambda same: same[0].student.id)
    return [
        ["; ".join(_who(row) for row in same), ", ".join(dict.fromkeys(map(_grade, same))), same[0].content_hash[:12]]
        for same in groups
    ]


def class_pairs(rows: Iterable[Row]) -> PairsView:
    """The similar pairs of the class: each student's files read again from where they were graded. A
    gradebook read away from its submissions says so instead of comparing nothing."""
    named, missing = [], {}
    for row in rows:
        if not row.path:  # a roster student with nothing handed in: Path("") would be the working folder
            continue
        path = Path(row.path)
        if path.exists():
            named.append((row.student.id, path))
        else:
            missing[row.student.id] = f"its files are no longer at {row.path}"
    documents, unreadable = read_entries(named)
    if not documents:
        why = "the submissions' files are not where they were graded from" if missing else "nothing to compare"
        hint = "grade copies SUBMISSIONS compares a folder of submissions"
        return PairsView(0.0, 0, [], unavailable=f"{why} ({hint})")
    comparison = compare(documents, boilerplate=boilerplate_code(DEFAULT_BOILERPLATE))
    comparison.not_compared.update(unreadable | missing)
    return pairs_view(comparison)


def pairs_view(comparison: Comparison) -> PairsView:
    """A comparison as the pages show it."""
    pairs = [
        PairView(
            _name(pair.first),
            _name(pair.second),
            pair.share_first,
            pair.share_second,
            pair.first.text,
            pair.second.text,
            pair.regions_first,
            pair.regions_second,
        )
        for pair in comparison.pairs
    ]
    return PairsView(comparison.threshold, len(comparison.compared), pairs, dict(comparison.not_compared))


def _name(document: Document) -> str:
    return f"{document.name} (public)" if document.public else document.name


def _accuracy(report: Report, key: str) -> Accuracy | None:
    model = report.measurements.model(key)
    return model.accuracy if model is not None else None


def _status(row: Row) -> str:
    return STATUS_WORDS.get(row.status, row.status)


def _score(row: Row, full: float | None) -> str:
    points, max_points = points_of(row, full)
    if points is None:
        return "-"
    return f"{points:g} / {max_points:g}" if max_points else f"{points:g}"


def _reason(row: Row, report: Report | None) -> str:
    failure = report.measurements.failure if report else None
    return row.error or (failure.message if failure else "") or "no reason was recorded"


def _who(row: Row) -> str:
    return f"{row.student.id} ({row.student.name})" if row.student.name else row.student.id


def _grade(row: Row) -> str:
    if row.status != "graded" or row.points is None or row.max_points is None:
        return _status(row)
    return f"{row.points:g} / {row.max_points:g}"
