"""The files the grader and its worker exchange, named once for both sides.

The grader writes the data arrays before the worker starts; the worker writes its results into its output
folder, which the grader reads back as hostile input (``grader.boundary``) within the bounds below. Both
sides import this module, so it imports nothing: a name changed here changes on both sides at once.
"""

from __future__ import annotations

# The arrays of a problem the worker may read, one ``<name>.npy`` each in ``<data_dir>/<problem>/``:
# no y_test, the worker never sees the test labels.
DATA_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test")
SERVED_ROWS = "served_rows"  # Iris: which of load_iris()'s rows a free-form run is served

# A retrain of a model, compared with the model's own run, goes by the model's key and one of these.
ABLATION_SUFFIX = "+ablation"  # its regularization switched off
WHAT_IF_SUFFIX = "+what-if"  # its mistakes undone

SUBMISSION_RESULT = "submission.json"  # a failure of the whole submission (it did not import)
ENVIRONMENT_RESULT = "environment.json"  # library versions the worker ran with
FREEFORM_RESULT = "freeform.json"  # a free-form submission's dry run: cells, models found, what was seen

# What the grader reads back at most. A model's report holds its training history and layer list (a few
# kilobytes for any honest model); past these bounds a file is refused, never read whole.
MODEL_REPORT_MAX_BYTES = 1 << 20
SUBMISSION_REPORT_MAX_BYTES = 256 << 10
FREEFORM_REPORT_MAX_BYTES = 512 << 10  # a dry run's cells, models and findings
ENVIRONMENT_MAX_BYTES = 16 << 10


def result_names(key: str) -> tuple[str, str]:
    """The files in the output folder holding one model's report (JSON) and predictions (NumPy .npz)."""
    stem = key.replace("/", "-")
    return f"{stem}.json", f"{stem}.npz"
