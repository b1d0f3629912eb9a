"""A validator for Gradescope's ``results.json``, written from its published specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): the keys it knows, their types and
their allowed values. Gradescope rejects or silently ignores anything else."""

from __future__ import annotations

from numbers import Real
from typing import Any

TOP_LEVEL = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags"}
TEST_KEYS |= {"visibility", "extra_data"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def problems(results: dict[str, Any]) -> list[str]:
    """Every way ``results`` departs from the specification; empty when Gradescope accepts it."""
    found = [f"unknown top-level key {key!r}" for key in results.keys() - TOP_LEVEL]
    if "score" not in results and not all("score" in test for test in results.get("tests", [])):
        found.append("no top-level score, and not every test has one")
    found += _number(results, "score", "") + _number(results, "execution_time", "", integer=True)
    found += _choice(results, "visibility", VISIBILITIES, "") + _choice(results, "stdout_visibility", VISIBILITIES, "")
    for key in ("output_format", "test_output_format", "test_name_format"):
        found += _choice(results, key, FORMATS, "")
    if not isinstance(results.get("output", ""), str):
        found.append("output is not a string")
    for n, test in enumerate(results.get("tests", [])):
        where = f"tests[{n}]: "
        found += [f"{where}unknown key {key!r}" for key in test.keys() - TEST_KEYS]
        found += _number(test, "score", where) + _number(test, "max_score", where)
        found += _choice(test, "status", {"passed", "failed"}, where) + _choice(test, "visibility", VISIBILITIES, where)
        found += _choice(test, "output_format", FORMATS, where)
        for key in ("name", "output"):
            if not isinstance(test.get(key, ""), str):
                found.append(f"{where}{key} is not a string")
    for n, entry in enumerate(results.get("leaderboard", [])):
        where = f"leaderboard[{n}]: "
        if set(entry) - {"name", "value", "order"} or not isinstance(entry.get("name"), str):
            found.append(f"{where}needs a name, a value and an optional order, nothing else")
        if not isinstance(entry.get("value"), (Real, str)) or isinstance(entry.get("value"), bool):
            found.append(f"{where}value is not a number or a string")
        found += _choice(entry, "order", {"asc", "desc"}, where)
    return found


def _number(data: dict[str, Any], key: str, where: str, *, integer: bool = False) -> list[str]:
    if key not in data:
        return []
    value = data[key]
    kind = int if integer else Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and value >= 0
    return [] if ok else [f"{where}{key} is {value!r}, not a non-negative {'integer' if integer else 'number'}"]


def _choice(data: dict[str, Any], key: str, allowed: set[str], where: str) -> list[str]:
    if key in data and data[key] not in allowed:
        return [f"{where}{key} is {data[key]!r}, not one of {sorted(allowed)}"]
    return []
