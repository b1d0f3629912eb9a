"""How the models a free-form run built are classified and chosen: the stated rules, on plain records."""

from __future__ import annotations

from grader.records import SourceLocation
from grader.worker.found_models import Classified, Made, Place, choose, classify


def made(name: str, cell: int, trained: int = 0, code: str = "model = build()", marks: tuple[str, ...] = ()) -> Made:
    location = SourceLocation("lab.ipynb", 1, code, cell=cell)
    place = Place(inner=location, outer=location, marks=[code, *marks])
    return Made(object(), "torch", place, lambda: None, name, trained_order=trained)


def probed(inputs: list[int], classes: int, dense: int):
    return lambda _: (inputs, classes, dense)


def item(model: Made, inputs: list[int] = [4], classes: int = 3, dense: int = 2) -> Classified:  # noqa: B006
    return Classified(model, classify(model, probed(inputs, classes, dense)))


def test_a_model_is_classified_by_what_it_takes_and_gives_and_its_dense_layers():
    single = item(made("a", 1), [4], 3, 1).found
    assert (single.problem, single.variant) == ("iris", "single")
    for shape in ([784], [28, 28], [1, 28, 28]):
        found = item(made("m", 1), shape, 10, 3).found
        assert (found.problem, found.variant) == ("mnist", "multi")
    neither = item(made("x", 1), [4], 10, 2).found  # Iris features, ten classes: neither problem
    assert neither.problem is None and neither.variant is None


def test_a_model_that_cannot_run_fits_no_problem():
    def broken(_: Made) -> tuple[list[int], int, int]:
        raise RuntimeError("CUDA error")

    found = classify(made("gpu", 1), broken)
    assert found.problem is None and found.inputs == [] and found.classes is None


def test_the_last_model_trained_is_chosen_over_later_untrained_ones():
    first, second, untrained = made("first", 3, trained=1), made("second", 5, trained=2), made("later", 7)
    chosen = choose([item(first), item(second), item(untrained)], {})
    assert chosen["iris/multi"].made is second
    assert chosen["iris/multi"].found.why == "the last one trained"


def test_without_training_the_last_model_built_is_chosen():
    chosen = choose([item(made("a", 2)), item(made("b", 4))], {})
    assert chosen["iris/multi"].made.name == "b"
    assert chosen["iris/multi"].found.why == "the last one built (none was trained)"


def test_a_grader_comment_on_a_building_or_training_line_picks_a_model():
    marked = made("small", 3, trained=1, code="net = Net(8)  # grader: iris multi")
    later = made("big", 5, trained=2)
    assert choose([item(marked), item(later)], {})["iris/multi"].made is marked
    trained_here = made("trained", 3, trained=1, marks=("train(net)  # Grader: Iris/Multi",))
    assert choose([item(trained_here), item(made("big", 5, trained=2))], {})["iris/multi"].made is trained_here


def test_a_grader_cell_tag_picks_the_model_built_in_that_cell():
    tagged, later = made("tagged", 6, trained=1), made("later", 8, trained=2)
    chosen = choose([item(tagged, [784], 10, 2), item(later, [784], 10, 2)], {6: "grader: mnist multi"})
    assert chosen["mnist/multi"].made is tagged and chosen["mnist/multi"].found.why.startswith("picked")


def test_one_model_per_problem_and_variant_and_none_for_what_was_not_built():
    models = [item(made("s", 1), [4], 3, 1), item(made("m", 2), [4], 3, 2), item(made("d", 3), [784], 10, 1)]
    chosen = choose(models, {})
    assert sorted(chosen) == ["iris/multi", "iris/single", "mnist/single"]
    assert [m.found.chosen_for for m in models] == ["iris/single", "iris/multi", "mnist/single"]
