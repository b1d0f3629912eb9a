"""The records: JSON in, the same record out, and anything else refused, which the worker boundary, the
cache and stored reports all rely on."""

from __future__ import annotations

import dataclasses
import json

import dacite
import pytest
from measurements_factory import ablated, all_at_reference, measurements

from grader.records import (
    Accuracy,
    CellRun,
    DataInfo,
    EpochRecord,
    Failure,
    FreeformRun,
    Measurements,
    PrivateTestSet,
    TrainingRun,
    from_dict,
    from_json,
    model_key,
    to_json,
)


def _with_data(measured: Measurements) -> Measurements:
    info = DataInfo("mnist", "IDX files", 50000, 10000, 10000, 10, [28, 28], False, "", "ab" * 8, {"a.gz": "cd"})
    return dataclasses.replace(
        measured, data={"mnist": dataclasses.replace(info, private_test=PrivateTestSet("t.npz", "ef"))}
    )


def test_measurements_round_trip_through_json_whole():
    models = all_at_reference(mnist_multi=ablated("mnist/multi", 0.99, 0.97, ("Dropout(0.5) -> rate 0",)))
    measured = _with_data(measurements(*models, failure=Failure("import_error", "boom", "fix it")))
    measured.freeform = FreeformRun(cells=[CellRun(3, "error", 0.5, "NameError: x")], seconds=1.5)
    assert from_json(Measurements, to_json(measured)) == measured


def test_a_whole_number_reads_back_as_the_float_it_was_written_as():
    record = from_dict(
        EpochRecord, {"epoch": 1, "loss": 3, "accuracy": 1, "val_loss": 2, "val_accuracy": 0, "seconds": 4}
    )
    assert record.loss == 3.0 and isinstance(record.loss, float)


@pytest.mark.parametrize(
    ("record", "data"),
    [
        pytest.param(Failure, {"kind": "x", "message": "m", "verdict": "pass"}, id="an unknown key"),
        pytest.param(Failure, {"message": "m"}, id="a missing key"),
        pytest.param(Accuracy, {"train": "0.9", "val": 0.9, "test": 0.9}, id="a number as text"),
        pytest.param(Accuracy, {"train": True, "val": 0.9, "test": 0.9}, id="a bool for a float"),
        pytest.param(
            Accuracy, {"train": 0.9, "val": 0.9, "test": 0.9, "untrained": False}, id="a bool for an optional float"
        ),
        pytest.param(CellRun, {"cell": 1, "status": "passed", "seconds": 0.1}, id="a status no cell has"),
        pytest.param(
            EpochRecord,
            {"epoch": 1, "loss": "nan", "accuracy": 1.0, "val_loss": 1.0, "val_accuracy": 1.0, "seconds": 1},
            id="text for an epoch's loss",
        ),
        pytest.param(
            EpochRecord,
            {"epoch": 1.5, "loss": 1.0, "accuracy": 1.0, "val_loss": 1.0, "val_accuracy": 1.0, "seconds": 1},
            id="a fraction of an epoch",
        ),
        pytest.param(
            EpochRecord,
            {"epoch": 1, "loss": 1.0, "accuracy": 1.0, "val_loss": 1.0, "val_accuracy": 1.0, "seconds": 1, "x": 0},
            id="an unknown key in an epoch",
        ),
    ],
)
def test_anything_but_the_record_is_refused(record, data):
    with pytest.raises(dacite.DaciteError):
        from_dict(record, data)


def test_a_forged_stop_reason_is_refused_with_the_run_it_is_in():
    run = json.loads(to_json(all_at_reference()[0].run))
    from_dict(TrainingRun, run)
    with pytest.raises(dacite.DaciteError):
        from_dict(TrainingRun, run | {"stop_reason": "graded full marks"})


def test_the_records_name_models_and_the_gap_as_the_report_does():
    measured = measurements(*all_at_reference())
    assert model_key("mnist", "multi") == "mnist/multi"
    assert measured.model("mnist/multi").key == "mnist/multi" and measured.model("mnist/none") is None
    assert Accuracy(0.9, 0.85, 0.8).gap == pytest.approx(0.05)
    assert measured.mode == "contract" and dataclasses.replace(measured, freeform=FreeformRun()).mode == "freeform"
