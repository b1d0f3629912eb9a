"""The files the grader and its worker exchange, named once for both sides: no test labels among the data
the worker may read, and one report and one predictions file per model, inside the output folder."""

from __future__ import annotations

from grader.worker_files import ABLATION_SUFFIX, DATA_ARRAYS, WHAT_IF_SUFFIX, result_names


def test_the_worker_is_given_no_test_labels():
    assert "y_test" not in DATA_ARRAYS
    assert {"x_train", "y_train", "x_val", "y_val", "x_test"} == set(DATA_ARRAYS)


def test_each_run_of_each_model_has_its_own_report_and_predictions_in_the_output_folder():
    keys = [
        f"{p}/{v}{suffix}"
        for p in ("iris", "mnist")
        for v in ("single", "multi")
        for suffix in ("", ABLATION_SUFFIX, WHAT_IF_SUFFIX)
    ]
    names = [result_names(key) for key in keys]
    assert len(set(names)) == len(keys)
    assert all("/" not in name for pair in names for name in pair)  # no subfolder: one flat folder to read back
    assert result_names("mnist/multi+ablation") == ("mnist-multi+ablation.json", "mnist-multi+ablation.npz")
