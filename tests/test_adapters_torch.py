"""The PyTorch adapter: train, predict and describe any nn.Module the contract allows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import blobs, training_plan

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from grader.adapters import (  # noqa: E402
    BudgetReached,
    Fixes,
    LoopClock,
    ModelError,
    adapter_for,
    framework_of,
    is_affine,
    probe_input_shape,
)
from grader.adapters.torch_adapter import ADAPTER  # noqa: E402
from grader.records import EarlyStoppingSpec  # noqa: E402


def fit(model, data, **changes):
    ADAPTER.seed(0)
    return ADAPTER.fit(
        model,
        data,
        training_plan(**changes),
        output=probe_input_shape(ADAPTER, model, data.x_train, 3)[1],
        callbacks=[],
        on_epoch=lambda record: None,
    )


def test_models_are_recognised_by_type_without_importing_anything_else():
    assert framework_of(nn.Linear(4, 3)) == "torch"
    assert adapter_for(nn.Sequential(nn.Linear(4, 3))) is ADAPTER
    with pytest.raises(ModelError, match="returned list, not a model"):
        adapter_for([nn.Linear(4, 3)])


def test_training_fits_separable_data_and_records_every_epoch():
    torch.manual_seed(0)
    data = blobs()
    result = fit(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), data)
    assert result.stop_reason == "completed"
    assert [r.epoch for r in result.history] == list(range(1, 16))
    last = result.history[-1]
    assert last.val_accuracy > 0.95 and last.accuracy > 0.95
    assert last.loss < result.history[0].loss


def test_same_seed_same_training():
    def run():
        torch.manual_seed(0)
        return [
            (r.loss, r.val_loss)
            for r in fit(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), blobs()).history
        ]

    assert run() == run()


def test_a_softmax_output_is_trained_without_a_second_softmax():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    data = blobs()
    assert probe_input_shape(ADAPTER, model, data.x_train, 3) == ([4], "probabilities")
    assert fit(model, data).history[-1].val_accuracy > 0.95


def test_mnist_models_may_take_images_or_flat_vectors():
    data = blobs(n_classes=10, shape=(28, 28))
    assert probe_input_shape(ADAPTER, nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), data.x_train, 10) == (
        [28, 28],
        "logits",
    )
    assert probe_input_shape(ADAPTER, nn.Linear(784, 10), data.x_train, 10) == ([784], "logits")


def test_a_wrong_input_or_output_size_is_explained():
    data = blobs()
    with pytest.raises(ModelError) as raised:
        probe_input_shape(ADAPTER, nn.Linear(5, 3), data.x_train, 3)
    assert raised.value.kind == "bad_input"
    assert "does not accept inputs of shape ('N', 4)" in raised.value.message
    assert raised.value.hint == "make the first layer take 4 features"
    with pytest.raises(ModelError) as raised:
        probe_input_shape(ADAPTER, nn.Linear(4, 10), data.x_train, 3)
    assert raised.value.kind == "bad_output"
    assert raised.value.message == (
        "the model outputs shape (4, 10) for 4 samples; it must output (4, 3): one score per class"
    )


def test_early_stopping_stops_and_restores_the_best_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3))
    data = blobs(n=60)  # tiny: validation loss soon stops improving
    spec = EarlyStoppingSpec(patience=2)
    result = fit(model, data, epochs=200, learning_rate=0.05, early_stopping=spec)
    assert result.stop_reason == "early_stopping"
    assert len(result.history) < 200
    best = min(result.history, key=lambda r: r.val_loss)
    assert result.best_epoch == best.epoch
    restored_loss, _ = ADAPTER._evaluate(
        model, torch.as_tensor(data.x_val), torch.as_tensor(data.y_val), nn.functional.cross_entropy
    )
    assert restored_loss == pytest.approx(best.val_loss, rel=1e-5)


def test_training_stops_at_the_time_budget():
    model = nn.Sequential(nn.Linear(4, 3))
    result = fit(model, blobs(), epochs=10_000, max_seconds=0.3)
    assert result.stop_reason == "time_budget"
    assert len(result.history) < 10_000


def test_a_diverging_loss_is_reported_as_such():
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ModelError) as raised:
        fit(model, blobs(), optimizer="sgd", learning_rate=float("inf"))
    assert raised.value.kind == "nan_loss"
    assert "lower the learning rate" in raised.value.hint


def test_prediction_runs_in_inference_mode_so_dropout_is_off_and_leaves_the_mode_as_it_was():
    """The untrained model is predicted with before a student's own loop trains it: a loop that never
    calls model.train() must still train with dropout on."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
    x = blobs().x_train
    model.train()
    assert np.array_equal(ADAPTER.predict(model, x), ADAPTER.predict(model, x))
    assert model.training
    model.eval()
    ADAPTER.predict(model, x)
    assert not model.training


def test_describe_lists_layers_with_their_settings():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.25), nn.BatchNorm1d(128), nn.Linear(128, 10)
    )
    parameters, layers = ADAPTER.describe(model, np.zeros((4, 28, 28), dtype=np.float32))
    assert parameters == 784 * 128 + 128 + 128 * 10 + 10 + 2 * 128
    assert [(layer.kind, layer.units, layer.activation, layer.rate) for layer in layers] == [
        ("flatten", None, None, None),
        ("dense", 128, None, None),
        ("activation", None, "relu", None),
        ("dropout", None, None, 0.25),
        ("batchnorm", None, None, None),
        ("dense", 10, None, None),
    ]


def test_auto_device_is_the_cpu_without_a_gpu_and_cuda_is_refused_clearly():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert ADAPTER.select_device("auto") in ("cpu", "mps")
    assert ADAPTER.select_device("cpu") == "cpu"
    with pytest.raises(ModelError, match="PyTorch sees no CUDA GPU"):
        ADAPTER.select_device("cuda")


class Backwards(nn.Module):
    """Registers its layers in one order and calls them in another."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(8, 3)
        self.drop = nn.Dropout(0.2)
        self.hidden = nn.Linear(4, 8)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.hidden(x))))


def test_layers_are_described_in_the_order_forward_calls_them():
    _, layers = ADAPTER.describe(Backwards(), blobs().x_train[:4])
    assert [(layer.kind, layer.units) for layer in layers] == [("dense", 8), ("dropout", None), ("dense", 3)]


def test_stacked_linear_layers_measure_as_affine_and_an_activation_does_not():
    x = blobs().x_train[:64]
    torch.manual_seed(0)
    assert is_affine(ADAPTER, nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 3)), x, "logits")
    assert is_affine(ADAPTER, nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 3), nn.Softmax(dim=1)), x, "probabilities")
    assert not is_affine(ADAPTER, nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)), x, "logits")
    assert not is_affine(ADAPTER, nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), x, "logits")


def test_probing_leaves_a_new_model_in_training_mode_for_the_students_own_loop():
    model = nn.Sequential(nn.Linear(4, 3))
    ADAPTER.forward_probe(model, blobs().x_train[:4])
    assert model.training


def test_an_ablation_switches_dropout_off_and_zeroes_the_students_optimizer_weight_decay():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    switched, callbacks = ADAPTER.disable_regularization(model, ["kept"])
    assert switched == ["Dropout(0.3) -> rate 0"] and callbacks == ["kept"]
    assert model[2].p == 0.0
    with ADAPTER.watch_training_loop(model, ablation=True, clock=LoopClock(60, print)) as watch:
        optimizer = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
    assert watch.optimizer_weight_decay == 0.01
    assert optimizer.param_groups[0]["weight_decay"] == 0.0


def test_the_training_loop_watch_counts_passes_made_in_the_wrong_mode():
    model = nn.Sequential(nn.Linear(4, 3))
    x = torch.as_tensor(blobs().x_train[:4])
    with ADAPTER.watch_training_loop(model, ablation=False, clock=LoopClock(60, print)) as watch:
        model(x)  # training: fine
        with torch.no_grad():
            model(x)  # evaluation in training mode
        model.eval()
        model(x)  # training in eval mode
    assert (watch.evaluated_in_training_mode, watch.trained_in_eval_mode) == (1, 1)
    assert torch.optim.Optimizer.__init__.__name__ == "__init__"  # the patch is undone


def test_the_watch_counts_training_samples_and_stops_a_progressing_loop_at_the_budget():
    model = nn.Sequential(nn.Linear(4, 3))
    x = torch.as_tensor(blobs().x_train[:8])
    reported = []
    clock = LoopClock(0.0, reported.append)  # the budget has passed from the start
    clock._next_report = 0.0  # report at once
    with ADAPTER.watch_training_loop(model, ablation=False, clock=clock):
        with torch.no_grad():
            model(x)  # an evaluation pass: no progress, and no stop without progress
        model(x)
        with pytest.raises(BudgetReached):
            try:
                model(x)
            except Exception:  # a student's guard around a batch does not swallow the stop
                pytest.fail("BudgetReached was caught as an Exception")
    assert (clock.samples, clock.stopped, reported) == (8, True, [8])


FIXES = Fixes(["final_softmax", "dropout_rate", "weight_decay", "eval_mode"], 0.7, 0.1, 0.01)


def test_a_what_if_removes_a_final_softmax_before_a_logits_loss_and_weakens_extreme_dropout():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.9), nn.Dropout(0.5), nn.Linear(8, 3), nn.Softmax(1))
    sample = blobs().x_train[:8]
    assert ADAPTER.apply_fixes(model, FIXES, sample, "probabilities", "probabilities") == {
        "dropout_rate": ["Dropout(0.9) -> rate 0.2"]  # a softmax into a probability loss is right
    }
    assert [model[2].p, model[3].p] == [0.2, 0.5] and isinstance(model[5], nn.Softmax)
    assert ADAPTER.apply_fixes(model, FIXES, sample, "probabilities", "logits") == {
        "final_softmax": ["the final Softmax -> removed"]
    }
    assert isinstance(model[5], nn.Identity)
    assert ADAPTER.forward_probe(model, sample).min() < 0  # logits now
    assert ADAPTER.apply_fixes(model, FIXES.only([]), sample, "probabilities", "logits") == {}


def test_a_what_if_weakens_the_students_own_weight_decay_and_puts_each_pass_in_its_mode():
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 3))
    x = torch.as_tensor(blobs().x_train[:4])
    modes = []
    model[1].register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
    with ADAPTER.watch_training_loop(model, ablation=False, clock=LoopClock(60, print), fixes=FIXES) as watch:
        strong = torch.optim.AdamW(model.parameters(), weight_decay=1.0)
        mild = torch.optim.AdamW(model.parameters(), weight_decay=0.01)
        model.eval()
        model(x)  # a training pass left in eval mode: put in train mode
        with torch.no_grad():
            model(x)  # an evaluation pass, now in training mode: put in eval mode
    assert modes == [True, False]
    assert (strong.param_groups[0]["weight_decay"], mild.param_groups[0]["weight_decay"]) == (1e-4, 0.01)
    assert watch.optimizer_weight_decay == 1.0
    assert watch.changed == {
        "weight_decay": ["train()'s optimizer weight decay 1 -> 0.0001"],
        "eval_mode": ["model.eval() for train()'s evaluation passes", "model.train() for train()'s training passes"],
    }


class SoftmaxInForward(nn.Module):
    """A beginner's model: the softmax written in forward(), then trained with nn.CrossEntropyLoss."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(x), dim=1)


def test_a_what_if_takes_the_log_of_a_softmax_written_in_forward_so_cross_entropy_sees_logits():
    model = SoftmaxInForward()
    sample = blobs().x_train[:8]
    probabilities = ADAPTER.forward_probe(model, sample)
    assert ADAPTER.apply_fixes(model, FIXES, sample, "probabilities", "logits") == {
        "final_softmax": ["the softmax in forward() -> its log (logits for the loss)"]
    }
    log_probabilities = ADAPTER.forward_probe(model, sample)
    assert np.allclose(log_probabilities, np.log(probabilities), atol=1e-6)
    assert (log_probabilities.argmax(1) == probabilities.argmax(1)).all()  # the same predictions
    # Cross-entropy on them is the loss of the model without its softmax: log-softmax of log-probabilities.
    x, y = torch.as_tensor(sample), torch.as_tensor(blobs().y_train[:8])
    undone = nn.functional.cross_entropy(model(x), y)
    assert torch.isclose(undone, nn.functional.cross_entropy(model.fc(x), y), atol=1e-5)
