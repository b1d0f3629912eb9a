"""The four reference models trained the plain way, the yardstick for the grader's own cost.

What a careful student's script does with the PyTorch reference's models and hyperparameters: load the
same data splits, train each model with mini-batches, evaluate validation loss and accuracy after each
epoch, stop the MNIST multi-layer model early on validation loss (patience 3, best weights restored), and
measure test accuracy. No sandbox, no probes, no ablation, no report.

    python benchmarks/plain_training.py [--quick] [--data-dir DIR]

Prints each model's test accuracy and the seconds it took, as JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))

from torch_solution import HYPERPARAMS, build_model

from grader.data import load_problem

QUICK_MNIST_EPOCHS = 3  # the default rubric's budget in --quick mode


def settings(problem: str, variant: str) -> dict:
    return {**HYPERPARAMS[problem], **HYPERPARAMS.get(f"{problem}/{variant}", {})}


def tensors(problem: str, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(x, dtype=torch.float32)
    return (x / 255 if problem == "mnist" else x), torch.as_tensor(y, dtype=torch.long)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.inference_mode():
        out = model(x)
        return nn.functional.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()


def train(problem: str, variant: str, data, quick: bool) -> float:
    torch.manual_seed(0)
    hp = settings(problem, variant)
    epochs = min(hp["epochs"], QUICK_MNIST_EPOCHS) if quick and problem == "mnist" else hp["epochs"]
    x, y = tensors(problem, data.x_train, data.y_train)
    x_val, y_val = tensors(problem, data.x_val, data.y_val)
    model = build_model(problem, variant)
    optimizer = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"])
    patience = hp.get("early_stopping", {}).get("patience")
    best, best_state, waited = float("inf"), None, 0
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(x)).split(hp["batch_size"]):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
        val_loss, _ = evaluate(model, x_val, y_val)
        if patience is not None:
            if val_loss < best:
                best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return evaluate(model, *tensors(problem, data.x_test, data.y_test))[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    results = {}
    for problem in ("iris", "mnist"):
        data = load_problem(problem, quick=args.quick, data_dir=args.data_dir)
        for variant in ("single", "multi"):
            started = time.perf_counter()
            accuracy = train(problem, variant, data, args.quick)
            results[f"{problem}/{variant}"] = {"test_accuracy": accuracy, "seconds": time.perf_counter() - started}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
