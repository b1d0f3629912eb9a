"""PyTorch: the grader's own training loop, fast on any device.

Data lives as tensors on the training device and is batched by indexing with a shuffled permutation,
so there is no DataLoader, no per-sample Python and no host-to-device copy per batch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from grader.adapters import (
    EVAL_BATCH,
    Deadline,
    EarlyStopper,
    EpochCallback,
    FitResult,
    ModelError,
    TrainingData,
    check_finite,
)
from grader.records import EarlyStoppingSpec, EpochRecord, LayerInfo, TrainingPlan

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
LAYER_KINDS: tuple[tuple[tuple[type[nn.Module], ...], str], ...] = (
    ((nn.Linear, nn.Bilinear, nn.LazyLinear), "dense"),
    ((nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout), "dropout"),
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
        model.eval()
        with torch.inference_mode():
            out = model(self._tensor(x))
        return _numpy(out)

    def fit(
        self,
        model: nn.Module,
        data: TrainingData,
        plan: TrainingPlan,
        *,
        output: str,
        callbacks: Sequence[Any],
        on_epoch: EpochCallback,
    ) -> FitResult:
        x, y = self._tensor(data.x_train), self._labels(data.y_train)
        x_val, y_val = self._tensor(data.x_val), self._labels(data.y_val)
        loss_fn = _loss_for(output)
        optimizer = OPTIMIZERS[plan.optimizer](
            model.parameters(), lr=plan.learning_rate, weight_decay=plan.weight_decay
        )
        shuffler = torch.Generator().manual_seed(data.seed)
        stopper = EarlyStopper(plan.early_stopping) if plan.early_stopping else None
        best_state: dict[str, torch.Tensor] | None = None
        deadline = Deadline(plan.max_seconds)
        history: list[EpochRecord] = []
        stop_reason = "completed"
        n = len(x)
        for epoch in range(1, plan.epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=shuffler).to(self.device)
            total_loss = torch.zeros((), device=self.device)
            correct = torch.zeros((), device=self.device, dtype=torch.long)
            seen = 0
            for start in range(0, n, plan.batch_size):
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
                    stop_reason = "time_budget"
                    break
            val_loss, val_acc = self._evaluate(model, x_val, y_val, loss_fn)
            record = EpochRecord(
                epoch, total_loss.item() / seen, correct.item() / seen, val_loss, val_acc, time.perf_counter() - started
            )
            history.append(record)
            on_epoch(record)
            check_finite(record)
            if stopper:
                improved, should_stop = stopper.update(record)
                if improved and plan.early_stopping and plan.early_stopping.restore_best_weights:
                    best_state = copy.deepcopy(model.state_dict())
                if should_stop:
                    stop_reason = "early_stopping"
            if stop_reason != "completed":
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        return FitResult(history, stop_reason, stopper.best_epoch if stopper else None)

    def predict(self, model: nn.Module, x: np.ndarray) -> np.ndarray:
        model.eval()
        device = _device_of(model, self.device)
        with torch.inference_mode():
            parts = [
                model(self._tensor(x[i : i + EVAL_BATCH], device)).argmax(dim=1).cpu()
                for i in range(0, len(x), EVAL_BATCH)
            ]
        return torch.cat(parts).numpy()

    def describe(self, model: nn.Module) -> tuple[int, list[LayerInfo]]:
        layers = [_describe_layer(m) for m in model.modules() if not any(True for _ in m.children())]
        return sum(p.numel() for p in model.parameters()), layers

    def callback_early_stopping(self, callbacks: Sequence[Any]) -> EarlyStoppingSpec | None:
        return None  # PyTorch has no callback convention; early stopping comes from HYPERPARAMS.

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


def _loss_for(output: str) -> Any:
    """Cross-entropy that matches what the model ends in, so a softmax output is not softmaxed twice."""
    if output == "probabilities":
        return lambda out, y: F.nll_loss(torch.log(out.clamp_min(1e-7)), y)
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


def _describe_layer(module: nn.Module) -> LayerInfo:
    name = type(module).__name__
    kind = next((k for types, k in LAYER_KINDS if isinstance(module, types)), "other")
    if kind == "dense":
        return LayerInfo(kind, name, units=getattr(module, "out_features", None))
    if kind == "dropout":
        return LayerInfo(kind, name, rate=float(module.p))
    if kind == "activation":
        return LayerInfo(kind, name, activation=name.lower())
    return LayerInfo(kind, name)


ADAPTER = TorchAdapter()
