"""Plain records of what grading observed.

The worker writes them as JSON, the parent reads them back with ``from_json`` (never pickle), adds
what only it can compute (accuracies against labels the worker never saw), and scoring reads them.
Every field is JSON-native so a report, a cache entry or a gradebook row is just ``asdict``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import dacite

T = TypeVar("T")

N_CLASSES: dict[str, int] = {"iris": 3, "mnist": 10}  # the problems and their classes, known without their data

MODEL_KEYS: tuple[tuple[str, str], ...] = (
    ("iris", "single"),
    ("iris", "multi"),
    ("mnist", "single"),
    ("mnist", "multi"),
)


Problem = Literal["iris", "mnist"]
Variant = Literal["single", "multi"]  # one hidden layer or several


def model_key(problem: str, variant: str) -> str:
    """The name a model goes by everywhere: ``"mnist/multi"``."""
    return f"{problem}/{variant}"


@dataclass
class SourceLocation:
    """Where in the student's code something happened, as the student knows the file: for a notebook,
    the cell (counted from the top, 1-based) and the line within it."""

    file: str
    line: int | None = None
    code: str = ""
    cell: int | None = None

    def __str__(self) -> str:
        where = self.file + (f", cell {self.cell}" if self.cell else "") + (f", line {self.line}" if self.line else "")
        return f"{where}: {self.code}" if self.code else where


@dataclass
class Failure:
    """Why a model (or the whole submission) could not be graded, and what to do about it."""

    kind: str
    message: str
    hint: str = ""
    location: SourceLocation | None = None
    traceback: str = ""


@dataclass
class Finding:
    """A classic mistake seen in a free-form submission: what, where, and what to change. ``kind`` is one of
    ``grader.mistakes.MISTAKES``; ``seen`` says whether it was read from the code or observed in the run."""

    kind: str
    message: str
    hint: str
    location: SourceLocation | None = None
    seen: Literal["code", "run"] = "code"


CellStatus = Literal["ok", "error", "timeout", "not run", "skipped"]


@dataclass
class CellRun:
    """One cell of a free-form notebook's dry run (Restart & Run All): how it ended."""

    cell: int | None  # as Jupyter counts, markdown cells too; None for a script, run whole
    # "timeout": interrupted; "not run": the dry run's time was up; "skipped": it failed only for a name an
    # earlier cell, cut short by the dry run, would have set (not the notebook's failure)
    status: CellStatus
    seconds: float
    error: str = ""  # "NameError: name 'x' is not defined"
    line: int | None = None  # where in the cell it raised
    code: str = ""  # that line
    training_cut: bool = False  # its training stopped at the dry run's budget (the grader retrains)


@dataclass
class FoundModel:
    """A model a free-form run created, as the grader found and classified it."""

    name: str  # how it was made: "Net(hidden=[64, 32])", "Sequential (4 layers)"
    framework: str  # a name grader.frameworks registers: "torch", "keras"
    location: SourceLocation | None
    inputs: list[int]  # per-sample input shape it accepted, [] when no probe fitted
    classes: int | None
    dense_layers: int
    trained: bool  # the run trained it (an optimizer step, fit)
    problem: Problem | None = None  # None when it fits neither
    variant: Variant | None = None
    chosen_for: str = ""  # the model key it is graded as, "" when not chosen
    why: str = ""  # why it was chosen, or why it could not be
    hyperparams: dict[str, Any] = field(default_factory=dict)  # read from the run: optimizer, learning_rate...


@dataclass
class FreeformRun:
    """What running a free-form submission showed: its cells, its models, what it asked for."""

    cells: list[CellRun] = field(default_factory=list)
    models: list[FoundModel] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # classic mistakes, from the code and the run
    unserved: list[str] = field(default_factory=list)  # data sets asked for that the grader cannot serve
    notes: list[str] = field(default_factory=list)  # what else a student should know about the run
    seconds: float = 0.0

    def failed_cells(self) -> list[CellRun]:
        return [cell for cell in self.cells if cell.status in ("error", "timeout")]


@dataclass
class EpochRecord:
    """One epoch, measured the way Keras reports it: train metrics averaged over the epoch's batches
    (in training mode), validation metrics evaluated at the epoch's end (in inference mode)."""

    epoch: int
    loss: float | None
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


LayerKind = Literal["dense", "activation", "dropout", "batchnorm", "layernorm", "flatten", "conv", "recurrent", "other"]
ModelOutput = Literal["logits", "probabilities", "log_probabilities"]  # what a model's last layer gives


@dataclass
class LayerInfo:
    """One layer, described the same way whichever framework built it."""

    kind: LayerKind
    name: str  # the framework's class name, e.g. "Linear" or "Dense"
    units: int | None = None
    activation: str | None = None
    rate: float | None = None
    regularizers: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelDescription:
    framework: str  # a name grader.frameworks registers: "torch", "keras"
    parameters: int
    layers: list[LayerInfo]
    output: ModelOutput
    input_shape: list[int]  # the per-sample shape the model was fed


@dataclass
class EarlyStoppingSpec:
    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True
    source: Literal["hyperparams", "callback"] = "hyperparams"


@dataclass
class TrainingPlan:
    """The hyperparameters training actually used, after defaults and the rubric's budget."""

    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    weight_decay: float
    early_stopping: EarlyStoppingSpec | None
    max_seconds: float
    custom_loop: bool = False
    compiled_by_student: bool = False
    chosen_by_student: list[str] = field(default_factory=list)  # keys HYPERPARAMS set; the rest are defaults


StopReason = Literal["completed", "early_stopping", "time_budget", "custom_loop", "killed"]


@dataclass
class TrainingRun:
    device: str
    plan: TrainingPlan
    history: list[EpochRecord]
    epochs_run: int
    # "killed": the worker was stopped from outside mid-training; the run holds the plan and its warnings,
    # and epochs_run what had finished
    stop_reason: StopReason
    seconds: float
    best_epoch: int | None = None
    warnings: list[str] = field(default_factory=list)
    # How much slower than the reference machine this one was: the rubric's seconds were stretched by it.
    machine_factor: float = 1.0
    # Warnings about the submission as a whole (a train() the grader could not use, an unknown HYPERPARAMS
    # key), carried by every run and said once, without any model's name.
    notes: list[str] = field(default_factory=list)


FIXES = ("final_softmax", "dropout_rate", "weight_decay", "eval_mode")  # what a what-if run may undo


@dataclass
class Fixes:
    """The mistakes a what-if run may undo, and the largest values that are not a mistake (the rubric's
    upper bounds): the grader changes only what is past them, so a sensible model is never retrained."""

    names: list[str]
    dropout_rate: float
    weight_decay: float
    kernel_regularizer: float

    def wants(self, fix: str) -> bool:
        return fix in self.names

    def only(self, names: Sequence[str]) -> Fixes:
        """The same limits for the fixes in ``names`` only."""
        return dataclasses.replace(self, names=[name for name in self.names if name in names])


@dataclass
class Accuracy:
    """Computed by the parent from the worker's predictions and labels the worker never saw."""

    train: float
    val: float
    test: float
    # Accuracy of the freshly built model before any training, the better of validation and test: far
    # above chance means the forward pass does not depend on what the model learned (a lookup table of
    # the public test set's answers, pretrained weights).
    untrained: float | None = None

    @property
    def gap(self) -> float:
        """Train minus validation accuracy: how much the model overfits."""
        return self.train - self.val


@dataclass
class ModelProbes:
    """What the grader measured about a model beyond its accuracy, to check how it was built and used."""

    # The untrained model's outputs are an affine function of its inputs: stacked linear layers with no
    # working non-linearity between them are one linear map.
    affine: bool | None = None
    # Two inference passes over the same inputs gave the same outputs (dropout is off at inference).
    inference_deterministic: bool | None = None
    # A student's own train(): forward passes without gradients (evaluation) while the model was left
    # in training mode, so dropout was on when it measured validation accuracy.
    evaluated_in_training_mode: int | None = None
    # A student's own train(): forward passes with gradients (training) while the model was in eval mode,
    # so dropout was never on while it learned.
    trained_in_eval_mode: int | None = None
    # A student's own train(): the largest weight decay of the optimizers it created.
    optimizer_weight_decay: float | None = None
    # What the training loss expects the model to output, and who chose that loss, in words ("grader",
    # "compiled model", "train()").
    loss_expects: ModelOutput | None = None
    loss_chosen_by: str = "grader"


@dataclass
class ModelMeasurement:
    """Everything measured about one of the four models."""

    problem: str
    variant: str
    description: ModelDescription | None = None
    run: TrainingRun | None = None
    failure: Failure | None = None
    accuracy: Accuracy | None = None
    probes: ModelProbes | None = None
    # Set on an ablation run only: what was switched off ([] when there was nothing to switch off).
    switched_off: list[str] | None = None
    # The same model retrained with its regularization switched off, where the rubric asks for it.
    ablation: ModelMeasurement | None = None
    # Set on a what-if run only: the fix it was retrained with ("final_softmax", "dropout_rate", ...), and
    # what that changed in `switched_off`.
    what_if: str | None = None
    # The same model retrained with one of its mistakes undone, one run per fix the rubric allows.
    what_ifs: list[ModelMeasurement] = field(default_factory=list)

    @property
    def key(self) -> str:
        return model_key(self.problem, self.variant)


@dataclass
class CapturedOutput:
    """What the student's code printed, bounded: the head and the tail are kept."""

    text: str = ""
    total_bytes: int = 0
    truncated: bool = False


@dataclass(frozen=True)
class PrivateTestSet:
    """What a report records about a private test set: where it came from, and what it holds."""

    source: str  # the .npz file, or the two IDX files
    sha256: str  # over the inputs and labels as read: gzipped or not, IDX or .npz, the same set has the same digest


@dataclass(frozen=True)
class DataInfo:
    """What a report records about the data a problem used."""

    problem: str
    source: str  # e.g. "scikit-learn 1.9.1 load_iris()" or "MNIST IDX files in /path/dir"
    n_train: int
    n_val: int
    n_test: int
    n_classes: int
    input_shape: list[int]  # per sample: [4] for iris, [28, 28] for mnist
    quick: bool
    subset: str  # "" for the full data; in quick mode one sentence saying what was kept
    fingerprint: str  # 16 hex chars over the data, the split seed, the split sizes and the mode
    files: dict[str, str]  # file name -> sha256 of the file as read ({} for iris)
    private_test: PrivateTestSet | None = None  # the instructor's own test set, in place of the public one


@dataclass
class SubmissionInfo:
    path: str
    entry: str
    files: list[str]
    content_hash: str  # grader.content_hash's: the same files give the same hash here and in a gradebook


Mode = Literal["full", "quick"]


@dataclass
class Settings:
    """How the submission was graded: the parts of a run that change its measurements."""

    mode: Mode
    seed: int
    device: str  # as requested: "auto", "cpu" or "cuda" (the command line's choices)
    problems: list[str]


@dataclass
class Environment:
    python: str = ""
    platform: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    # The tool that walled the worker off (grader.isolation.LEVELS), and what it walled off ("network",
    # "processes", "files", "grader files").
    isolation: str = "none"
    isolated: list[str] = field(default_factory=list)
    peak_memory_mb: float = 0.0  # the worker's largest resident set


@dataclass
class Measurements:
    """Everything a grading run observed: the input to scoring, and all a re-score needs."""

    grader_version: str
    submission: SubmissionInfo
    settings: Settings
    data: dict[str, DataInfo]
    models: list[ModelMeasurement]
    failure: Failure | None
    environment: Environment
    log: CapturedOutput
    seconds: float
    reused: bool = False  # taken from the measurements cache: the same files, training rubric and data
    # Graded free-form (no build_model): what running it showed, with the mistakes its code shows.
    freeform: FreeformRun | None = None

    @property
    def mode(self) -> Literal["contract", "freeform"]:
        """How the submission was read: "contract" (build_model) or "freeform" (run, and its models found)."""
        return "contract" if self.freeform is None else "freeform"

    def model(self, key: str) -> ModelMeasurement | None:
        return next((m for m in self.models if m.key == key), None)


def to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), indent=1, sort_keys=True, allow_nan=True)


def _int_to_float(value: Any) -> Any:
    """JSON and TOML write 3.0 as 3; accept that, and nothing else, where a float is expected (a bool is an
    int to Python, and to dacite a float, but not a number any record holds)."""
    if isinstance(value, bool):
        raise dacite.WrongTypeError(float, value)
    return float(value) if isinstance(value, int) else value


def _epoch_record(value: Any) -> Any:
    """Per-epoch records are most of a report: built directly, five times faster than field by field,
    with the same refusal of unknown or missing keys and of wrong types."""
    if not isinstance(value, dict):
        return value  # dacite reports the wrong type
    try:
        record = EpochRecord(**{key: _int_to_float(item) if key != "epoch" else item for key, item in value.items()})
    except TypeError as error:
        raise dacite.DaciteError(f"an epoch record: {error}") from None
    metrics = (record.loss, record.accuracy, record.val_loss, record.val_accuracy)
    epoch_is_int = isinstance(record.epoch, int) and not isinstance(record.epoch, bool)
    if (
        not epoch_is_int
        or not isinstance(record.seconds, float)
        or any(not isinstance(metric, float) and metric is not None for metric in metrics)
    ):
        raise dacite.DaciteError(f"an epoch record of the wrong types: {value!r:.200}")
    return record


_STRICT = dacite.Config(strict=True, type_hooks={float: _int_to_float, EpochRecord: _epoch_record})


def from_dict(cls: type[T], data: Any) -> T:
    """Build a record from parsed JSON or TOML, refusing unknown keys and wrong types."""
    return dacite.from_dict(cls, data, config=_STRICT)


def from_json(cls: type[T], text: str) -> T:
    return from_dict(cls, json.loads(text))
