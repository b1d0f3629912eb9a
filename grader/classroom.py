"""The student workflow's helpers: the requirements of the grader's extras, and the points in the form GitHub
Classroom's reporter reads them.

GitHub Classroom takes a repository's points from its autograding reporter
(``classroom-resources/autograding-grading-reporter``): each runner step id named in its ``runners`` input
hands it ``<ID>_RESULTS``, a base64 JSON object ``{"version": 1, "status": "pass"|"fail"|"error",
"max_score": N, "tests": [{"name", "status", "score", "message"}]}``. The reporter adds up the tests' scores
out of ``max_score``, writes ``Points X/Y`` on the check run named "Autograding Tests" (where Classroom reads
it), and fails the job on "fail" or "error". Here each model is one test worth its points, out of the
report's total.

    python -m grader.classroom requirements torch torchvision   # what those extras install, one a line
    python -m grader.classroom result grade-report/report.json  # the base64 payload
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

FULL_TOTAL = 100  # a full-mode grade's points: what an upload that left no report is out of


def extra_requirements(extras: list[str]) -> list[str]:
    """The requirements the grader's extras add (not the grader's own), as pip reads them."""
    found = []
    for line in importlib.metadata.requires("nn-grader") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is not None and any(marker.evaluate({"extra": extra}) for extra in extras):
            requirement.marker = None
            found.append(str(requirement))
    return list(dict.fromkeys(found))


def classroom_result(report: dict[str, Any] | None) -> dict[str, Any]:
    """The reporter's results object for a JSON report (None: no report was written)."""
    if report is None or report.get("status") != "graded":
        why = "the grader wrote no report: see the Grade step's log"
        if report is not None:
            failure = (report.get("measurements") or {}).get("failure") or {}
            why = failure.get("message") or "the submission could not be graded"
        max_score = (report or {}).get("max_points") or FULL_TOTAL
        test = {"name": "Submission loads and runs", "status": "error", "score": 0, "message": why}
        return {"version": 1, "status": "error", "max_score": max_score, "tests": [test]}
    tests = []
    for score in report.get("scores", []):
        checks = score.get("checks", [])
        points = round(sum(check.get("points", 0) for check in checks), 2)
        possible = round(sum(check.get("max_points", 0) for check in checks), 2)
        lost = [f"{c['title']}: {c.get('message', '')}" for c in checks if c["points"] < c["max_points"]]
        tests.append(
            {
                "name": f"{score['key']} ({points:g} of {possible:g} points)",
                "status": "pass" if not lost else "fail",
                "score": points,
                "message": "; ".join(lost) or None,
            }
        )
    status = "pass" if report.get("passed") else "fail"
    return {"version": 1, "status": status, "max_score": report.get("max_points", 0), "tests": tests}


def encoded(result: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(result).encode()).decode("ascii")


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "requirements":
        print("\n".join(extra_requirements(argv[1:])))
        return 0
    if len(argv) == 2 and argv[0] == "result":
        path = Path(argv[1])
        try:
            report = json.loads(path.read_text()) if path.is_file() else None
        except ValueError:
            report = None
        print(encoded(classroom_result(report)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
