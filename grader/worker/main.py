"""The worker: a fresh child process that imports one submission and builds, trains and predicts with
each of its models. It runs untrusted code, so it holds nothing the student may not see, and it
hands back only plain data: JSON reports and NumPy predictions, one model at a time, so a
crash in one model loses nothing already done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from grader.adapters import (
    FIXED_DECAY,
    Adapter,
    BudgetReached,
    Changes,
    LoopClock,
    LoopWatch,
    ModelError,
    TrainingData,
    adapter_for,
    is_affine,
    output_kind,
    probe_input_shape,
    seed_everything,
)
from grader.errors import GraderError, UngradableError
from grader.frameworks import FRAMEWORKS
from grader.hparams import resolve_plan, top_level_warnings
from grader.lifeline import hold_lifeline
from grader.records import (
    EpochRecord,
    Failure,
    Fixes,
    ModelDescription,
    ModelOutput,
    ModelProbes,
    TrainingPlan,
    TrainingRun,
    from_json,
    model_key,
    to_json,
)
from grader.worker.contract import (
    StudentCode,
    describe,
    failure_from,
    import_submission,
    loss_in_source,
    memory_failure,
    out_of_memory,
)
from grader.worker.dry_run import nothing_found, run_dry
from grader.worker.job import Job, ModelReport, Task, WorkerEnvironment, skipped_retrain
from grader.worker_files import DATA_ARRAYS, ENVIRONMENT_RESULT, FREEFORM_RESULT, SUBMISSION_RESULT, result_names

PROBE_SAMPLES = 256  # inputs used to probe a model's structure and its inference
MODAL_LAYERS = ("dropout", "batchnorm")  # layers that act differently in training and in eval mode


class Events:
    """Progress for the parent, one JSON object per line on an inherited pipe."""

    def __init__(self, fd: int) -> None:
        self.stream = os.fdopen(fd, "w", buffering=1) if fd >= 0 else None

    def send(self, event: str, **fields: Any) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        except (OSError, ValueError):  # the student's code closed our pipe: progress is best-effort
            self.stream = None

    def phase(self, task: Task | None, phase: str) -> None:
        self.send("phase", task=task.key if task else None, phase=phase)


def main() -> int:
    """Read the job from standard input (then closed, before any student code runs), and do it."""
    job = from_json(Job, sys.stdin.read())
    _close_standard_input()
    hold_lifeline(job.lifeline_fd)
    limit_memory(job.memory_bytes)
    events = Events(job.events_fd)
    out_dir = Path(job.out_dir)
    events.phase(None, "import")
    try:
        student = _student_code(job, out_dir)
    except UngradableError as error:
        _write_atomically(out_dir / SUBMISSION_RESULT, to_json(error.failure))
        events.send("finished")
        return 0
    notes = [*student.notes, *top_level_warnings(student.hyperparams)]
    failed: set[str] = set()  # models whose own run failed: their ablations and what-ifs are not run
    seen: dict[str, ModelReport] = {}  # what each model's own run showed, for its what-if
    for task in job.tasks:
        main_key = model_key(task.problem, task.variant)
        if not task.main and main_key in failed:
            report, predictions = ModelReport(failure=skipped_retrain(task)), None
        elif task.what_if is not None and main_key in seen and not could_undo(seen[main_key], task.what_if):
            report, predictions = ModelReport(switched_off=[]), None  # nothing to undo: not even built again
        else:
            own = seen.get(main_key)
            report, predictions = ModelRun(task, student, job, events, notes, own.probes if own else None).run()
        if report.failure is not None and task.main:
            failed.add(main_key)
        if task.main and report.probes is not None:
            seen[main_key] = report
        write_result(out_dir, task.key, report, predictions)
        events.send("result", task=task.key)
    _write_atomically(out_dir / ENVIRONMENT_RESULT, to_json(environment()))
    events.send("finished")
    return 0


def _student_code(job: Job, out_dir: Path) -> StudentCode:
    """The contract: imported from a module written to it, or made by running a free-form submission."""
    if job.dry_run is None:
        return import_submission(Path(job.submission_dir), job.entry)
    os.chdir(job.submission_dir)  # where the notebook's own relative paths point
    sys.path.insert(0, job.submission_dir)
    student, run = run_dry(job.dry_run, Path(job.data_dir), job.entry)
    _write_atomically(out_dir / FREEFORM_RESULT, to_json(run))
    failure = nothing_found(run, job.entry)
    if failure is not None:
        raise UngradableError(failure)
    return student


def _close_standard_input() -> None:
    """The job came on standard input; the student's code gets an empty one, as under a notebook."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _peak_memory_mb() -> float:
    """The worker's own high-water mark. On Linux from /proc (VmHWM): getrusage's ru_maxrss is carried
    across exec, so it would report the grading process's peak if that were larger."""
    with contextlib.suppress(OSError, TypeError):
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def limit_memory(limit: int) -> None:
    """Past ``limit`` bytes of data, allocations fail (MemoryError) instead of the machine swapping."""
    if limit > 0 and hasattr(resource, "RLIMIT_DATA"):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


@dataclass
class Built:
    """A model as built and probed, with the data in the shape it takes."""

    adapter: Adapter
    model: Any
    device: str
    data: TrainingData
    x_test: np.ndarray
    output: ModelOutput


def could_undo(own: ModelReport, fixes: Fixes) -> bool:
    """Whether the model's own run showed a mistake among ``fixes``: a final softmax into a loss that takes
    logits, a dropout rate or a decay past its bound, passes in the wrong mode. False saves building the
    model again for nothing (most models: a sensible one is never retrained)."""
    description, probes = own.description, own.probes or ModelProbes()
    layers = description.layers if description else []
    plan = own.run.plan if own.run else None
    shown = {
        "final_softmax": description is not None
        and description.output == "probabilities"
        and probes.loss_expects == "logits",
        "dropout_rate": any(layer.kind == "dropout" and (layer.rate or 0.0) > fixes.dropout_rate for layer in layers),
        "weight_decay": (plan is not None and plan.weight_decay > fixes.weight_decay)
        or (probes.optimizer_weight_decay or 0.0) > fixes.weight_decay
        or any(value > fixes.kernel_regularizer for layer in layers for value in layer.regularizers.values()),
        "eval_mode": bool(probes.evaluated_in_training_mode or probes.trained_in_eval_mode),
    }
    return any(shown[name] for name in fixes.names if name in shown)


class ModelRun:
    """One model's way through the worker. ``stage`` says whose code is running, for error messages."""

    def __init__(
        self,
        task: Task,
        student: StudentCode,
        job: Job,
        events: Events,
        notes: list[str],
        seen: ModelProbes | None = None,
    ) -> None:
        self.task, self.student, self.job, self.events = task, student, job, events
        self.notes = notes  # about the submission as a whole: every run carries them, the scorer says them once
        self.seen = seen  # a what-if: what the model's own run in this worker showed (None: not known)
        self.changed: Changes = {}  # a what-if: what each fix changed
        self.report = ModelReport()
        self.untrained: dict[str, np.ndarray] = {}  # the freshly built model's predictions
        self.stage = "build"

    def run(self) -> tuple[ModelReport, dict[str, np.ndarray] | None]:
        """Build, train and predict; every failure becomes a Failure on the report."""
        try:
            predictions = self._build_train_predict()
        except UngradableError as error:
            self.report.failure = error.failure
        except ModelError as error:
            about_model = error.kind in ("not_a_model", "bad_output", "bad_input")
            message = f"{self._call('build')}: {error.message}" if about_model else error.message
            self.report.failure = Failure(error.kind, message, error.hint)
        except GraderError as error:  # hyperparameters
            self.report.failure = Failure("hyperparams", error.message, error.hint)
        except BaseException as error:  # the student's code raised (or called sys.exit) somewhere inside
            self.report.failure = self._student_failure(error)
        else:
            return self.report, predictions
        return self.report, None

    def _build_train_predict(self) -> dict[str, np.ndarray] | None:
        task = self.task
        plan, warnings = resolve_plan(
            self.student.hyperparams,
            task.problem,
            task.variant,
            defaults=task.defaults,
            max_epochs=task.max_epochs,
            max_seconds=task.max_seconds,
            quick=task.quick,
            source=self.student.hyperparams_source,
        )
        built = self._build()
        self.stage = "callbacks"
        callbacks = list(self.student.callbacks(task.problem, task.variant) or []) if self.student.callbacks else []
        plan.early_stopping = plan.early_stopping or built.adapter.callback_early_stopping(callbacks)
        plan.custom_loop = self.student.train is not None
        if task.ablation:
            switched, callbacks = built.adapter.disable_regularization(built.model, callbacks)
            plan = self._without_regularization(plan, switched)
            self.report.switched_off = switched
            if not switched and self.student.train is None:
                return None  # nothing to switch off: the ablation would retrain the same model
        if task.what_if is not None:
            plan = self._fix(built, plan, task.what_if)
            self._record_what_if()  # before training too: a what-if that fails or is stopped says what it changed
            if not self.changed and not self._loop_fixes(built, task.what_if).names:
                return None  # nothing to undo: the what-if would retrain the same model
        self._write_partial(built, plan, warnings)
        run = self._train(built, plan, callbacks)
        run.warnings[:0] = warnings
        run.notes = list(self.notes)
        if task.what_if is not None and not self._record_what_if():
            self.report.run = None
            return None  # a loop that showed none of the mistakes this time: nothing was changed
        predictions = self._predict(built)
        self.report.run = run
        return predictions

    def _fix(self, built: Built, plan: TrainingPlan, fixes: Fixes) -> TrainingPlan:
        """A what-if: undo the model's mistakes among ``fixes`` that the build shows, in the plan (its weight
        decay) and in the model (through the adapter); ``self.changed`` says what changed. A model compiled
        by the student trains with its own optimizer, whose weight decay is the adapter's to change."""
        probes = self.report.probes or ModelProbes()
        compiled = probes.loss_chosen_by == "compiled model"
        if fixes.wants("weight_decay") and plan.weight_decay > fixes.weight_decay and not compiled:
            self.changed["weight_decay"] = [f"weight decay {plan.weight_decay:g} -> {FIXED_DECAY:g}"]
            plan = dataclasses.replace(plan, weight_decay=FIXED_DECAY)
        sample = built.data.x_val[:PROBE_SAMPLES]
        for fix, changes in built.adapter.apply_fixes(
            built.model, fixes, sample, built.output, probes.loss_expects
        ).items():
            self.changed.setdefault(fix, []).extend(changes)
        if "final_softmax" in self.changed:  # the model outputs logits now: the grader's loop picks its loss by it
            built.output = output_kind(np.asarray(built.adapter.forward_probe(built.model, sample)))
        return plan

    def _loop_fixes(self, built: Built, fixes: Fixes) -> Fixes:
        """The fixes a student's own train() may need as it runs, for its watch: those the model's own run
        showed it needs (or both, where that run is not known in this worker). Eval mode matters only for a
        model whose layers act differently in training (dropout, batch normalisation)."""
        if self.student.train is None:
            return fixes.only([])
        seen = self.seen
        decay = seen is None or (seen.optimizer_weight_decay or 0.0) > fixes.weight_decay
        wrong_mode = seen is None or bool(seen.evaluated_in_training_mode or seen.trained_in_eval_mode)
        description = self.report.description
        modal = description is not None and any(layer.kind in MODAL_LAYERS for layer in description.layers)
        return fixes.only(
            [name for name, needed in (("weight_decay", decay), ("eval_mode", wrong_mode and modal)) if needed]
        )

    def _record_what_if(self) -> bool:
        """Put what the what-if changed on the report; False when it changed nothing."""
        self.report.switched_off = [change for changes in self.changed.values() for change in changes]
        self.report.what_if = "+".join(self.changed) or None
        return bool(self.report.switched_off)

    def _write_partial(self, built: Built, plan: TrainingPlan, warnings: list[str]) -> None:
        """What needs no finished training, on disk before training starts: a worker stopped from outside
        in the middle of training still leaves the model's description, probes, plan and warnings. The
        final report replaces it."""
        factor = self.task.machine_factor
        run = TrainingRun(built.device, plan, [], 0, "killed", 0.0, warnings=list(warnings), machine_factor=factor)
        run.notes = list(self.notes)
        partial = dataclasses.replace(self.report, run=run, partial=True)
        write_result(Path(self.job.out_dir), self.task.key, partial, None)

    def _build(self) -> Built:
        """The student's model, ready to train on the data in the shape it takes, and probed."""
        task, job = self.task, self.job
        self.events.phase(task, "build")
        seed_everything(job.seed)
        model = self.student.build_model(task.problem, task.variant)
        adapter = adapter_for(model)
        adapter.seed(job.seed)  # the framework may have been imported inside build_model
        device = adapter.select_device(job.device)
        model = adapter.prepare(model, device)
        data, x_test = load_data(Path(job.data_dir), task.problem, job.n_classes[task.problem], device, job.seed)
        shape, output = probe_input_shape(adapter, model, data.x_train, data.n_classes)
        data, x_test = data.reshaped(shape), x_test.reshape(-1, *shape)
        parameters, layers = adapter.describe(model, data.x_train[:PROBE_SAMPLES])
        self.report.description = ModelDescription(adapter.framework, parameters, layers, output, shape)
        probes = ModelProbes(affine=is_affine(adapter, model, data.x_val[:PROBE_SAMPLES], output))
        probes.loss_expects, probes.loss_chosen_by = self._loss(adapter, model, output)
        self.report.probes = probes
        if task.main:
            self.untrained = {
                "untrained": adapter.predict(model, data.x_val),
                "untrained_test": adapter.predict(model, x_test),
            }
        return Built(adapter, model, device, data, x_test, output)

    def _train(self, built: Built, plan: TrainingPlan, callbacks: list[Any]) -> TrainingRun:
        """Train with the grader's loop for the framework, or with the student's own ``train()``."""
        self.events.phase(self.task, "train")
        self.stage = "train"
        train = self.student.train
        if train is None:
            return self._fit(built, plan, callbacks)
        return self._own_loop(built, plan, train)

    def _fit(self, built: Built, plan: TrainingPlan, callbacks: list[Any]) -> TrainingRun:
        """The framework's loop, run by the adapter; a model compiled by the student may change the plan."""
        started, factor = time.perf_counter(), self.task.machine_factor
        fit = built.adapter.fit(
            built.model, built.data, plan, output=built.output, callbacks=callbacks, on_epoch=self._report_epoch(plan)
        )
        plan = fit.plan or plan
        seconds = time.perf_counter() - started
        if fit.stop_reason == "time_budget":
            fit.warnings.append(budget_warning(len(fit.history), plan.epochs, seconds, factor))
        return TrainingRun(
            built.device,
            plan,
            fit.history,
            len(fit.history),
            fit.stop_reason,
            seconds,
            fit.best_epoch,
            fit.warnings,
            factor,
        )

    def _own_loop(self, built: Built, plan: TrainingPlan, train: Callable[..., Any]) -> TrainingRun:
        """The student's own ``train()``, under the adapter's watch: it counts the samples trained on, stops the
        loop at the budget (with progress made, the model is graded as trained so far), and notes what the
        probes and an ablation or what-if need to know about the loop."""
        started, factor = time.perf_counter(), self.task.machine_factor
        samples_per_epoch = len(built.data.x_train)
        clock = LoopClock(plan.max_seconds, self._report_progress(samples_per_epoch))
        history: list[EpochRecord] = []
        fixes = self._loop_fixes(built, self.task.what_if) if self.task.what_if is not None else None
        watching = built.adapter.watch_training_loop(built.model, ablation=self.task.ablation, clock=clock, fixes=fixes)
        with watching as watch, contextlib.suppress(BudgetReached):
            hparams = _hparams_for_student(plan, built.device)
            history = history_from(train(built.model, built.data, hparams))
        for fix, changes in watch.changed.items():
            self.changed.setdefault(fix, []).extend(changes)
        seconds = time.perf_counter() - started
        if clock.stopped:  # even where train() caught the stop and returned
            epochs = clock.samples / samples_per_epoch
            run = TrainingRun(built.device, plan, history, int(epochs), "time_budget", seconds, machine_factor=factor)
            run.warnings.append(budget_warning(epochs, plan.epochs, seconds, factor))
        else:
            epochs_run = len(history) if history else plan.epochs
            run = TrainingRun(built.device, plan, history, epochs_run, "custom_loop", seconds, machine_factor=factor)
        self._note_loop(watch)
        return run

    def _note_loop(self, watch: LoopWatch) -> None:
        """What the watch saw of the loop, on the probes; for an ablation, the optimizer decay it switched off."""
        probes = self.report.probes or ModelProbes()
        probes.evaluated_in_training_mode = watch.evaluated_in_training_mode
        probes.trained_in_eval_mode = watch.trained_in_eval_mode
        probes.optimizer_weight_decay = watch.optimizer_weight_decay
        if self.task.ablation and watch.optimizer_weight_decay:
            self.report.switched_off = [
                *(self.report.switched_off or []),
                f"train()'s optimizer weight decay {watch.optimizer_weight_decay:g} -> 0",
            ]

    def _predict(self, built: Built) -> dict[str, np.ndarray]:
        """Class indices for every split, in inference mode; and whether inference is repeatable."""
        self.events.phase(self.task, "predict")
        self.stage = "predict"
        adapter, model = built.adapter, built.model
        sample = built.data.x_val[:PROBE_SAMPLES]
        if self.report.probes is not None:
            self.report.probes.inference_deterministic = bool(
                np.array_equal(adapter.forward_probe(model, sample), adapter.forward_probe(model, sample))
            )
        predictions = {
            "train": adapter.predict(model, built.data.x_train),
            "val": adapter.predict(model, built.data.x_val),
            "test": adapter.predict(model, built.x_test),
        }
        return predictions | self.untrained

    def _loss(self, adapter: Adapter, model: Any, output: ModelOutput) -> tuple[ModelOutput | None, str]:
        """What the training loss will expect the model to output, and who chose the loss."""
        compiled = adapter.loss_expects(model)
        if compiled is not None:
            return compiled, "compiled model"
        if self.student.train is not None:
            return loss_in_source(self.student.train), "train()"
        observed = self.student.observed_loss.get(model_key(self.task.problem, self.task.variant))
        if observed is not None:
            return observed, "the notebook's training loop"
        return output, "grader"

    @staticmethod
    def _without_regularization(plan: TrainingPlan, switched: list[str]) -> TrainingPlan:
        """The plan for an ablation: no weight decay, no early stopping. ``switched`` records what went."""
        if plan.weight_decay:
            switched.append(f"weight decay {plan.weight_decay:g} -> 0")
        if plan.early_stopping is not None:
            switched.append(f"early stopping on {plan.early_stopping.monitor} -> off")
        return dataclasses.replace(plan, weight_decay=0.0, early_stopping=None)

    def _report_epoch(self, plan: TrainingPlan) -> Callable[[EpochRecord], None]:
        def report(record: EpochRecord) -> None:
            self.events.send("epoch", task=self.task.key, epochs=plan.epochs, **dataclasses.asdict(record))

        return report

    def _report_progress(self, samples_per_epoch: int) -> Callable[[int], None]:
        def report(samples: int) -> None:
            epochs = round(samples / samples_per_epoch, 3)
            self.events.send("progress", task=self.task.key, samples=samples, epochs=epochs)

        return report

    def _call(self, stage: str) -> str:
        """What the student's code was doing, in the student's terms."""
        arguments = f"({self.task.problem!r}, {self.task.variant!r})"
        return {
            "build": f"build_model{arguments}",
            "callbacks": f"callbacks{arguments}",
            "train": "training",
            "predict": "prediction",
        }[stage]

    def _student_failure(self, error: BaseException) -> Failure:
        submission_dir, doing = Path(self.job.submission_dir), self._call(self.stage)
        if out_of_memory(error):
            return memory_failure(error, submission_dir, doing)
        if isinstance(error, SystemExit):
            return failure_from(
                error,
                submission_dir,
                "exit",
                f"sys.exit({error.code!r}) was called during {doing}",
                "return from your function instead of exiting",
            )
        if isinstance(error, NotImplementedError):
            return failure_from(
                error,
                submission_dir,
                "not_implemented",
                f"{doing} is not written yet" + (f": {str(error).strip()}" if str(error).strip() else ""),
                "replace the  raise NotImplementedError  line with your code",
            )
        hints = {
            "build": "run  build_model(...)  yourself in a notebook cell and fix the error",
            "callbacks": "callbacks() should return a list of Keras callbacks, e.g. [EarlyStopping(...)]",
            "train": "check the training loop: does the model's forward() accept a batch of inputs?",
            "predict": "the model must run on a batch of inputs in eval mode",
        }
        return failure_from(
            error, submission_dir, f"{self.stage}_error", f"{doing} raised {describe(error)}", hints[self.stage]
        )


def budget_warning(epochs: float, planned: int, seconds: float, factor: float) -> str:
    """What a student reads when the clock, not the epochs, ended training: how far it got and how long an
    epoch takes here, so the epochs or the model can be sized to the budget."""
    finished = int(epochs)
    per_epoch = f"; about {seconds / epochs:.1f} s an epoch on this machine" if epochs > 0 else ""
    load = f", the budget stretched x{factor:g} for this machine's speed" if factor > 1 else ""
    return (
        f"training stopped at the budget after {finished} of {planned} epochs ({seconds:.0f} s{load}{per_epoch}); "
        "the epochs that finished are graded: train for fewer epochs or a smaller model to finish them all"
    )


def load_data(data_dir: Path, problem: str, n_classes: int, device: str, seed: int) -> tuple[TrainingData, np.ndarray]:
    """The arrays the parent wrote, as float32 model inputs (MNIST pixels scaled to [0, 1])."""
    arrays = {
        name: np.load(data_dir / problem / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in DATA_ARRAYS
    }

    def features(x: np.ndarray) -> np.ndarray:
        """A private, writable float32 copy: frameworks may not wrap a read-only memory map."""
        return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else np.array(x, dtype=np.float32)

    data = TrainingData(
        problem,
        n_classes,
        features(arrays["x_train"]),
        np.array(arrays["y_train"], dtype=np.int64),
        features(arrays["x_val"]),
        np.array(arrays["y_val"], dtype=np.int64),
        device,
        seed,
    )
    return data, features(arrays["x_test"])


def _hparams_for_student(plan: Any, device: str) -> dict[str, Any]:
    """What a student's own train() gets: the resolved plan as a plain dict, plus the device."""
    hparams = dataclasses.asdict(plan)
    hparams["device"] = device
    return hparams


def history_from(returned: Any) -> list[EpochRecord]:
    """A student's train() may return a Keras-style history (dict of per-epoch lists) to be plotted."""
    logs = getattr(returned, "history", returned)
    if not isinstance(logs, dict) or not logs:
        return []
    columns = {name: list(logs.get(name) or []) for name in ("loss", "accuracy", "val_loss", "val_accuracy")}
    epochs = max(len(values) for values in columns.values())

    def value(name: str, epoch: int) -> float | None:
        values = columns[name]
        try:
            return float(values[epoch]) if epoch < len(values) else None
        except (TypeError, ValueError):
            return None

    return [
        EpochRecord(i + 1, value("loss", i), value("accuracy", i), value("val_loss", i), value("val_accuracy", i), 0.0)
        for i in range(epochs)
    ]


def write_result(out_dir: Path, key: str, report: ModelReport, predictions: dict[str, np.ndarray] | None) -> None:
    json_path, npz_path = (out_dir / name for name in result_names(key))
    if predictions is not None:
        temporary = npz_path.with_name(f".tmp-{npz_path.name}")
        arrays = {split: np.asarray(p, dtype=np.int64) for split, p in predictions.items()}
        np.savez(temporary, **arrays)  # type: ignore[arg-type]  # numpy's stub lets **arrays reach allow_pickle
        os.replace(temporary, npz_path)
    _write_atomically(json_path, to_json(report))


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".tmp-{path.name}")
    temporary.write_text(text)
    os.replace(temporary, path)


def environment() -> WorkerEnvironment:
    """Versions of the libraries the submission actually loaded, and the worker's peak memory."""
    libraries = {}
    for name in [*(library for entry in FRAMEWORKS.values() for library in entry.libraries), "numpy"]:
        if name in sys.modules:
            try:
                libraries[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                libraries[name] = str(getattr(sys.modules[name], "__version__", "unknown"))
    return WorkerEnvironment(platform.python_version(), platform.platform(), libraries, round(_peak_memory_mb(), 1))
