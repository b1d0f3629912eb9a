"""What every check is made of: points earned for a fraction of the way, and words a student reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from grader.frameworks import DEFAULT, Terms, terms
from grader.records import ModelMeasurement
from grader.report import Check, CheckStatus

CheckFunction = TypeVar("CheckFunction", bound=Callable[..., Check])


class Registry(Generic[CheckFunction]):
    """The checks of one kind, run in the order they were registered: a new check is one function decorated
    with the registry (``@structure_check("layers")``), and nothing that runs them changes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # as an error says it: "structure check"
        self._checks: dict[str, CheckFunction] = {}

    def __call__(self, name: str) -> Callable[[CheckFunction], CheckFunction]:
        """The decorator registering a check as ``name``."""

        def register(check: CheckFunction) -> CheckFunction:
            if name in self._checks:
                raise ValueError(f"two {self.kind}s are named {name!r}")
            self._checks[name] = check
            return check

        return register

    def items(self) -> list[tuple[str, CheckFunction]]:
        return list(self._checks.items())

    @contextmanager
    def added(self, name: str, check: CheckFunction) -> Iterator[CheckFunction]:
        """``check`` registered as ``name`` for the ``with`` block only: a test's check leaves none behind."""
        self(name)(check)
        try:
            yield check
        finally:
            del self._checks[name]


def graded(check_id: str, title: str, points: float, fraction: float, message: str, hint: str = "") -> Check:
    """A check worth ``points``, earning ``fraction`` of them."""
    status: CheckStatus = "pass" if fraction == 1.0 else "partial" if fraction > 0 else "fail"
    return Check(check_id, title, round(points * fraction, 2), points, status, message, hint if fraction < 1 else "")


def passed(check_id: str, title: str, points: float, message: str) -> Check:
    return graded(check_id, title, points, 1.0, message)


def failed(check_id: str, title: str, points: float, message: str, hint: str) -> Check:
    return graded(check_id, title, points, 0.0, message, hint)


def not_applicable(check_id: str, title: str, points: float, message: str) -> Check:
    """The model does not use what the rule is about: nothing to fault, full points."""
    return Check(check_id, title, points, points, "n/a", message)


def not_measured(check_id: str, title: str, message: str) -> Check:
    """Nothing to score (e.g. not measured in quick mode): worth no points either way."""
    return Check(check_id, title, 0.0, 0.0, "skipped", message)


def not_trained(check_id: str, title: str, points: float, model: ModelMeasurement) -> Check:
    failure = model.failure
    if failure is None:
        return failed(check_id, title, points, f"{model.key} was not graded", "")
    where = f" ({failure.location})" if failure.location else ""
    return failed(check_id, title, points, f"not trained: {failure.message}{where}", failure.hint)


def fraction_above(value: float, full_at: float, zero_at: float) -> float:
    """1 at or above ``full_at``, 0 at or below ``zero_at``, linear in between."""
    if value >= full_at:
        return 1.0
    if value <= zero_at:
        return 0.0
    return round((value - zero_at) / (full_at - zero_at), 4)


def framework_of(model: ModelMeasurement) -> str:
    """The framework the model was built in; the default one for a model never built."""
    return model.description.framework if model.description is not None else DEFAULT


def terms_of(model: ModelMeasurement) -> Terms:
    """The words of the framework the student used, for advice: the same advice in each framework's API."""
    return terms(framework_of(model))
