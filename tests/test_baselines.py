"""Reference baselines: aggregated over seeds, stored as JSON, looked up per mode and framework."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader.baselines import REPOSITORY_BASELINES, Baselines, ReferenceStats, Stat, load_baselines
from grader.errors import BaselineError
from grader.records import Accuracy, Failure, ModelMeasurement, TrainingPlan, TrainingRun


def run(test: float, epochs: int = 10) -> ModelMeasurement:
    plan = TrainingPlan(epochs, 64, "adam", 1e-3, 0.0, None, 300.0)
    return ModelMeasurement(
        "mnist",
        "multi",
        None,
        TrainingRun("cpu", plan, [], epochs, "completed", 3.0),
        None,
        Accuracy(test + 0.02, test + 0.01, test),
    )


def test_stats_are_the_mean_and_sample_spread_over_seeds():
    stats = ReferenceStats.of([run(0.97), run(0.98), run(0.99, epochs=7)])
    assert stats.test_accuracy.mean == pytest.approx(0.98)
    assert stats.test_accuracy.std == pytest.approx(0.01)
    assert stats.gap.mean == pytest.approx(0.01)
    assert stats.epochs.values == [10, 10, 7]


def test_a_failed_reference_run_is_refused():
    broken = ModelMeasurement("mnist", "multi", failure=Failure("crash", "boom"))
    with pytest.raises(BaselineError, match="a reference model failed to train: boom"):
        ReferenceStats.of([run(0.97), broken])


def test_a_reference_run_that_measured_nothing_is_refused_by_name():
    unmeasured = ModelMeasurement("mnist", "multi")  # no failure, and no accuracy either
    with pytest.raises(BaselineError, match="a reference model failed to train: mnist/multi was not measured"):
        ReferenceStats.of([run(0.97), unmeasured])


def test_the_reference_prefers_the_students_framework_then_falls_back():
    stats = ReferenceStats.of([run(0.97)])
    other = ReferenceStats.of([run(0.95)])
    baselines = Baselines(
        1, "t", "", [0], {"full": {"torch": {"mnist/multi": stats}, "keras": {"iris/multi": other}}}, {}
    )
    assert baselines.reference("full", "torch", "mnist/multi") == (stats, "torch")
    assert baselines.reference("full", "keras", "mnist/multi") == (stats, "torch")
    assert baselines.reference("quick", "torch", "mnist/multi") is None


def test_baselines_round_trip_through_their_file(tmp_path):
    baselines = Baselines(
        1,
        "t",
        "now",
        [0, 1],
        {"full": {"torch": {"mnist/multi": ReferenceStats.of([run(0.9)])}}},
        {"full": {"mnist": "abc"}},
    )
    path = tmp_path / "b.json"
    baselines.save(path)
    assert load_baselines(path) == baselines


def test_a_broken_baselines_file_says_how_to_regenerate_it(tmp_path):
    path = tmp_path / "b.json"
    path.write_text("{not json")
    with pytest.raises(BaselineError) as raised:
        load_baselines(path)
    assert raised.value.hint == "regenerate it with: grade baselines"
    path.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(BaselineError, match="not a valid baselines file"):
        load_baselines(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[]", "it holds an array instead of an object of baselines"),
        (b"null", "it holds null instead of an object of baselines"),
        (b'"baselines"', "it holds a string instead of an object of baselines"),
        (b"\xe9t\xe9", "byte 0 is not UTF-8 text"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_baselines_file_of_another_shape_is_refused_in_one_line(tmp_path, content, problem):
    path = tmp_path / "b.json"
    path.write_bytes(content)
    with pytest.raises(BaselineError) as raised:
        load_baselines(path)
    assert raised.value.message == f"{path}: not a valid baselines file ({problem})"
    assert raised.value.hint == "regenerate it with: grade baselines"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"modes": []}, '"modes" holds an array of the wrong shape'),
        ({"modes": {"full": {"torch": {"iris/multi": 0.9}}}}, '"modes" holds an object of the wrong shape'),
        ({"seeds": "0,1,2"}, '"seeds" holds a string of the wrong shape'),
        ({"schema_version": None}, '"schema_version" holds null of the wrong shape'),
    ],
)
def test_a_field_of_the_wrong_shape_is_named(tmp_path, change, problem):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({**json.loads(REPOSITORY_BASELINES.read_text()), **change}))
    with pytest.raises(BaselineError) as raised:
        load_baselines(path)
    assert raised.value.message == f"{path}: not a valid baselines file ({problem})"


def test_nan_in_a_baseline_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(REPOSITORY_BASELINES.read_text().replace('"mean": ', '"mean": NaN, "was": ', 1))
    with pytest.raises(BaselineError, match=r"not a valid baselines file \(NaN is not a number a baseline can be\)"):
        load_baselines(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=15,
)
FIELDS = ["schema_version", "grader_version", "created", "seeds", "modes", "data", "solutions"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=JSON | st.dictionaries(st.sampled_from(FIELDS), JSON))
@example(data={"\n": None})  # a key with a line break, named in the error
def test_any_json_gives_baselines_or_a_clean_error(tmp_path, data):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data))
    try:
        load_baselines(path)
    except BaselineError as error:
        assert error.message.startswith(f"{path}: ") and "\n" not in error.message


def test_the_committed_baselines_cover_every_model_in_both_modes_and_frameworks():
    baselines = load_baselines(REPOSITORY_BASELINES)
    for mode in ("full", "quick"):
        for framework in ("torch", "keras"):
            assert set(baselines.modes[mode][framework]) == {"iris/single", "iris/multi", "mnist/single", "mnist/multi"}
    assert len(baselines.seeds) >= 3
    full = baselines.modes["full"]["torch"]
    assert 0.90 <= full["mnist/single"].test_accuracy.mean <= 0.94  # softmax regression
    assert 0.97 <= full["mnist/multi"].test_accuracy.mean <= 0.99  # one hidden layer
    assert 0.90 <= full["iris/multi"].test_accuracy.mean <= 1.0


def test_stat_of_one_value_has_no_spread():
    assert Stat.of([0.5]) == Stat(0.5, 0.0, [0.5])
