"""The measurements cache: an unchanged submission is re-scored, not retrained.

A student re-running ``grade`` after editing a comment in a notebook cell the grader does not keep, or
CI re-running a job, gets the same measurements in a fraction of a second. The key holds everything
that decides what training measures: the digest of the submission's code (``code_digest``), the digest of
the rubric's training part (``Rubric.training``: limits, epoch budgets, defaults, seed, ablation, what-ifs),
the grading options (mode, problems, seed, ``--run-all``), the data's fingerprints, the grader version and
the kind of device. Scoring is not in the key: a changed rubric's points re-score cached measurements.

Only results that another run would reproduce are stored: none with a timeout, a crash, a memory error,
an unreadable result, or training stopped by the time budget (those depend on the machine's load). Each
model is also stored on its own, so that when one model ran out of time the next run (the same grade
with ``--format html``, say) retrains only that one and reuses the models that finished.

Entries are the grader's own JSON (never student output, never pickles), written atomically (a temporary
file, then a rename), so concurrent graders never read half an entry. The directory is bounded in size
(``GRADER_CACHE_MAX_MB``, default 200); past it the least recently used entries go.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from grader.content_hash import digest
from grader.locations import cache_dir, write_atomically
from grader.records import FreeformRun, Measurements, ModelMeasurement, from_json, to_json
from grader.rubric import Rubric

MAX_MB_ENV = "GRADER_CACHE_MAX_MB"
DEFAULT_MAX_MB = 200.0
NOT_REPRODUCIBLE = {"timeout", "crash", "memory", "malformed_result", "import_error"}
SUFFIX = ".measurements.json"
MODEL_SUFFIX = ".model.json"


def code_digest(files: dict[str, bytes]) -> str:
    """The submission's code, blind to what cannot change a run: a Python file counts by its syntax tree
    with line and column numbers (so a comment edited in place keeps the digest, and a failure's line
    stays right), any other file by its bytes. Names count, a lone file's too: cached measurements name it
    (a failure's location), and a renamed file must not be reported under its old name."""
    return digest({name: _normalized(name, content) for name, content in files.items()}, named=True)


def cache_key(
    code: str,
    rubric: Rubric,
    options: dict[str, Any],
    data_fingerprints: dict[str, str],
    grader_version: str,
    device_kind: str,
) -> str:
    """The digest naming a cache entry."""
    key = {
        "code": code,
        "training": rubric.training.digest,
        "options": options,
        "data": data_fingerprints,
        "grader": grader_version,
        "device": device_kind,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _stopped_by_the_clock(run: FreeformRun) -> bool:
    """A free-form run with a cell interrupted, not run, its training stopped hard (status "ok" with the reason),
    or failing for what such a cell did not set: where the clock struck depends on the machine's speed."""
    return any(
        cell.status in ("timeout", "not run", "skipped") or (cell.status == "ok" and cell.error) for cell in run.cells
    )


def reproducible(measurements: Measurements) -> bool:
    """Would another run measure the same? Not after a timeout, a crash or a stop by the clock."""
    run = measurements.freeform
    if run is not None and _stopped_by_the_clock(run):
        return False
    failure = measurements.failure
    if failure is not None and failure.kind in NOT_REPRODUCIBLE:
        return False
    return all(model_reproducible(model) for model in measurements.models)


def model_reproducible(model: ModelMeasurement) -> bool:
    """One model, with its ablation and what-if runs: each ended by itself, not by the clock or a crash."""
    for run in (model, *([model.ablation] if model.ablation else []), *model.what_ifs):
        if run.failure is not None and run.failure.kind in NOT_REPRODUCIBLE:
            return False
        if run.run is not None and run.run.stop_reason in ("time_budget", "killed"):
            return False
    return True


class MeasurementCache:
    def __init__(self, directory: Path | None = None, max_bytes: int | None = None) -> None:
        self.directory = directory or cache_dir() / "measurements"
        if max_bytes is None:
            max_bytes = int(float(os.environ.get(MAX_MB_ENV, DEFAULT_MAX_MB)) * 2**20)
        self.max_bytes = max_bytes

    def get(self, key: str) -> Measurements | None:
        path = self._path(key)
        try:
            text = path.read_text()
        except OSError:
            return None
        try:
            measurements = from_json(Measurements, text)
        except Exception:  # an entry from another grader version's schema, or damaged: drop it
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return measurements

    def get_models(self, key: str, model_keys: list[str]) -> dict[str, ModelMeasurement]:
        """The models of an earlier run under the same key that finished by themselves."""
        found = {}
        for model_key in model_keys:
            path = self._model_path(key, model_key)
            try:
                found[model_key] = from_json(ModelMeasurement, path.read_text())
            except OSError:
                continue
            except Exception:  # another schema, or damaged: retrain that model
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            with contextlib.suppress(OSError):
                os.utime(path)
        return found

    def put(self, key: str, measurements: Measurements) -> None:
        """Store the entry (if it is reproducible) and each model that is, then evict the least recently used
        past the bound."""
        entries = [(self._model_path(key, m.key), to_json(m)) for m in measurements.models if model_reproducible(m)]
        if reproducible(measurements):
            entries.append((self._path(key), to_json(measurements)))
        written = [write_atomically(path, functools.partial(_write, text.encode())) for path, text in entries]
        if any(written):  # unwritable: grading goes on
            self._evict()

    def _evict(self) -> None:
        entries = []
        for path in [*self.directory.glob(f"*{SUFFIX}"), *self.directory.glob(f"*{MODEL_SUFFIX}")]:
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def _model_path(self, key: str, model_key: str) -> Path:
        return self.directory / f"{key}.{model_key.replace('/', '-')}{MODEL_SUFFIX}"


def _write(data: bytes, out: BinaryIO) -> None:
    out.write(data)


def _normalized(name: str, content: bytes) -> bytes:
    if not name.endswith(".py"):
        return content
    try:
        return ast.dump(ast.parse(content), include_attributes=True).encode()
    except (SyntaxError, ValueError):
        return content
