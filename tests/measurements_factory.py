"""Synthetic measurements for scoring tests: a well-built model by default, changed one field at a time."""

from __future__ import annotations

import dataclasses

from grader.baselines import Baselines, ReferenceStats, Stat
from grader.records import (
    Accuracy,
    CapturedOutput,
    EarlyStoppingSpec,
    Environment,
    EpochRecord,
    Failure,
    LayerInfo,
    Measurements,
    ModelDescription,
    ModelMeasurement,
    ModelProbes,
    Settings,
    SubmissionInfo,
    TrainingPlan,
    TrainingRun,
)

# Reference test accuracy and its seed spread, per model.
REFERENCE = {
    "iris/single": (0.95, 0.01),
    "iris/multi": (0.97, 0.01),
    "mnist/single": (0.925, 0.002),
    "mnist/multi": (0.978, 0.001),
}


def reference_stats(test: float, spread: float, gap: float = 0.01) -> ReferenceStats:
    return ReferenceStats(
        test_accuracy=Stat(test, spread, [test]),
        val_accuracy=Stat(test, spread, [test]),
        train_accuracy=Stat(test + gap, spread, [test + gap]),
        gap=Stat(gap, 0.002, [gap]),
        epochs=Stat(10, 0, [10]),
        seconds=Stat(5, 0, [5]),
        device="cpu",
    )


BASELINES = Baselines(
    schema_version=1,
    grader_version="test",
    created="",
    seeds=[0],
    modes={"full": {"torch": {key: reference_stats(*values) for key, values in REFERENCE.items()}}},
    data={},
)


def dense(units: int, activation: str | None = None) -> LayerInfo:
    return LayerInfo("dense", "Linear", units=units, activation=activation)


def dropout(rate: float) -> LayerInfo:
    return LayerInfo("dropout", "Dropout", rate=rate)


RELU = LayerInfo("activation", "ReLU", activation="relu")


def history(val_losses: list[float], losses: list[float] | None = None) -> list[EpochRecord]:
    losses = losses or [1.0 / (i + 1) for i in range(len(val_losses))]
    return [
        EpochRecord(i + 1, loss, 0.9, val, 0.9, 1.0)
        for i, (loss, val) in enumerate(zip(losses, val_losses, strict=True))
    ]


def model(
    key: str,
    train: float | None = None,
    val: float | None = None,
    test: float | None = None,
    *,
    layers: list[LayerInfo] | None = None,
    framework: str = "torch",
    output: str = "logits",
    probes: ModelProbes | None = None,
    weight_decay: float = 0.0,
    early_stopping: EarlyStoppingSpec | None = None,
    epochs: list[EpochRecord] | None = None,
    stop_reason: str = "completed",
    ablation: ModelMeasurement | None = None,
    ablation_ran: bool = True,
) -> ModelMeasurement:
    """A trained model at its reference accuracy unless told otherwise. A multi-layer MNIST model has
    dropout and an ablation run that shows it working, as a well-built submission would."""
    problem, variant = key.split("/")
    reference = REFERENCE[key][0]
    test = reference if test is None else test
    val = test if val is None else val
    train = val + 0.01 if train is None else train
    n_classes = 3 if problem == "iris" else 10
    if layers is None:
        layers = [dense(n_classes)]
        if variant == "multi":
            layers = [dense(128), RELU, *([dropout(0.2)] if key == "mnist/multi" else []), dense(n_classes)]
    has_dropout = any(layer.kind == "dropout" for layer in layers)
    if ablation is None and ablation_ran and key == "mnist/multi" and has_dropout:
        ablation = ablated(key, train=train + 0.01, val=val - 0.01)
    plan = TrainingPlan(10, 64, "adam", 1e-3, weight_decay, early_stopping, 300.0)
    run = TrainingRun("cpu", plan, epochs or [], len(epochs) if epochs else 10, stop_reason, 5.0)
    return ModelMeasurement(
        problem,
        variant,
        ModelDescription(framework, 1000, layers, output, [784]),
        run,
        None,
        Accuracy(train, val, test),
        probes or ModelProbes(affine=False, inference_deterministic=True, loss_expects=output),
        ablation=ablation,
    )


def ablated(
    key: str,
    train: float,
    val: float,
    switched_off: tuple[str, ...] = ("Dropout(0.2) -> rate 0",),
    epochs: list[EpochRecord] | None = None,
):
    problem, variant = key.split("/")
    plan = TrainingPlan(10, 64, "adam", 1e-3, 0.0, None, 300.0)
    return ModelMeasurement(
        problem,
        variant,
        run=TrainingRun("cpu", plan, epochs or [], len(epochs) if epochs else 10, "completed", 5.0),
        accuracy=Accuracy(train, val, val),
        switched_off=list(switched_off),
    )


def failed(key: str, failure: Failure) -> ModelMeasurement:
    problem, variant = key.split("/")
    return ModelMeasurement(problem, variant, failure=failure)


def replace(measurement: ModelMeasurement, **changes) -> ModelMeasurement:
    return dataclasses.replace(measurement, **changes)


def measurements(*models: ModelMeasurement, failure: Failure | None = None, mode: str = "full") -> Measurements:
    return Measurements(
        grader_version="test",
        submission=SubmissionInfo("s.py", "s.py", ["s.py"], "hash"),
        settings=Settings(mode, 0, "cpu", ["iris", "mnist"]),
        data={},
        models=list(models),
        failure=failure,
        environment=Environment(),
        log=CapturedOutput(),
        seconds=1.0,
    )


def all_at_reference(**changes_by_key: ModelMeasurement) -> list[ModelMeasurement]:
    """The four models at their reference, with some replaced."""
    return [changes_by_key.get(key.replace("/", "_"), model(key)) for key in REFERENCE]
