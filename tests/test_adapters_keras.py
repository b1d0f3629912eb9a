"""The Keras adapter: fit the way a Keras user would, keeping what the student compiled."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import blobs, training_plan

keras = pytest.importorskip("keras")

from grader.adapters import (  # noqa: E402
    BudgetReached,
    Fixes,
    LoopClock,
    ModelError,
    adapter_for,
    framework_of,
    probe_input_shape,
)
from grader.adapters.keras_adapter import ADAPTER  # noqa: E402
from grader.records import EarlyStoppingSpec  # noqa: E402


def fit(model, data=None, callbacks=(), **changes):
    data = data or blobs()
    ADAPTER.seed(0)
    output = probe_input_shape(ADAPTER, model, data.x_train, data.n_classes)[1]
    return ADAPTER.fit(
        model, data, training_plan(**changes), output=output, callbacks=list(callbacks), on_epoch=lambda record: None
    )


def mlp(softmax=False, compiled=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax" if softmax else None),
        ]
    )
    if compiled:
        model.compile(**compiled)
    return model


def test_keras_models_are_recognised_as_keras():
    model = mlp()
    assert framework_of(model) == "keras"
    assert adapter_for(model) is ADAPTER


def test_an_uncompiled_model_is_compiled_from_the_plan_and_fits():
    result = fit(mlp())
    assert result.stop_reason == "completed" and len(result.history) == 15
    assert result.history[-1].val_accuracy > 0.95
    assert result.plan.optimizer == "adam" and not result.plan.compiled_by_student


def test_a_softmax_output_gets_a_loss_that_expects_probabilities():
    model = mlp(softmax=True)
    assert probe_input_shape(ADAPTER, model, blobs().x_train, 3) == ([4], "probabilities")
    fit(model)
    assert model.loss.get_config()["from_logits"] is False


def test_a_model_compiled_by_the_student_keeps_its_optimizer_and_loss():
    optimizer = keras.optimizers.SGD(learning_rate=0.05)
    model = mlp(softmax=True, compiled={"optimizer": optimizer, "loss": "categorical_crossentropy"})
    result = fit(model, chosen_by_student=["learning_rate"])
    assert model.optimizer is optimizer
    assert result.plan.compiled_by_student and result.plan.optimizer == "sgd"
    assert result.plan.learning_rate == pytest.approx(0.05)
    assert result.history[-1].val_accuracy > 0.9  # one-hot labels were fed to the categorical loss
    assert result.warnings == [
        "the model is compiled in the submission, so its own optimizer is used and HYPERPARAMS' learning_rate is not"
    ]


def test_the_students_callbacks_are_used_and_early_stopping_is_recognised():
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    assert ADAPTER.callback_early_stopping([stopper]) == EarlyStoppingSpec(
        monitor="val_loss", patience=1, min_delta=0.0, restore_best_weights=True, source="callback"
    )
    result = fit(mlp(), data=blobs(n=40), callbacks=[stopper], epochs=300, learning_rate=0.1)
    assert result.stop_reason == "early_stopping" and len(result.history) < 300


def test_training_stops_at_the_time_budget():
    result = fit(mlp(), epochs=10_000, max_seconds=0.5)
    assert result.stop_reason == "time_budget" and len(result.history) < 10_000


def test_same_seed_same_training():
    def run():
        return [(r.loss, r.val_loss) for r in fit(mlp()).history]

    assert run() == run()


def test_a_log_softmax_output_is_refused_with_the_fix():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="log_softmax")])
    with pytest.raises(ModelError, match="log-softmax"):
        fit(model)


def test_describe_lists_layers_with_activations_rates_and_regularizers():
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4)),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    parameters, layers = ADAPTER.describe(model, np.zeros((4, 28, 28), dtype=np.float32))
    assert parameters == 784 * 128 + 128 + 128 * 10 + 10
    assert [(layer.kind, layer.units, layer.activation, layer.rate) for layer in layers] == [
        ("flatten", None, None, None),
        ("dense", 128, "relu", None),
        ("dropout", None, None, 0.3),
        ("dense", 10, "softmax", None),
    ]
    assert layers[1].regularizers == {"kernel_l2": pytest.approx(1e-4)}


def test_prediction_is_deterministic_with_dropout_in_the_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.5), keras.layers.Dense(3)]
    )
    x = blobs().x_train
    assert np.array_equal(ADAPTER.predict(model, x), ADAPTER.predict(model, x))


def test_an_ablation_switches_off_dropout_regularizers_weight_decay_and_early_stopping():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3)),
            keras.layers.Dropout(0.4),
            keras.layers.Dense(3),
        ]
    )
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.01), loss="sparse_categorical_crossentropy")
    stopper = keras.callbacks.EarlyStopping()
    switched, callbacks = ADAPTER.disable_regularization(model, [stopper, "other"])
    assert switched == [
        "Dense kernel_regularizer -> none",
        "Dropout(0.4) -> rate 0",
        "the compiled optimizer's weight decay 0.01 -> 0",
        "the EarlyStopping callback -> removed",
    ]
    assert callbacks == ["other"]
    assert all(variable.regularizer is None for variable in model.weights)
    assert not model.losses  # no penalty is added to the loss any more


def test_what_a_compiled_loss_expects_is_read_from_it():
    assert ADAPTER.loss_expects(mlp()) is None  # not compiled: the grader will pick the loss
    logits = mlp(compiled={"optimizer": "adam", "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    assert ADAPTER.loss_expects(logits) == "logits"
    assert (
        ADAPTER.loss_expects(mlp(compiled={"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}))
        == "probabilities"
    )


def test_a_students_own_fit_is_counted_and_stopped_at_the_budget_after_an_epoch():
    model = mlp(compiled={"optimizer": "adam", "loss": "sparse_categorical_crossentropy"})
    data = blobs()
    clock = LoopClock(0.0, lambda samples: None)  # the budget has passed from the start
    with ADAPTER.watch_training_loop(model, ablation=False, clock=clock), pytest.raises(BudgetReached):
        model.fit(data.x_train, data.y_train, epochs=50, verbose=0)
    assert (clock.samples, clock.stopped) == (len(data.x_train), True)
    assert type(keras.Model.fit).__name__ == "function" and keras.Model.fit.__name__ == "fit"  # undone


FIXES = Fixes(["final_softmax", "dropout_rate", "weight_decay", "eval_mode"], 0.7, 0.1, 0.01)


def test_a_what_if_undoes_a_softmax_before_logits_extreme_dropout_and_strong_penalties():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(0.5)),
            keras.layers.Dropout(0.9),
            keras.layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(1e-3)),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(weight_decay=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    sample = blobs().x_train[:8]
    output = probe_input_shape(ADAPTER, model, sample, 3)[1]
    changed = ADAPTER.apply_fixes(model, FIXES, sample, output, ADAPTER.loss_expects(model))
    assert changed == {
        "final_softmax": ["the final Dense's softmax -> linear"],
        "dropout_rate": ["Dropout(0.9) -> rate 0.2"],
        "weight_decay": ["Dense kernel l2 0.5 -> 0.0001", "the compiled optimizer's weight decay 0.5 -> 0.0001"],
    }
    assert ADAPTER.forward_probe(model, sample).min() < 0  # logits now
    assert model.layers[1].rate == 0.2 and model.optimizer.weight_decay == 1e-4
    kernels = [layer.kernel for layer in (model.layers[0], model.layers[2])]
    penalty = sum(1e-4 * float(np.sum(np.square(k))) for k in kernels[:1]) + 1e-3 * float(np.sum(np.square(kernels[1])))
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses)) == pytest.approx(penalty, rel=1e-4)


def test_a_what_if_leaves_a_softmax_into_a_probability_loss_alone():
    model = mlp(softmax=True, compiled={"optimizer": "adam", "loss": "sparse_categorical_crossentropy"})
    sample = blobs().x_train[:8]
    assert ADAPTER.apply_fixes(model, FIXES, sample, "probabilities", ADAPTER.loss_expects(model)) == {}
