"""PyTorch: the grader's own training loop, fast on any device.

Data lives as tensors on the training device and is batched by indexing with a shuffled permutation,
so there is no DataLoader, no per-sample Python and no host-to-device copy per batch.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
LAYER_KINDS: tuple[tuple[tuple[type[nn.Module], ...], LayerKind], ...] = (
    ((nn.Linear, nn.Bilinear, nn.LazyLinear), "dense"),
    (DROPOUT_TYPES, "dropout"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LazyBatchNorm1d), "batchnorm"),
    ((nn.LayerNorm, nn.GroupNorm), "layernorm"),
    ((nn.Flatten, nn.Unflatten, nn.Identity), "flatten"),
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d), "conv"),
    ((nn.RNNBase, nn.RNNCellBase), "recurrent"),
    (
        (
            nn.ReLU,
            nn.LeakyReLU,
            nn.ELU,
            nn.SELU,
            nn.GELU,
            nn.SiLU,
            nn.Sigmoid,
            nn.Tanh,
            nn.Softmax,
            nn.LogSoftmax,
            nn.Softplus,
            nn.Mish,
            nn.PReLU,
            nn.ReLU6,
            nn.Hardtanh,
            nn.Softsign,
        ),
        "activation",
    ),
)


class TorchAdapter:
    framework = "torch"

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)

    def select_device(self, requested: str) -> str:
        """auto: CUDA, then Apple MPS, else the CPU."""
        mps = getattr(torch.backends, "mps", None)
        has_mps = bool(mps and mps.is_available())
        if requested == "cuda" and not torch.cuda.is_available():
            raise ModelError(
                "device",
                "--device cuda was asked for, but PyTorch sees no CUDA GPU",
                "use --device auto or cpu, or install a CUDA build of PyTorch",
            )
        if requested in ("cuda", "auto") and torch.cuda.is_available():
            name = "cuda"
        elif requested == "auto" and has_mps:
            name = "mps"
        else:
            name = "cpu"
        self.device = torch.device(name)
        return name

    def prepare(self, model: nn.Module, device: str) -> nn.Module:
        return model.to(device)

    def forward_probe(self, model: nn.Module, x: np.ndarray) -> np.ndarray:
        """Leaves the model in the mode it was in: a student's train() may rely on a new model training."""
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = model(self._tensor(x, _device_of(model, self.device)))
        finally:
            model.train(was_training)
        return _numpy(out)

    def fit(
        self,
        model: nn.Module,
        data: TrainingData,
        plan: TrainingPlan,
        *,
        output: ModelOutput,
        callbacks: Sequence[Any],
        on_epoch: EpochCallback,
    ) -> FitResult:
        """The grader's own loop, for a model without a ``train()``: shuffled mini-batches, validation after
        each epoch, early stopping with Keras' semantics (the best weights restored where asked), and the time
        budget checked between batches, so a slow model is graded on the epochs it finished."""
        x, y = self._tensor(data.x_train), self._labels(data.y_train)
        x_val, y_val = self._tensor(data.x_val), self._labels(data.y_val)
        loss_fn = _loss_for(output)
        optimizer = OPTIMIZERS[plan.optimizer](
            model.parameters(), lr=plan.learning_rate, weight_decay=plan.weight_decay
        )
        shuffler = torch.Generator().manual_seed(data.seed)
        stopper = EarlyStopper(plan.early_stopping) if plan.early_stopping else None
        restore = bool(plan.early_stopping and plan.early_stopping.restore_best_weights)
        best_state: dict[str, torch.Tensor] | None = None
        deadline = Deadline(plan.max_seconds)
        history: list[EpochRecord] = []
        stop_reason: StopReason = "completed"
        for epoch in range(1, plan.epochs + 1):
            started = time.perf_counter()
            order = torch.randperm(len(x), generator=shuffler).to(self.device)
            loss, accuracy, out_of_time = self._train_epoch(model, (x, y), order, optimizer, loss_fn, plan, deadline)
            val_loss, val_acc = self._evaluate(model, x_val, y_val, loss_fn)
            record = EpochRecord(epoch, loss, accuracy, val_loss, val_acc, time.perf_counter() - started)
            history.append(record)
            on_epoch(record)
            check_finite(record)
            stop_reason = "time_budget" if out_of_time else "completed"
            if stopper:
                improved, should_stop = stopper.update(record)
                if improved and restore:
                    best_state = copy.deepcopy(model.state_dict())
                stop_reason = "early_stopping" if should_stop else stop_reason
            if stop_reason != "completed":
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        return FitResult(history, stop_reason, stopper.best_epoch if stopper else None)

    def _train_epoch(
        self,
        model: nn.Module,
        train: tuple[torch.Tensor, torch.Tensor],
        order: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        loss_fn: Any,
        plan: TrainingPlan,
        deadline: Deadline,
    ) -> tuple[float, float, bool]:
        """One pass over the training set in ``order``: its mean loss and accuracy over the batches seen, the way
        Keras reports them, and whether the budget ran out before the pass ended. The sums stay on the device:
        reading one back each batch would wait for the GPU."""
        model.train()
        x, y = train
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for start in range(0, len(x), plan.batch_size):
            index = order[start : start + plan.batch_size]
            xb, yb = x[index], y[index]
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(index)
            correct += (out.detach().argmax(dim=1) == yb).sum()
            seen += len(index)
            if deadline.passed():
                return total_loss.item() / seen, correct.item() / seen, True
        return total_loss.item() / seen, correct.item() / seen, False

    def predict(self, model: nn.Module, x: np.ndarray) -> np.ndarray:
        """Class indices in eval mode; the model is left in the mode it was in (a student's own loop that
        never calls ``model.train()`` trains as it would have without the grader's look)."""
        training = model.training
        model.eval()
        device = _device_of(model, self.device)
        try:
            with torch.inference_mode():
                parts = [
                    model(self._tensor(x[i : i + EVAL_BATCH], device)).argmax(dim=1).cpu()
                    for i in range(0, len(x), EVAL_BATCH)
                ]
        finally:
            model.train(training)
        return torch.cat(parts).numpy()

    def describe(self, model: nn.Module, sample: np.ndarray) -> tuple[int, list[LayerInfo]]:
        leaves = [m for m in model.modules() if not any(True for _ in m.children())]
        ordered = _in_forward_order(model, leaves, self._tensor(sample, _device_of(model, self.device)))
        return sum(p.numel() for p in model.parameters()), [_describe_layer(m) for m in ordered]

    def callback_early_stopping(self, callbacks: Sequence[Any]) -> EarlyStoppingSpec | None:
        return None  # PyTorch has no callback convention; early stopping comes from HYPERPARAMS.

    def loss_expects(self, model: nn.Module) -> ModelOutput | None:
        return None  # a PyTorch model carries no loss: the grader or the student's train() picks it

    def disable_regularization(self, model: nn.Module, callbacks: Sequence[Any]) -> tuple[list[str], list[Any]]:
        switched = []
        for module in model.modules():
            if isinstance(module, DROPOUT_TYPES) and module.p > 0:
                switched.append(f"{type(module).__name__}({module.p:g}) -> rate 0")
                module.p = 0.0
        return switched, list(callbacks)

    def apply_fixes(
        self, model: nn.Module, fixes: Fixes, sample: np.ndarray, output: ModelOutput, loss_expects: ModelOutput | None
    ) -> Changes:
        """The model's own mistakes: a last ``nn.Softmax`` before a loss that takes logits becomes an identity,
        and a softmax written in ``forward()`` has its log taken (cross-entropy on log(softmax(z)) trains as on
        z: log-softmax of log-probabilities changes nothing); dropout past the limit becomes 0.2. A
        ``LogSoftmax`` before cross-entropy is left alone, for the same reason."""
        changed: Changes = {}
        if fixes.wants("final_softmax") and output == "probabilities" and loss_expects == "logits":
            leaves = [m for m in model.modules() if not any(True for _ in m.children())]
            called = _called(model, leaves, self._tensor(sample, _device_of(model, self.device)))
            last = called[-1] if called else None
            if isinstance(last, nn.Softmax) and _replace_module(model, last, nn.Identity()):
                changed["final_softmax"] = ["the final Softmax -> removed"]
            elif not isinstance(last, nn.Softmax):
                model.register_forward_hook(_log_of_output)
                changed["final_softmax"] = ["the softmax in forward() -> its log (logits for the loss)"]
        if fixes.wants("dropout_rate"):
            for module in model.modules():
                if isinstance(module, DROPOUT_TYPES) and module.p > fixes.dropout_rate:
                    changed.setdefault("dropout_rate", []).append(
                        f"{type(module).__name__}({module.p:g}) -> rate {FIXED_DROPOUT:g}"
                    )
                    module.p = FIXED_DROPOUT
        return changed

    @contextlib.contextmanager
    def watch_training_loop(
        self, model: nn.Module, ablation: bool, clock: LoopClock, fixes: Fixes | None = None
    ) -> Iterator[LoopWatch]:
        """Count passes made in the wrong mode and the samples of training passes, see the optimizers the
        loop creates, and stop the loop at the budget before its next pass.

        An evaluation pass (gradients off) in training mode has dropout on while the student measures
        validation accuracy; a training pass (gradients on) in eval mode learns with dropout off. A what-if
        with ``eval_mode`` puts each pass in the right mode before it runs; with ``weight_decay`` it sets an
        optimizer's weight decay past the limit to 1e-4, as an ablation sets every one to 0.
        """
        watch = LoopWatch(evaluated_in_training_mode=0, trained_in_eval_mode=0, optimizer_weight_decay=0.0)
        fix_modes = fixes is not None and fixes.wants("eval_mode")
        decay_limit, decay_to = (0.0, 0.0) if ablation else (math.inf, 0.0)  # an ablation: every decay to 0
        if fixes is not None and fixes.wants("weight_decay"):  # a what-if: only past the limit, to 1e-4
            decay_limit, decay_to = fixes.weight_decay, FIXED_DECAY
        observed_init = _optimizer_watch(
            watch, torch.optim.Optimizer.__init__, decay_limit, decay_to, said=fixes is not None
        )
        handle = model.register_forward_pre_hook(_pass_watch(watch, clock, fix_modes))
        try:
            with replaced(torch.optim.Optimizer, "__init__", observed_init):
                yield watch
        finally:
            handle.remove()
            if fix_modes and _mode_changes(watch):
                watch.changed["eval_mode"] = _mode_changes(watch)

    def _evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Any) -> tuple[float, float]:
        """Validation loss and accuracy in inference mode, in large batches."""
        model.eval()
        total_loss, correct = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(x), EVAL_BATCH):
                out = model(x[start : start + EVAL_BATCH])
                target = y[start : start + EVAL_BATCH]
                total_loss += loss_fn(out, target).item() * len(target)
                correct += (out.argmax(dim=1) == target).sum().item()
        return total_loss / len(x), correct / len(x)

    def _tensor(self, x: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device or self.device)

    def _labels(self, y: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)


def _log_of_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    """A what-if's hook: the model's probabilities as log-probabilities, which a logits loss takes as they are."""
    return _log_probabilities(output)


def _log_probabilities(probabilities: torch.Tensor) -> torch.Tensor:
    """Clamped first: a probability that underflowed to 0 is no log of -inf."""
    return torch.log(probabilities.clamp_min(1e-7))


def _pass_watch(watch: LoopWatch, clock: LoopClock, fix_modes: bool) -> Callable[[nn.Module, Any], None]:
    """The model's forward pre-hook for a student's loop: the clock's check and count before each pass, the
    pass's mode compared with whether gradients are on (what the pass is for), and, for a what-if that fixes
    eval mode, the model put in the right mode before the pass runs."""

    def count(module: nn.Module, inputs: Any) -> None:
        clock.check()
        training_pass = torch.is_grad_enabled()
        if training_pass and inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].ndim:
            clock.trained(len(inputs[0]))
        if module.training and not training_pass:
            watch.evaluated_in_training_mode = (watch.evaluated_in_training_mode or 0) + 1
        elif not module.training and training_pass:
            watch.trained_in_eval_mode = (watch.trained_in_eval_mode or 0) + 1
        if fix_modes and module.training != training_pass:
            module.train(training_pass)

    return count


def _optimizer_watch(
    watch: LoopWatch, original_init: Callable[..., None], limit: float, to: float, *, said: bool
) -> Callable[..., None]:
    """``Optimizer.__init__`` while a student's loop runs: every optimizer it creates has its largest weight
    decay noted, and a decay past ``limit`` set to ``to`` (an ablation's 0, a what-if's usual value); where
    ``said``, the change is recorded for the report."""

    def observed_init(optimizer: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
        original_init(optimizer, *args, **kwargs)
        for group in optimizer.param_groups:
            decay = float(group.get("weight_decay", 0.0) or 0.0)
            watch.optimizer_weight_decay = max(watch.optimizer_weight_decay or 0.0, decay)
            if decay > limit:
                group["weight_decay"] = to
                if said:
                    changes = watch.changed.setdefault("weight_decay", [])
                    change = f"train()'s optimizer weight decay {decay:g} -> {to:g}"
                    changes += [change] if change not in changes else []

    return observed_init


def _loss_for(output: str) -> Any:
    """Cross-entropy that matches what the model ends in, so a softmax output is not softmaxed twice."""
    if output == "probabilities":
        return lambda out, y: F.nll_loss(_log_probabilities(out), y)
    if output == "log_probabilities":
        return F.nll_loss
    return F.cross_entropy


def _device_of(model: nn.Module, default: torch.device) -> torch.device:
    """A student's own train() may have moved the model; predict where it now lives."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else default


def _numpy(out: Any) -> np.ndarray:
    if not isinstance(out, torch.Tensor):
        raise ModelError(
            "bad_output",
            f"forward() returned {type(out).__name__}, not a tensor",
            "return the output tensor of the last layer from forward()",
        )
    return out.detach().float().cpu().numpy()


def _in_forward_order(model: nn.Module, leaves: list[nn.Module], sample: torch.Tensor) -> list[nn.Module]:
    """Leaf modules in the order a forward pass calls them; modules it never calls come last, in
    registration order. ``forward()`` may use its modules in any order, so registration is not enough."""
    first_calls = list(dict.fromkeys(_called(model, leaves, sample)))
    return first_calls + [leaf for leaf in leaves if leaf not in first_calls]


def _called(model: nn.Module, leaves: list[nn.Module], sample: torch.Tensor) -> list[nn.Module]:
    """Every call of a leaf module in one forward pass over ``sample`` in eval mode, in order."""
    called: list[nn.Module] = []
    handles = [leaf.register_forward_pre_hook(lambda module, inputs: called.append(module)) for leaf in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(sample)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return called


def _replace_module(model: nn.Module, old: nn.Module, new: nn.Module) -> bool:
    """Put ``new`` where ``old`` is registered in ``model``; False when ``old`` is the model itself."""
    for name, module in model.named_modules():
        if module is old and name:
            parent_name, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, attribute, new)
            return True
    return False


def _mode_changes(watch: LoopWatch) -> list[str]:
    """What putting each pass in the right mode changed, in words; nothing when every pass already was."""
    changes = []  # no counts: once a pass is put right, the passes after it may already be in the right mode
    if watch.evaluated_in_training_mode:
        changes.append("model.eval() for train()'s evaluation passes")
    if watch.trained_in_eval_mode:
        changes.append("model.train() for train()'s training passes")
    return changes


def _describe_layer(module: nn.Module) -> LayerInfo:
    name = type(module).__name__
    kind: LayerKind = next((k for types, k in LAYER_KINDS if isinstance(module, types)), "other")
    if kind == "dense":
        return LayerInfo(kind, name, units=getattr(module, "out_features", None))
    if isinstance(module, DROPOUT_TYPES):
        return LayerInfo(kind, name, rate=float(module.p))
    if kind == "activation":
        return LayerInfo(kind, name, activation=name.lower())
    return LayerInfo(kind, name)


ADAPTER = TorchAdapter()
