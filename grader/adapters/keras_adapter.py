"""Keras 3: train with ``fit`` the way a Keras user would, on whichever backend Keras runs.

A model the student compiled keeps its optimizer and loss; callbacks the student supplies are used.
Only the grader's own bookkeeping (accuracy metric, time budget, NaN guard, progress) is added.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

from grader.adapters import (
    EVAL_BATCH,
    FIXED_DECAY,
    FIXED_DROPOUT,
    Changes,
    Deadline,
    EarlyStopper,
    EpochCallback,
    FitResult,
    LoopClock,
    LoopWatch,
    ModelError,
    TrainingData,
    check_finite,
    replaced,
)
from grader.records import (
    EarlyStoppingSpec,
    EpochRecord,
    Fixes,
    LayerInfo,
    LayerKind,
    ModelOutput,
    StopReason,
    TrainingPlan,
)

# Training steps per call into TensorFlow: Keras' own per-step overhead dominates small models on a CPU,
# and running 32 steps in one call halves an MNIST epoch at batch 64 with the same arithmetic (batch-level
# callbacks are then called every 32 steps; epoch-level ones, which grading uses, as before).
STEPS_PER_EXECUTION = 32

LAYER_KINDS: tuple[tuple[tuple[type, ...], LayerKind], ...] = (
    ((keras.layers.Dense, keras.layers.EinsumDense), "dense"),
    (
        (
            keras.layers.Dropout,
            keras.layers.SpatialDropout1D,
            keras.layers.SpatialDropout2D,
            keras.layers.GaussianDropout,
            keras.layers.AlphaDropout,
        ),
        "dropout",
    ),
    ((keras.layers.BatchNormalization,), "batchnorm"),
    ((keras.layers.LayerNormalization, keras.layers.GroupNormalization), "layernorm"),
    ((keras.layers.Flatten, keras.layers.Reshape, keras.layers.InputLayer), "flatten"),
    ((keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D), "conv"),
    ((keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU, keras.layers.RNN), "recurrent"),
    (
        (
            keras.layers.Activation,
            keras.layers.ReLU,
            keras.layers.Softmax,
            keras.layers.LeakyReLU,
            keras.layers.ELU,
            keras.layers.PReLU,
        ),
        "activation",
    ),
)


class KerasAdapter:
    framework = "keras"

    def seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()

    def select_device(self, requested: str) -> str:
        """Keras places work on a GPU by itself when its backend sees one; the grader hides the GPU
        (CUDA_VISIBLE_DEVICES) from the worker for ``--device cpu``."""
        has_gpu = _backend_sees_gpu()
        if requested == "cuda" and not has_gpu:
            raise ModelError(
                "device",
                f"--device cuda was asked for, but Keras ({keras.backend.backend()}) sees no GPU",
                "use --device auto or cpu, or install a GPU build of the backend",
            )
        return "cuda" if has_gpu and requested != "cpu" else "cpu"

    def prepare(self, model: keras.Model, device: str) -> keras.Model:
        return model

    def forward_probe(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))

    def fit(
        self,
        model: keras.Model,
        data: TrainingData,
        plan: TrainingPlan,
        *,
        output: ModelOutput,
        callbacks: Sequence[Any],
        on_epoch: EpochCallback,
    ) -> FitResult:
        plan, warnings = _compile(model, plan, output)
        one_hot = not _loss_is_sparse(model.loss)
        y, y_val = (_encode(data.y_train, data.n_classes, one_hot), _encode(data.y_val, data.n_classes, one_hot))
        budget = _Budget(plan.max_seconds, on_epoch)
        extra = [budget]
        if plan.early_stopping and plan.early_stopping.source == "hyperparams":
            spec = plan.early_stopping
            extra.append(
                keras.callbacks.EarlyStopping(
                    monitor=spec.monitor,
                    patience=spec.patience,
                    min_delta=spec.min_delta,
                    restore_best_weights=spec.restore_best_weights,
                )
            )
        model.fit(
            data.x_train,
            y,
            validation_data=(data.x_val, y_val),
            validation_batch_size=EVAL_BATCH,  # no gradients: one large batch costs far less than many small
            epochs=plan.epochs,
            batch_size=plan.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[*callbacks, *extra],
        )
        stop_reason: StopReason
        if budget.out_of_time:
            stop_reason = "time_budget"
        elif len(budget.history) < plan.epochs:
            stop_reason = "early_stopping"
        else:
            stop_reason = "completed"
        return FitResult(budget.history, stop_reason, _best_epoch(budget.history, plan.early_stopping), warnings, plan)

    def predict(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        classes: np.ndarray = np.asarray(model.predict(x, batch_size=EVAL_BATCH, verbose=0)).argmax(axis=1)
        return classes

    def describe(self, model: keras.Model, sample: np.ndarray) -> tuple[int, list[LayerInfo]]:
        return int(model.count_params()), [_describe_layer(layer) for layer in _leaf_layers(model)]

    def callback_early_stopping(self, callbacks: Sequence[Any]) -> EarlyStoppingSpec | None:
        for callback in callbacks:
            if isinstance(callback, keras.callbacks.EarlyStopping):
                return EarlyStoppingSpec(
                    monitor=callback.monitor,
                    patience=int(callback.patience),
                    min_delta=float(abs(callback.min_delta)),
                    restore_best_weights=bool(callback.restore_best_weights),
                    source="callback",
                )
        return None

    def loss_expects(self, model: keras.Model) -> ModelOutput | None:
        """Keras' cross-entropies take probabilities unless built with ``from_logits=True``."""
        if not getattr(model, "compiled", False) or model.loss is None:
            return None
        loss = model.loss
        config = loss.get_config() if hasattr(loss, "get_config") else {}
        return "logits" if config.get("from_logits") else "probabilities"

    def disable_regularization(self, model: keras.Model, callbacks: Sequence[Any]) -> tuple[list[str], list[Any]]:
        switched = []
        for layer in _leaf_layers(model):
            if _describe_layer(layer).kind == "dropout" and getattr(layer, "rate", 0) > 0:
                switched.append(f"{type(layer).__name__}({layer.rate:g}) -> rate 0")
                layer.rate = 0.0
            for attribute in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
                if getattr(layer, attribute, None) is not None:
                    switched.append(f"{type(layer).__name__} {attribute} -> none")
                    setattr(layer, attribute, None)
        for variable in model.weights:
            variable.regularizer = None  # Keras 3 keeps each weight's penalty on the variable itself
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "weight_decay", None):
            switched.append(f"the compiled optimizer's weight decay {optimizer.weight_decay:g} -> 0")
            optimizer.weight_decay = None
        kept = [c for c in callbacks if not isinstance(c, keras.callbacks.EarlyStopping)]
        if len(kept) < len(callbacks):
            switched.append("the EarlyStopping callback -> removed")
        return switched, kept

    def apply_fixes(
        self,
        model: keras.Model,
        fixes: Fixes,
        sample: np.ndarray,
        output: ModelOutput,
        loss_expects: ModelOutput | None,
    ) -> Changes:
        """The model's own mistakes: a last layer's softmax before a loss compiled with ``from_logits=True``
        becomes linear, dropout past the limit 0.2, an L1/L2 kernel regularizer past the limit 1e-4 (on the
        layer and on its kernel, where Keras 3 keeps the penalty), a compiled optimizer's weight decay 1e-4."""
        changed: Changes = {}
        layers = _leaf_layers(model)
        if fixes.wants("final_softmax") and output == "probabilities" and loss_expects == "logits" and layers:
            last = layers[-1]
            ends_in_softmax = _describe_layer(last).activation == "softmax"
            if isinstance(last, keras.layers.Dense | keras.layers.Activation) and ends_in_softmax:
                last.activation = keras.activations.linear
                changed["final_softmax"] = [f"the final {type(last).__name__}'s softmax -> linear"]
        for layer in layers:
            rate = _rate(layer)
            if (
                fixes.wants("dropout_rate")
                and _describe_layer(layer).kind == "dropout"
                and (rate or 0) > fixes.dropout_rate
            ):
                changed.setdefault("dropout_rate", []).append(
                    f"{type(layer).__name__}({rate:g}) -> rate {FIXED_DROPOUT:g}"
                )
                layer.rate = FIXED_DROPOUT
            if fixes.wants("weight_decay"):
                changed.setdefault("weight_decay", []).extend(
                    _weaker_kernel_regularizer(layer, fixes.kernel_regularizer)
                )
        optimizer = getattr(model, "optimizer", None)
        decay = float(getattr(optimizer, "weight_decay", None) or 0.0)
        if optimizer is not None and fixes.wants("weight_decay") and decay > fixes.weight_decay:
            changed.setdefault("weight_decay", []).append(
                f"the compiled optimizer's weight decay {decay:g} -> {FIXED_DECAY:g}"
            )
            optimizer.weight_decay = FIXED_DECAY
        return {fix: changes for fix, changes in changed.items() if changes}

    @contextlib.contextmanager
    def watch_training_loop(
        self, model: keras.Model, ablation: bool, clock: LoopClock, fixes: Fixes | None = None
    ) -> Iterator[LoopWatch]:
        """Count the samples a student's own loop trains on through ``fit`` (per epoch, as the grader's
        own budget does: a batch-level callback slows every batch), ``train_on_batch`` and an eager
        ``GradientTape`` loop's ``apply_gradients``, and stop the loop there at the budget. A loop compiled
        with ``tf.function`` runs past these hooks and is left to the parent's deadline."""
        original_fit, original_train_on_batch = keras.Model.fit, keras.Model.train_on_batch
        in_keras = _Inside()  # fit's own steps are counted by fit's hooks, not again as a GradientTape loop's

        def watched_fit(self: keras.Model, x: Any = None, *args: Any, **kwargs: Any) -> Any:
            clock.check()
            counter = _LoopCounter(clock, _samples(x))
            if len(args) >= 5:  # callbacks given by position: fit(x, y, batch_size, epochs, verbose, callbacks)
                args = (*args[:4], [*(args[4] or []), counter], *args[5:])
            else:
                kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), counter]
            with in_keras:
                return original_fit(self, x, *args, **kwargs)

        def watched_train_on_batch(self: keras.Model, x: Any = None, *args: Any, **kwargs: Any) -> Any:
            clock.check()
            with in_keras:
                result = original_train_on_batch(self, x, *args, **kwargs)
            clock.trained(_samples(x))
            return result

        with (
            replaced(keras.Model, "fit", watched_fit),
            replaced(keras.Model, "train_on_batch", watched_train_on_batch),
            _tape_steps_counted(clock, in_keras),
        ):
            yield LoopWatch()


class _LoopCounter(keras.callbacks.Callback):  # type: ignore[misc,unused-ignore]
    """Inside a student's own ``fit``: an epoch's samples counted at its end, and the budget checked."""

    def __init__(self, clock: LoopClock, samples: int) -> None:
        super().__init__()
        self.clock, self.samples = clock, samples

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.clock.trained(self.samples)
        self.clock.check()


class _Inside:
    """Whether a call of Keras's own training (``fit``, ``train_on_batch``) is running: a re-entrant flag."""

    def __init__(self) -> None:
        self.depth = 0

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1


@contextlib.contextmanager
def _tape_steps_counted(clock: LoopClock, in_keras: _Inside) -> Iterator[None]:
    """A student's ``GradientTape`` loop: each ``apply_gradients`` outside Keras's own training is a step on
    the batch the model was last called on. The clock checks the budget before the step and counts the batch
    after it."""
    original_call, original_apply = keras.Model.__call__, keras.optimizers.Optimizer.apply_gradients
    last_batch = [0]

    def watched_call(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        if args and not in_keras.depth:  # fit's own calls are counted by fit
            last_batch[0] = _samples(args[0])
        return original_call(self, *args, **kwargs)

    def watched_apply(self: keras.optimizers.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if in_keras.depth:
            return original_apply(self, *args, **kwargs)
        clock.check()
        result = original_apply(self, *args, **kwargs)
        clock.trained(last_batch[0] or 1)
        return result

    with (
        replaced(keras.Model, "__call__", watched_call),
        replaced(keras.optimizers.Optimizer, "apply_gradients", watched_apply),
    ):
        yield


def _samples(x: Any) -> int:
    """How many samples an array (or a list or dict of arrays) holds; 0 for a data set of unknown size."""
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, list | tuple):
        x = x[0] if x else None
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape and shape[0] is not None else 0


class _Budget(keras.callbacks.Callback):  # type: ignore[misc,unused-ignore]
    """Records each epoch, reports it, stops at the rubric's time budget and on a NaN loss.

    The budget is checked between epochs only: a batch-level hook makes Keras wait for every batch,
    which costs about a fifth of an epoch's time. An epoch that overruns is caught by the worker's
    hard deadline instead.
    """

    def __init__(self, seconds: float, on_epoch: EpochCallback) -> None:
        super().__init__()
        self.seconds, self.on_epoch = seconds, on_epoch
        self.history: list[EpochRecord] = []
        self.out_of_time = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.deadline = Deadline(self.seconds)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        record = EpochRecord(
            epoch + 1,
            _metric(logs, "loss"),
            _metric(logs, "accuracy"),
            _metric(logs, "val_loss"),
            _metric(logs, "val_accuracy"),
            time.perf_counter() - self.started,
        )
        self.history.append(record)
        self.on_epoch(record)
        check_finite(record)
        if self.deadline.passed():
            self.out_of_time = True
            self.model.stop_training = True


def _compile(model: keras.Model, plan: TrainingPlan, output: str) -> tuple[TrainingPlan, list[str]]:
    """Compile with the plan, or keep the student's optimizer and loss and add the accuracy metric.

    Returns the plan as actually trained: for a model the student compiled, its optimizer's settings.
    """
    if getattr(model, "compiled", False) and model.optimizer is not None and model.loss is not None:
        optimizer = model.optimizer
        plan = dataclasses.replace(
            plan,
            compiled_by_student=True,
            optimizer=str(getattr(optimizer, "name", type(optimizer).__name__)).lower(),
            learning_rate=float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            weight_decay=float(getattr(optimizer, "weight_decay", None) or 0.0),
        )
        model.compile(
            optimizer=optimizer,
            loss=model.loss,
            metrics=[_accuracy_metric(model.loss)],
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        ignored = [key for key in ("optimizer", "learning_rate", "weight_decay") if key in plan.chosen_by_student]
        if not ignored:
            return plan, []
        return plan, [
            f"the model is compiled in the submission, so its own optimizer is used and HYPERPARAMS' "
            f"{', '.join(ignored)} is not"
        ]
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
    }
    optimizer = optimizers[plan.optimizer](learning_rate=plan.learning_rate, weight_decay=plan.weight_decay or None)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=output == "logits")
    if output == "log_probabilities":
        raise ModelError(
            "bad_output",
            "the model ends in a log-softmax, which Keras' losses do not take",
            'end with Dense(n) (logits) or Dense(n, activation="softmax")',
        )
    model.compile(
        optimizer=optimizer, loss=loss, metrics=[_accuracy_metric(loss)], steps_per_execution=STEPS_PER_EXECUTION
    )
    return plan, []


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)


def _loss_is_sparse(loss: Any) -> bool:
    """Sparse losses take class indices; every other loss (categorical cross-entropy, MSE) one-hot rows."""
    return "sparse" in _loss_name(loss).lower()


def _accuracy_metric(loss: Any) -> keras.metrics.Metric:
    if _loss_is_sparse(loss):
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return keras.metrics.CategoricalAccuracy(name="accuracy")


def _encode(y: np.ndarray, n_classes: int, one_hot: bool) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[y] if one_hot else y


def _metric(logs: dict[str, Any], name: str) -> float | None:
    value = logs.get(name)
    return None if value is None else float(value)


def _best_epoch(history: list[EpochRecord], spec: EarlyStoppingSpec | None) -> int | None:
    if spec is None:
        return None
    stopper = EarlyStopper(spec)
    for record in history:
        stopper.update(record)
    return stopper.best_epoch


def _leaf_layers(model: keras.Model) -> list[Any]:
    """Layers in order, with nested models (a Sequential inside a Model) opened up."""
    leaves = []
    for layer in model.layers:
        if getattr(layer, "layers", None):
            leaves.extend(_leaf_layers(layer))
        else:
            leaves.append(layer)
    return leaves


def _describe_layer(layer: Any) -> LayerInfo:
    name = type(layer).__name__
    kind: LayerKind = next((k for types, k in LAYER_KINDS if isinstance(layer, types)), "other")
    activation = getattr(layer, "activation", None)
    activation_name = getattr(activation, "__name__", None) if activation is not None else None
    if isinstance(layer, keras.layers.Activation | keras.layers.ReLU | keras.layers.Softmax):
        activation_name = activation_name or name.lower()
    regularizers: dict[str, float] = {}
    for attribute in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        regularizer = getattr(layer, attribute, None)
        if regularizer is not None:
            config = regularizer.get_config()
            prefix = attribute.removesuffix("_regularizer")
            regularizers.update({f"{prefix}_{k}": float(v) for k, v in config.items() if isinstance(v, int | float)})
    return LayerInfo(
        kind,
        name,
        units=getattr(layer, "units", None),
        activation=activation_name,
        rate=_rate(layer),
        regularizers=regularizers,
    )


def _weaker_kernel_regularizer(layer: Any, limit: float) -> list[str]:
    """Set an L1/L2 kernel regularizer's factors past ``limit`` to 1e-4; returns what changed, in words."""
    regularizer = getattr(layer, "kernel_regularizer", None)
    if regularizer is None:
        return []
    config = regularizer.get_config()
    strong = {k: v for k, v in config.items() if isinstance(v, int | float) and v > limit}
    if not strong:
        return []
    weaker = type(regularizer).from_config({**config, **dict.fromkeys(strong, FIXED_DECAY)})
    layer.kernel_regularizer = weaker
    kernel = getattr(layer, "kernel", None)
    if kernel is not None and getattr(kernel, "regularizer", None) is not None:
        kernel.regularizer = weaker
    return [f"{type(layer).__name__} kernel {k} {v:g} -> {FIXED_DECAY:g}" for k, v in strong.items()]


def _rate(layer: Any) -> float | None:
    rate = getattr(layer, "rate", None)
    return float(rate) if isinstance(rate, int | float) else None


def _backend_sees_gpu() -> bool:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return False


ADAPTER = KerasAdapter()
