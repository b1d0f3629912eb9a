"""What every check is made of: points earned for the fraction of the way a model got, a status that says
which, advice only where points were lost, and a failed model's own failure as the reason it scores 0."""

from __future__ import annotations

import pytest
from measurements_factory import failed as failed_model
from measurements_factory import model

from grader.records import Failure, SourceLocation
from grader.score.checks import fraction_above, graded, not_applicable, not_measured, not_trained


@pytest.mark.parametrize(
    ("value", "fraction"),
    [(0.99, 1.0), (0.95, 1.0), (0.90, 0.5), (0.85, 0.0), (0.5, 0.0), (0.91234, 0.6234)],
)
def test_a_fraction_is_full_at_the_top_none_at_the_bottom_and_linear_in_between(value, fraction):
    assert fraction_above(value, full_at=0.95, zero_at=0.85) == fraction


@pytest.mark.parametrize(
    ("fraction", "points", "status", "hint"),
    [(1.0, 10.0, "pass", ""), (0.333, 3.33, "partial", "train longer"), (0.0, 0.0, "fail", "train longer")],
)
def test_a_check_earns_its_fraction_of_the_points_and_advises_only_when_it_lost_some(fraction, points, status, hint):
    check = graded("accuracy", "Accuracy", 10.0, fraction, "measured", "train longer")
    assert (check.points, check.max_points, check.status, check.hint) == (points, 10.0, status, hint)


def test_what_does_not_apply_earns_full_points_and_what_was_not_measured_is_worth_none():
    unused = not_applicable("dropout", "Dropout", 5.0, "no dropout to check")
    assert (unused.points, unused.max_points, unused.status) == (5.0, 5.0, "n/a")
    skipped = not_measured("gap", "Gap", "not measured in quick mode")
    assert (skipped.points, skipped.max_points, skipped.status) == (0.0, 0.0, "skipped")


def test_a_model_that_did_not_train_fails_the_check_with_its_own_failure_and_hint():
    where = SourceLocation("submission.py", 12, "return nn.Linear(4)")
    crashed = failed_model("iris/single", Failure("build_error", "build_model raised TypeError", "fix line 12", where))
    check = not_trained("accuracy", "Accuracy", 10.0, crashed)
    assert (check.points, check.status, check.hint) == (0.0, "fail", "fix line 12")
    assert check.message == f"not trained: build_model raised TypeError ({where})"
    assert not_trained("accuracy", "Accuracy", 10.0, model("iris/single")).message == "iris/single was not graded"
