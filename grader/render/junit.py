"""JUnit XML: one ``<testsuite>`` per model and one ``<testcase>`` per check, for CI test reporters.

Written in the common dialect that GitLab, Jenkins and the GitHub test-reporter actions read: counts on
every suite and on ``<testsuites>``, ``<failure>`` for a check that lost points, ``<skipped>`` for one
that was not measured, ``<error>`` for a model that did not train (a testcase of its own, before its
checks) and for a submission that could not be graded (the only testcase then). ``file`` and ``line``
on an error's testcase point at the student's code; a notebook gets no line, which would be a line of
its JSON. A model's suite carries its diagnosis as ``<properties>`` (``diagnosis``, ``diagnosis.state``)
and, with what its what-ifs measured and the warnings that name it, in its ``<system-out>``; the warnings
that name no model go to the first suite's.

Student-controlled text is cleaned of ANSI colour codes and of characters XML 1.0 cannot hold.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from grader.records import Failure
from grader.render.checks import CheckRow, check_rows, diagnoses, failed_models, failure_text, student_file
from grader.render.text import clean
from grader.report import Report

SUITE_PREFIX = "nn-grader"
_COUNTED = {"failures": "failure", "errors": "error", "skipped": "skipped"}  # attribute: child element


def render_junit(report: Report) -> str:
    failure = report.measurements.failure
    suites = [_submission_suite(report, failure)] if failure else _model_suites(report)
    root = ET.Element("testsuites", name=SUITE_PREFIX)
    _count(root, [case for suite in suites for case in suite.iter("testcase")], report.measurements.seconds)
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def classname(key: str) -> str:
    """``mnist/multi`` as a dotted class name, ``nn-grader.mnist.multi``, which reporters group by."""
    return ".".join([SUITE_PREFIX, *key.split("/")])


def _model_suites(report: Report) -> list[ET.Element]:
    failed = failed_models(report)
    views = {view.model: view for view in diagnoses(report)}
    keys = [score.key for score in report.scores]
    unnamed = [w for w in report.warnings if not any(key in w for key in keys)]
    suites = []
    for n, (key, rows) in enumerate(itertools.groupby(check_rows(report), key=lambda row: row.model)):
        cases = [_error_case(report, key, "training", failed[key])] if key in failed else []
        cases += [_check_case(row) for row in rows]
        model = report.measurements.model(key)
        seconds = model.run.seconds if model is not None and model.run is not None else 0.0
        suite = _suite(classname(key), cases, seconds)
        view = views.get(key)
        if view is not None:
            properties = ET.Element("properties")
            ET.SubElement(properties, "property", name="diagnosis.state", value=clean(view.state))
            ET.SubElement(properties, "property", name="diagnosis", value=clean(view.headline))
            suite.insert(0, properties)  # before the testcases, where the schema has them
        warnings = [w for w in report.warnings if key in w] + (unnamed if n == 0 else [])
        out = ([f"Diagnosis: {view.text()}"] if view is not None else []) + [f"warning: {w}" for w in warnings]
        if out:
            ET.SubElement(suite, "system-out").text = clean("\n".join(out) + "\n")
        suites.append(suite)
    return suites


def _submission_suite(report: Report, failure: Failure) -> ET.Element:
    case = _error_case(report, "submission", "grading", failure)
    return _suite(classname("submission"), [case], report.measurements.seconds)


def _suite(name: str, cases: list[ET.Element], seconds: float) -> ET.Element:
    suite = ET.Element("testsuite", name=name)
    _count(suite, cases, seconds)
    suite.extend(cases)
    return suite


def _count(element: ET.Element, cases: list[ET.Element], seconds: float) -> None:
    """The counts every reader expects, taken from the testcases themselves so that they always agree."""
    element.set("tests", str(len(cases)))
    for attribute, tag in _COUNTED.items():
        element.set(attribute, str(sum(case.find(tag) is not None for case in cases)))
    element.set("time", f"{seconds:.3f}")


def _testcase(key: str, name: str) -> ET.Element:
    return ET.Element("testcase", classname=classname(key), name=clean(name), time="0.000")


def _check_case(row: CheckRow) -> ET.Element:
    case = _testcase(row.model, f"{row.check.id}: {row.check.title}")
    if row.check.status == "skipped":
        ET.SubElement(case, "skipped", message=clean(row.check.message))
    elif row.lost_points:
        message = f"{row.points} points: {row.check.message}"
        failure = ET.SubElement(case, "failure", message=_first_line(message), type=row.check.status)
        failure.text = clean(f"{message}\n" + (f"→ {row.check.hint}\n" if row.check.hint else ""))
    return case


def _error_case(report: Report, key: str, name: str, failure: Failure) -> ET.Element:
    case = _testcase(key, name)
    location = failure.location
    if location is not None:
        case.set("file", clean(student_file(report, location)))
        if location.line and location.cell is None:
            case.set("line", str(location.line))
    error = ET.SubElement(case, "error", message=_first_line(failure.message), type=clean(failure.kind))
    error.text = clean(failure_text(failure) + (f"\n\n{failure.traceback}" if failure.traceback else "") + "\n")
    return case


def _first_line(text: str) -> str:
    """An attribute's value: one line, as readers show it in a list."""
    lines = clean(text).strip().splitlines()
    return lines[0] if lines else ""
