"""Turn a student's ``HYPERPARAMS`` into the training plan the grader runs, within the rubric's budget.

Precedence, lowest first: the rubric's defaults for the problem, top-level keys of ``HYPERPARAMS``,
``HYPERPARAMS[problem]``, ``HYPERPARAMS["problem/variant"]``. Unknown keys are warnings (with a
suggestion for a likely typo); invalid values are errors that name the key, because silently
training with something else would grade the wrong model.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from grader.errors import EXIT_UNGRADABLE, GraderError
from grader.records import MODEL_KEYS, EarlyStoppingSpec, TrainingPlan, model_key

HYPERPARAM_KEYS = ("epochs", "batch_size", "optimizer", "learning_rate", "weight_decay", "early_stopping")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
EARLY_STOPPING_KEYS = ("monitor", "patience", "min_delta", "restore_best_weights")
DEFAULT_PATIENCE = 5


class HyperparamError(GraderError):
    """A value in HYPERPARAMS the grader cannot train with: the submission's to fix, so the model is not
    gradable as it is (the worker records it as the model's failure)."""

    exit_code = EXIT_UNGRADABLE


def resolve_plan(
    hyperparams: Any,
    problem: str,
    variant: str,
    *,
    defaults: Mapping[str, Any],
    max_epochs: int,
    max_seconds: float,
    quick: bool = False,
    source: str = "HYPERPARAMS",
) -> tuple[TrainingPlan, list[str]]:
    """The plan for one model and the warnings a student should see about it.

    In quick mode the epoch budget is cut on purpose, so cutting a student's epochs is no news. ``source``
    names where the hyperparameters came from, in warnings: a free-form notebook has no HYPERPARAMS.
    """
    warnings: list[str] = []
    merged = dict(defaults)
    chosen: list[str] = []
    for where, section in _sections(hyperparams, problem, variant):
        for key, value in section.items():
            if key in HYPERPARAM_KEYS:
                merged[key] = value
                chosen.append(key)
            else:
                warnings.append(f"{where}: unknown key {key!r} is ignored{_did_you_mean(key)}")
    label = f"{source} for {model_key(problem, variant)}"
    epochs = _positive_int(merged["epochs"], f"{label}: epochs")
    if epochs > max_epochs and not quick:
        warnings.append(f"{label}: {epochs} epochs asked, the rubric's budget is {max_epochs}; trained {max_epochs}")
    epochs = min(epochs, max_epochs)
    plan = TrainingPlan(
        epochs=epochs,
        batch_size=_positive_int(merged["batch_size"], f"{label}: batch_size"),
        optimizer=_optimizer(merged["optimizer"], label),
        learning_rate=_positive_float(merged["learning_rate"], f"{label}: learning_rate"),
        weight_decay=_non_negative_float(merged.get("weight_decay", 0.0), f"{label}: weight_decay"),
        early_stopping=early_stopping_spec(merged.get("early_stopping", False), label),
        max_seconds=float(max_seconds),
        chosen_by_student=sorted(set(chosen)),
    )
    return plan, warnings


def _sections(hyperparams: Any, problem: str, variant: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The parts of HYPERPARAMS that apply to this model, lowest precedence first."""
    if hyperparams is None:
        return []
    if not isinstance(hyperparams, Mapping):
        raise HyperparamError(
            f"HYPERPARAMS must be a dict, got {type(hyperparams).__name__}",
            'write HYPERPARAMS = {"mnist": {"epochs": 10}, "mnist/multi": {"learning_rate": 1e-3}}',
        )
    top = {k: v for k, v in hyperparams.items() if k in HYPERPARAM_KEYS}
    sections: list[tuple[str, Mapping[str, Any]]] = [("HYPERPARAMS", top)] if top else []
    for name in (problem, model_key(problem, variant)):
        section = hyperparams.get(name)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise HyperparamError(
                f"HYPERPARAMS[{name!r}] must be a dict of hyperparameters, got {type(section).__name__}",
                f"for example HYPERPARAMS[{name!r}] = {{'epochs': 10, 'batch_size': 64}}",
            )
        sections.append((f"HYPERPARAMS[{name!r}]", section))
    return sections


def top_level_warnings(hyperparams: Any) -> list[str]:
    """Warnings about HYPERPARAMS as a whole, reported once rather than with each model."""
    if not isinstance(hyperparams, Mapping):
        return []
    sections = {p for p, _ in MODEL_KEYS} | {model_key(p, v) for p, v in MODEL_KEYS}
    return [
        f"HYPERPARAMS: unknown key {key!r} is ignored{_did_you_mean(str(key), sections)}"
        for key in hyperparams
        if key not in HYPERPARAM_KEYS and key not in sections
    ]


def early_stopping_spec(value: Any, label: str) -> EarlyStoppingSpec | None:
    """``early_stopping`` may be False, True, a patience, or a dict like Keras' EarlyStopping arguments."""
    where = f"{label}: early_stopping"
    if value is None or value is False:
        return None
    if value is True:
        return EarlyStoppingSpec(patience=DEFAULT_PATIENCE)
    if isinstance(value, int):
        return EarlyStoppingSpec(patience=_positive_int(value, f"{where} (patience)"))
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in EARLY_STOPPING_KEYS]
        if unknown:
            raise HyperparamError(
                f"{where}: unknown key {unknown[0]!r}{_did_you_mean(str(unknown[0]), EARLY_STOPPING_KEYS)}",
                f"the keys are {', '.join(EARLY_STOPPING_KEYS)}",
            )
        monitor = value.get("monitor", "val_loss")
        if monitor not in MONITORS:
            raise HyperparamError(
                f"{where}: monitor must be one of {', '.join(MONITORS)}, got {monitor!r}",
                'monitor "val_loss" unless you have a reason not to',
            )
        return EarlyStoppingSpec(
            monitor=monitor,
            patience=_positive_int(value.get("patience", DEFAULT_PATIENCE), f"{where}: patience"),
            min_delta=_non_negative_float(value.get("min_delta", 0.0), f"{where}: min_delta"),
            restore_best_weights=_bool(value.get("restore_best_weights", True), f"{where}: restore_best_weights"),
        )
    raise HyperparamError(
        f"{where} must be True/False, a patience (int) or a dict, got {value!r}",
        'for example "early_stopping": {"monitor": "val_loss", "patience": 5}',
    )


def _did_you_mean(key: str, choices: tuple[str, ...] | set[str] = HYPERPARAM_KEYS) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise HyperparamError(
            f"{where} must be a positive whole number, got {value!r}", "use e.g. 10, not '10' or 10.0"
        )
    return value


def _positive_float(value: Any, where: str) -> float:
    if not _is_number(value) or not value > 0:
        raise HyperparamError(f"{where} must be a positive number, got {value!r}", "use e.g. 1e-3")
    return float(value)


def _non_negative_float(value: Any, where: str) -> float:
    if not _is_number(value) or not value >= 0:
        raise HyperparamError(f"{where} must be a number >= 0, got {value!r}", "use e.g. 1e-4, or 0 for none")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise HyperparamError(f"{where} must be True or False, got {value!r}")
    return value


def _optimizer(value: Any, label: str) -> str:
    name = value.lower() if isinstance(value, str) else value
    if name not in OPTIMIZERS:
        raise HyperparamError(
            f"{label}: optimizer must be one of {', '.join(OPTIMIZERS)}, got {value!r}",
            "name the optimizer as a string; for your own optimizer object, compile the Keras model with it "
            "or write a train() function",
        )
    return name
