"""The measurements cache: an unchanged submission is re-scored, not retrained; anything that changes
what training measures retrains; only reproducible results are kept; the cache stays bounded and whole."""

from __future__ import annotations

import dataclasses
import os

import pytest
from conftest import SUBMISSIONS, write_submission
from measurements_factory import failed, measurements, model

from grader.cache import MeasurementCache, cache_key, code_digest, reproducible
from grader.pipeline import grade
from grader.records import CellRun, Failure, FreeformRun
from grader.rubric import load_rubric

OPTIONS = {"mode": "full", "problems": ["iris"], "seed": 0, "run_all": False}


def key(**changes) -> str:
    parts = {
        "code": "c",
        "rubric": load_rubric(),
        "options": OPTIONS,
        "data_fingerprints": {"iris": "f"},
        "grader_version": "1",
        "device_kind": "cpu",
    } | changes
    return cache_key(**parts)


def test_the_key_changes_with_everything_that_changes_what_training_measures():
    rubric = load_rubric()
    longer = dataclasses.replace(
        rubric, problems={**rubric.problems, "iris": dataclasses.replace(rubric.problems["iris"], max_epochs=7)}
    )
    changed = [
        key(code="other"),
        key(rubric=longer),
        key(rubric=dataclasses.replace(rubric, seed=rubric.seed + 1)),
        key(options={**OPTIONS, "mode": "quick"}),
        key(data_fingerprints={"iris": "g"}),
        key(grader_version="2"),
        key(device_kind="cuda"),
    ]
    assert len({key(), *changed}) == len(changed) + 1


def test_the_key_ignores_how_measurements_are_scored():
    rubric = load_rubric()
    rescored = dataclasses.replace(rubric, name="stricter", pass_mark=90.0)
    rescored = dataclasses.replace(rescored, accuracy=dataclasses.replace(rubric.accuracy, points=40.0))
    assert key(rubric=rescored) == key()


def test_the_key_follows_the_training_part_within_a_table_too():
    """[regularization] holds points (scoring) and the bounds a what-if fixes past (training)."""
    rubric = load_rubric()
    rule = rubric.regularization
    more_points = dataclasses.replace(rubric, regularization=dataclasses.replace(rule, used_points=9.0))
    tighter_bound = dataclasses.replace(rubric, regularization=dataclasses.replace(rule, dropout_rate=[0.05, 0.5]))
    assert key(rubric=more_points) == key() != key(rubric=tighter_bound)


def test_the_code_digest_ignores_a_comment_edited_in_place_but_not_code_or_moved_lines():
    code = b"import torch  # the framework\nN = 16\n"
    assert code_digest({"s.py": code}) == code_digest({"s.py": b"import torch  # PyTorch, of course\nN = 16\n"})
    assert code_digest({"s.py": code}) != code_digest({"s.py": code.replace(b"16", b"32")})
    assert code_digest({"s.py": code}) != code_digest({"s.py": b"# a new first line\n" + code})
    assert code_digest({"data.csv": b"1,2"}) != code_digest({"data.csv": b"1, 2"})


@pytest.mark.parametrize(
    ("measured", "kept"),
    [
        (measurements(model("iris/single")), True),
        (measurements(failed("iris/multi", Failure("build_error", "TypeError"))), True),
        (measurements(failed("iris/multi", Failure("timeout", "ran past its budget"))), False),
        (measurements(failed("iris/multi", Failure("crash", "SIGSEGV"))), False),
        (measurements(failure=Failure("memory", "used more than 4 GiB")), False),
    ],
)
def test_only_results_another_run_would_reproduce_are_kept(measured, kept):
    assert reproducible(measured) is kept


def test_a_run_stopped_by_the_clock_is_not_kept():
    measured = measurements(model("iris/single"))
    measured.models[0].run.stop_reason = "time_budget"
    assert not reproducible(measured)


@pytest.mark.parametrize(
    ("cell", "kept"),
    [
        (CellRun(3, "ok", 2.0, training_cut=True), True),  # cut softly: the rest of the cell ran as always
        (CellRun(3, "error", 0.1, "NameError: name 'x' is not defined"), True),  # the notebook's own failure
        (CellRun(3, "ok", 15.0, "the dry run stopped this cell's training after 15 s"), False),
        (CellRun(3, "timeout", 45.0, "the cell ran past 45 s and was interrupted"), False),
        (CellRun(3, "not run", 0.0), False),
        (CellRun(4, "skipped", 0.1, "NameError: name 'h' is not defined (an earlier cell...)"), False),
    ],
)
def test_a_free_form_run_is_kept_unless_its_clock_stopped_a_cell(cell, kept):
    measured = dataclasses.replace(measurements(model("iris/single")), freeform=FreeformRun(cells=[cell]))
    assert reproducible(measured) is kept


def test_an_entry_reads_back_as_written_and_leaves_no_temporary_file(tmp_path):
    cache = MeasurementCache(tmp_path)
    measured = measurements(model("iris/single"))
    cache.put("k", measured)
    assert cache.get("k") == measured
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.iris-single.model.json", "k.measurements.json"]
    assert cache.get("missing") is None


def test_a_model_that_finished_is_kept_on_its_own_when_another_ran_out_of_time(tmp_path):
    cache = MeasurementCache(tmp_path)
    timed_out = failed("iris/multi", Failure("timeout", "ran past its budget"))
    cache.put("k", measurements(model("iris/single"), timed_out))
    assert cache.get("k") is None
    assert list(cache.get_models("k", ["iris/single", "iris/multi"])) == ["iris/single"]
    assert cache.get_models("k", ["iris/single"])["iris/single"] == model("iris/single")


def test_a_damaged_entry_is_dropped_not_trusted(tmp_path):
    cache = MeasurementCache(tmp_path)
    (tmp_path / "k.measurements.json").write_text('{"grader_version": ')
    assert cache.get("k") is None
    assert not (tmp_path / "k.measurements.json").exists()


def test_past_its_bound_the_least_recently_used_entries_go(tmp_path):
    measured = measurements(model("iris/single"))
    cache = MeasurementCache(tmp_path / "c", max_bytes=10**9)
    cache.put("a", measured)
    one_entry = sum(path.stat().st_size for path in cache.directory.iterdir())
    cache = MeasurementCache(tmp_path / "c", max_bytes=int(2.5 * one_entry))
    cache.put("b", measured)
    for name, when in (("a", 1), ("b", 2)):
        for path in cache.directory.glob(f"{name}.*"):
            os.utime(path, (when, when))
    assert cache.get("a") is not None and cache.get_models("a", ["iris/single"])  # used now: the most recent
    cache.put("c", measured)
    assert sorted({p.name.split(".")[0] for p in cache.directory.iterdir()}) == ["a", "c"]


def test_an_unwritable_cache_does_not_stop_grading(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = MeasurementCache(blocked / "cache")
    cache.put("k", measurements(model("iris/single")))  # no exception: the grade goes on without the cache
    assert cache.get("k") is None and cache.get_models("k", ["iris/single"]) == {}
    assert blocked.read_text() == "not a folder"


def events_of(options, path, rubric, baselines):
    events = []
    report = grade(path, dataclasses.replace(options, on_event=events.append), rubric, baselines)
    return report, events


def test_grading_unchanged_code_again_rescores_the_stored_measurements_without_training(
    iris_only, fast_rubric, tmp_path
):
    pytest.importorskip("torch")
    path = write_submission(tmp_path, (SUBMISSIONS / "torch_small.py").read_text())
    first, trained = events_of(iris_only, path, fast_rubric, None)
    path.write_text(path.read_text() + "# tried a wider layer: no better\n")  # a comment added: the same code
    again, events = events_of(iris_only, path, fast_rubric, None)
    assert trained and not [e for e in events if e["event"] != "stage"]  # no worker started
    assert [e["status"] for e in events] == ["loading iris"]  # only what the grader itself did
    assert not first.measurements.reused and again.measurements.reused
    assert again.measurements.models == first.measurements.models
    retrained, events = events_of(dataclasses.replace(iris_only, cache=False), path, fast_rubric, None)
    assert events and not retrained.measurements.reused


def test_a_model_that_finished_is_not_retrained_when_another_must_be(iris_only, fast_rubric, tmp_path):
    pytest.importorskip("torch")
    path = write_submission(tmp_path, (SUBMISSIONS / "torch_small.py").read_text())
    first, _ = events_of(iris_only, path, fast_rubric, None)
    cache = MeasurementCache()
    for entry in [*cache.directory.glob("*.measurements.json"), *cache.directory.glob("*.iris-multi.model.json")]:
        entry.unlink()  # as if iris/multi had run out of time: only iris/single's entry is left
    again, events = events_of(iris_only, path, fast_rubric, None)
    trained = {event["task"] for event in events if event.get("event") == "phase" and event.get("task")}
    assert trained == {"iris/multi", "iris/multi+ablation"}  # its what-if: nothing to undo, not even built
    assert again.measurements.model("iris/single") == first.measurements.model("iris/single")
    assert again.measurements.model("iris/multi").accuracy == first.measurements.model("iris/multi").accuracy
