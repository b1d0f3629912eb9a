"""One adapter per framework behind one small interface, chosen by the type of the model returned; which
module holds a framework's adapter, and where its model classes live, is its entry in ``grader.frameworks``.

Frameworks are imported only when a student's code has imported them (or returned one of their
models), so a PyTorch submission never pays for TensorFlow, and a machine without TensorFlow can
still grade PyTorch.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from grader.errors import GraderError
from grader.frameworks import FRAMEWORKS
from grader.records import EarlyStoppingSpec, EpochRecord, Fixes, LayerInfo, ModelOutput, StopReason, TrainingPlan

EVAL_BATCH = 4096


class ModelError(GraderError):
    """The model cannot be trained as returned (wrong type, wrong input or output size, diverged)."""

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.kind = kind


@dataclass
class TrainingData:
    """What a training loop sees, and what a student's own ``train(model, data, hparams)`` is given.

    There are no test labels here, and no test inputs either: the student's loop sees only what it
    may learn from.
    """

    problem: str
    n_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    device: str = "cpu"
    seed: int = 0

    def reshaped(self, sample_shape: Sequence[int]) -> TrainingData:
        """The same data with each sample in ``sample_shape`` (e.g. MNIST as 784-vectors)."""
        shape = (-1, *sample_shape)
        return TrainingData(
            self.problem,
            self.n_classes,
            self.x_train.reshape(shape),
            self.y_train,
            self.x_val.reshape(shape),
            self.y_val,
            self.device,
            self.seed,
        )


@dataclass
class FitResult:
    history: list[EpochRecord]
    stop_reason: StopReason  # "completed", "early_stopping" or "time_budget"
    best_epoch: int | None = None
    warnings: list[str] = field(default_factory=list)
    plan: TrainingPlan | None = None  # the plan as trained, where the framework changed it (a compiled model)


EpochCallback = Callable[[EpochRecord], None]


# What a what-if sets an extreme value to: the usual starting points a student is advised to try.
FIXED_DROPOUT = 0.2
FIXED_DECAY = 1e-4

Changes = dict[str, list[str]]  # fix name -> what it changed, in words ("Dropout(0.9) -> rate 0.2")


@dataclass
class LoopWatch:
    """What the grader saw while a student's own ``train()`` ran, and what a what-if changed in it."""

    evaluated_in_training_mode: int | None = None
    trained_in_eval_mode: int | None = None
    optimizer_weight_decay: float | None = None
    changed: Changes = field(default_factory=dict)


class BudgetReached(BaseException):
    """Raised inside a student's own training loop once its time budget has passed. A BaseException, so
    that the student's ``except Exception`` around a batch does not swallow it."""


PROGRESS_SECONDS = 1.0  # progress events go to the parent at most this often


class LoopClock:
    """The time budget of a student's own ``train()``, kept from inside the loop: the watch counts the
    samples passed through the model in training passes, reports them, and stops the loop at the budget.

    A loop is stopped here only once it has made progress, so it is graded as trained so far; one that
    never trains is left to the parent's deadline, which says so. The count lives in the student's
    process and can be forged: it decides wording and, in the parent, a bounded extension, never points.
    """

    def __init__(self, seconds: float, on_progress: Callable[[int], None]) -> None:
        self.deadline = Deadline(seconds)
        self.on_progress = on_progress
        self.samples = 0
        self.stopped = False
        self._next_report = time.monotonic() + PROGRESS_SECONDS

    def check(self) -> None:
        """Raise ``BudgetReached`` when the budget has passed and the loop has trained on something."""
        if self.samples and self.deadline.passed():
            self.stopped = True
            raise BudgetReached

    def trained(self, samples: int) -> None:
        self.samples += samples
        now = time.monotonic()
        if now >= self._next_report:
            self._next_report = now + PROGRESS_SECONDS
            self.on_progress(self.samples)


class Adapter(Protocol):
    """What the grader needs from a framework; each verb does one thing, like an estimator's."""

    framework: str

    def seed(self, seed: int) -> None: ...

    def select_device(self, requested: str) -> str: ...

    def prepare(self, model: Any, device: str) -> Any:
        """Put the model where it trains; returns the model to use from here on."""

    def forward_probe(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Outputs for a few samples in inference mode, raising what the model raises."""

    def fit(
        self,
        model: Any,
        data: TrainingData,
        plan: TrainingPlan,
        *,
        output: ModelOutput,
        callbacks: Sequence[Any],
        on_epoch: EpochCallback,
    ) -> FitResult: ...

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Class indices, computed in inference mode (dropout off, batch norm frozen)."""

    def describe(self, model: Any, sample: np.ndarray) -> tuple[int, list[LayerInfo]]:
        """Parameter count and the layers in the order a forward pass over ``sample`` meets them."""

    def callback_early_stopping(self, callbacks: Sequence[Any]) -> EarlyStoppingSpec | None: ...

    def loss_expects(self, model: Any) -> ModelOutput | None:
        """For a model compiled by the student: what its loss expects the model to output."""

    def disable_regularization(self, model: Any, callbacks: Sequence[Any]) -> tuple[list[str], list[Any]]:
        """Switch off dropout and kernel regularizers in the model and early stopping in the callbacks,
        for an ablation run; returns what was switched off and the callbacks left."""

    def apply_fixes(
        self, model: Any, fixes: Fixes, sample: np.ndarray, output: ModelOutput, loss_expects: ModelOutput | None
    ) -> Changes:
        """Undo in the built model (and a compiled optimizer) the mistakes of ``fixes`` it shows, for a
        what-if run: a final softmax before a loss that takes logits (found by a forward pass over ``sample``;
        ``output`` is what the model outputs,
        ``loss_expects`` what its loss takes), dropout rates, kernel regularizers and a compiled optimizer's
        weight decay past their limits. Returns what changed per fix; nothing when none applies."""

    def watch_training_loop(
        self, model: Any, ablation: bool, clock: LoopClock, fixes: Fixes | None = None
    ) -> contextlib.AbstractContextManager[LoopWatch]:
        """Observe a student's own training loop (and, for an ablation, zero its optimizers' weight decay),
        counting its training samples on ``clock``, which stops it at the budget. With ``fixes`` (a what-if),
        undo the loop's own mistakes among them as it runs, recording them in the watch's ``changed``."""


def framework_of(model: Any) -> str | None:
    """The registered framework of the model's class hierarchy, without importing any: that of the most derived
    class that comes from one. A Keras 3 model on the torch backend is also a ``torch.nn.Module``, further up
    its hierarchy, and it must be trained as the Keras model it is."""
    for cls in type(model).__mro__:
        module = cls.__module__
        for framework in FRAMEWORKS.values():
            if module == framework.model_module or module.startswith(framework.model_module + "."):
                return framework.name
    return None


def adapter_for(model: Any) -> Adapter:
    framework = framework_of(model)
    if framework is None:
        described = type(model).__name__ if model is not None else "None"
        words = [entry.terms for entry in FRAMEWORKS.values()]
        raise ModelError(
            "not_a_model",
            f"returned {described}, not a model",
            f"return an untrained {' or '.join(w.model for w in words)} (for example "
            f"{' or '.join(w.model_example for w in words)}), not a list, a layer class or a trained result",
        )
    adapter: Adapter = importlib.import_module(FRAMEWORKS[framework].adapter).ADAPTER
    return adapter


def loaded_adapters() -> list[Adapter]:
    """Adapters of the frameworks the student's code has already imported (their model modules' packages)."""
    return [
        importlib.import_module(framework.adapter).ADAPTER
        for framework in FRAMEWORKS.values()
        if framework.model_module.split(".")[0] in sys.modules
    ]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and every framework the submission imported, before a model is built."""
    random.seed(seed)
    np.random.seed(seed)
    for adapter in loaded_adapters():
        adapter.seed(seed)


@contextlib.contextmanager
def replaced(owner: type, name: str, replacement: Any) -> Iterator[None]:
    """``owner.name`` is ``replacement`` inside the block (a framework's class, watched while a student's loop
    runs); after it, what it was: its own attribute put back, or the inherited one showing through again."""
    own = owner.__dict__.get(name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        if own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own)


def output_kind(outputs: np.ndarray) -> ModelOutput:
    """Whether a model ends in logits, a softmax or a log-softmax, read off its outputs."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return "probabilities"
    if np.all(outputs <= 0) and np.allclose(np.exp(outputs).sum(axis=1), 1.0, atol=1e-3):
        return "log_probabilities"
    return "logits"


def probe_input_shape(adapter: Adapter, model: Any, x: np.ndarray, n_classes: int) -> tuple[list[int], ModelOutput]:
    """Find the per-sample input shape the model accepts and what its outputs are.

    MNIST is offered as 28x28 images first and as 784-vectors second, so both ``Flatten()`` and
    ``Linear(784, ...)`` first layers work without the student reshaping anything.
    """
    candidates = [list(x.shape[1:])]
    if x.ndim > 2:
        candidates.append([math.prod(x.shape[1:])])
    sample = x[:4]
    problems = []
    for shape in candidates:
        try:
            outputs = np.asarray(adapter.forward_probe(model, sample.reshape(-1, *shape)))
        except Exception as error:  # the student's forward() may raise anything
            said = f"{type(error).__name__}: {_first_line(error)}"
            problems.append(said if len(candidates) == 1 else f"as {tuple(['N', *shape])}, {said}")
            continue
        if outputs.ndim != 2 or outputs.shape[1] != n_classes:
            raise ModelError(
                "bad_output",
                f"the model outputs shape {tuple(outputs.shape)} for {len(sample)} samples; "
                f"it must output ({len(sample)}, {n_classes}): one score per class",
                f"make the last layer have {n_classes} units",
            )
        if not np.all(np.isfinite(outputs)):
            raise ModelError(
                "bad_output",
                "the untrained model already outputs NaN or infinity",
                "check the layers' initialisation and any custom forward()",
            )
        return shape, output_kind(outputs)
    offered = " or ".join(str(tuple(["N", *shape])) for shape in candidates)
    raise ModelError(
        "bad_input",
        f"the model does not accept inputs of shape {offered}: " + "; ".join(problems),
        f"make the first layer take {candidates[-1][0]} features"
        + (" (or start with a Flatten layer)" if len(candidates) > 1 else ""),
    )


AFFINE_TOLERANCE = 1e-4


def is_affine(adapter: Adapter, model: Any, x: np.ndarray, output: str) -> bool:
    """Whether the model's scores are an affine function of its inputs, measured on pairs of inputs:
    an affine map sends the midpoint of two inputs to the midpoint of their scores.

    Scores are logits centred per sample (log-probabilities for a softmax output), which are affine
    whenever the layers before the softmax are. Untrained models are probed, before a softmax can
    saturate; a working non-linearity moves the midpoint far more than float rounding does.
    """
    half = len(x) // 2
    first, second = x[:half], x[half : 2 * half]
    scores = [
        _centred_scores(adapter.forward_probe(model, batch), output) for batch in (first, second, (first + second) / 2)
    ]
    expected = (scores[0] + scores[1]) / 2
    scale = np.mean(np.abs(scores[0] - scores[1])) + 1e-12
    return float(np.max(np.abs(scores[2] - expected)) / scale) < AFFINE_TOLERANCE


def _centred_scores(outputs: np.ndarray, output: str) -> np.ndarray:
    scores = np.asarray(outputs, dtype=np.float64)
    if output == "probabilities":
        scores = np.log(np.clip(scores, 1e-30, None))
    centred: np.ndarray = scores - scores.mean(axis=1, keepdims=True)
    return centred


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


class EarlyStopper:
    """Early stopping with Keras' semantics, for training loops the grader writes itself."""

    def __init__(self, spec: EarlyStoppingSpec) -> None:
        self.spec = spec
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.waited = 0
        self.sign = 1.0 if spec.monitor.endswith("loss") else -1.0  # minimise losses, maximise accuracies

    def update(self, record: EpochRecord) -> tuple[bool, bool]:
        """(improved, should_stop) after this epoch."""
        value = getattr(record, self.spec.monitor)
        if value is None or not math.isfinite(value):
            return False, False
        value *= self.sign
        if self.best is None or value < self.best - self.spec.min_delta:
            self.best, self.best_epoch, self.waited = value, record.epoch, 0
            return True, False
        self.waited += 1
        return False, self.waited >= self.spec.patience


class Deadline:
    """The rubric's wall-time budget for one model's training, checked between batches."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.end


def check_finite(record: EpochRecord) -> None:
    if record.loss is not None and not math.isfinite(record.loss):
        raise ModelError(
            "nan_loss",
            f"the training loss became {record.loss} in epoch {record.epoch}",
            "lower the learning rate, and check that the loss matches the model's output "
            "(logits vs softmax probabilities)",
        )
