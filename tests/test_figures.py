"""An accuracy and a difference between two accuracies are written one way, by the scorer and on every page."""

from grader.figures import percent, pp


def test_an_accuracy_is_a_percentage_to_one_decimal():
    assert percent(0.9731) == "97.3%"
    assert percent(1.0) == "100.0%"


def test_a_difference_of_accuracies_is_in_percentage_points_never_in_points():
    assert pp(0.029) == "2.9 pp"
    assert pp(-0.1) == "-10.0 pp"
    assert pp(0.029, unit=False) == "2.9"  # in a column whose header names the unit
