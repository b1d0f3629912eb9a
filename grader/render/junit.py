"""JUnit XML: one ``<testsuite>`` per model and one ``<testcase>`` per check, for CI test reporters.

Written in the common dialect that GitLab, Jenkins and the GitHub test-reporter actions read, and valid
under the strictest of them, Jenkins xUnit's ``junit-10.xsd`` (tests/fixtures/junit-10.xsd): counts on
every suite and on ``<testsuites>`` (which that schema allows no ``skipped`` count: each suite has its
own), ``<failure>`` for a check that lost points, ``<skipped>`` for one that was not measured, ``<error>``
for a model that did not train (a testcase of its own, before its checks) and for a submission that could
not be graded (the only testcase then). Where the error is in the student's code, its suite's
``<properties>`` say so (``error.file``, and ``error.line`` for a module: a notebook's line would be a line
of its JSON), since the schema has no ``file`` or ``line`` on a testcase. A model's suite carries its
diagnosis as ``<properties>`` (``diagnosis``, ``diagnosis.state``) and, with what its what-ifs measured
and the warnings that name it, in its ``<system-out>``; the warnings that name no model go to the first
suite's.

Student-controlled text is cleaned of ANSI colour codes and of characters XML 1.0 cannot hold.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from grader.records import Failure
from grader.render.parts import CheckRow, check_rows, diagnoses, failed_models, failure_text, student_file
from grader.render.text import clean
from grader.report import Report

SUITE_PREFIX = "nn-grader"
_COUNTED = {"failures": "failure", "errors": "error", "skipped": "skipped"}  # attribute: child element
_COUNTED_IN_ALL = {"failures": "failure", "errors": "error"}  # junit-10.xsd has no skipped on <testsuites>


def render_junit(report: Report) -> str:
    failure = report.measurements.failure
    suites = [_submission_suite(report, failure)] if failure else _model_suites(report)
    root = ET.Element("testsuites", name=SUITE_PREFIX)
    cases = [case for suite in suites for case in suite.iter("testcase")]
    _count(root, cases, report.measurements.seconds, counted=_COUNTED_IN_ALL)
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
        cases = [_error_case(key, "training", failed[key])] if key in failed else []
        cases += [_check_case(row) for row in rows]
        model = report.measurements.model(key)
        seconds = model.run.seconds if model is not None and model.run is not None else 0.0
        suite = _suite(classname(key), cases, seconds)
        view = views.get(key)
        facts = [("diagnosis.state", view.state), ("diagnosis", view.headline)] if view is not None else []
        facts += _location(report, failed[key]) if key in failed else []
        _properties(suite, facts)
        warnings = [w for w in report.warnings if key in w] + (unnamed if n == 0 else [])
        out = ([f"Diagnosis: {view.text()}"] if view is not None else []) + [f"warning: {w}" for w in warnings]
        if out:
            ET.SubElement(suite, "system-out").text = clean("\n".join(out) + "\n")
        suites.append(suite)
    return suites


def _submission_suite(report: Report, failure: Failure) -> ET.Element:
    case = _error_case("submission", "grading", failure)
    suite = _suite(classname("submission"), [case], report.measurements.seconds)
    _properties(suite, _location(report, failure))
    return suite


def _properties(suite: ET.Element, facts: list[tuple[str, str]]) -> None:
    """The suite's ``<properties>``, first, where the schema has them; none when there is nothing to say."""
    if not facts:
        return
    properties = ET.Element("properties")
    for name, value in facts:
        ET.SubElement(properties, "property", name=name, value=clean(value))
    suite.insert(0, properties)


def _location(report: Report, failure: Failure) -> list[tuple[str, str]]:
    """Where in the student's code the error is: properties of its suite, since a testcase may not carry
    ``file`` or ``line`` under the strict schema. A notebook gets no line: it would be a line of its JSON."""
    location = failure.location
    if location is None:
        return []
    facts = [("error.file", student_file(report, location))]
    return facts + ([("error.line", str(location.line))] if location.line and location.cell is None else [])


def _suite(name: str, cases: list[ET.Element], seconds: float) -> ET.Element:
    suite = ET.Element("testsuite", name=name)
    _count(suite, cases, seconds)
    suite.extend(cases)
    return suite


def _count(element: ET.Element, cases: list[ET.Element], seconds: float, counted: dict[str, str] = _COUNTED) -> None:
    """The counts every reader expects, taken from the testcases themselves so that they always agree."""
    element.set("tests", str(len(cases)))
    for attribute, tag in counted.items():
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


def _error_case(key: str, name: str, failure: Failure) -> ET.Element:
    case = _testcase(key, name)
    error = ET.SubElement(case, "error", message=_first_line(failure.message), type=clean(failure.kind))
    error.text = clean(failure_text(failure) + (f"\n\n{failure.traceback}" if failure.traceback else "") + "\n")
    return case


def _first_line(text: str) -> str:
    """An attribute's value: one line, as readers show it in a list."""
    lines = clean(text).strip().splitlines()
    return lines[0] if lines else ""
