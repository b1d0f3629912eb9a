"""One training epoch of a 784-128-10 MLP on 50,000 MNIST digits: the grader's PyTorch adapter against
Keras ``fit`` (through the grader's Keras adapter, which is ``fit`` plus bookkeeping) and against plain
loops, side by side in one run, on this machine.

    python benchmarks/epoch_speed.py [--data-dir ../shared/data] [--epochs 2] [--batch-sizes 64,256]

Prints a table: seconds per epoch (best of the measured epochs, after one warm-up epoch) and samples/s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import describe_machine

from grader.adapters import TrainingData
from grader.data import load_problem
from grader.records import TrainingPlan


def plan(batch_size: int, epochs: int) -> TrainingPlan:
    return TrainingPlan(epochs, batch_size, "adam", 1e-3, 0.0, None, max_seconds=3600.0)


def torch_adapter(data: TrainingData, batch_size: int, epochs: int) -> list[float]:
    import torch
    from torch import nn

    from grader.adapters.torch_adapter import ADAPTER

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    result = ADAPTER.fit(model, data, plan(batch_size, epochs), output="logits", callbacks=[], on_epoch=lambda r: None)
    return [record.seconds for record in result.history]


def torch_plain_loop(data: TrainingData, batch_size: int, epochs: int) -> list[float]:
    """The textbook loop: a DataLoader over a TensorDataset, no validation."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(
        TensorDataset(torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)), batch_size=batch_size, shuffle=True
    )
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times


def keras_adapter(data: TrainingData, batch_size: int, epochs: int) -> list[float]:
    import keras

    from grader.adapters.keras_adapter import ADAPTER

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    result = ADAPTER.fit(model, data, plan(batch_size, epochs), output="logits", callbacks=[], on_epoch=lambda r: None)
    return [record.seconds for record in result.history]


def keras_plain_fit(data: TrainingData, batch_size: int, epochs: int) -> list[float]:
    """``model.fit`` as a Keras user calls it, with validation data."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - self.started)

    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        callbacks=[Timer()],
    )
    return times


CONTENDERS: dict[str, Callable[[TrainingData, int, int], list[float]]] = {
    "grader PyTorch adapter (with validation)": torch_adapter,
    "plain PyTorch DataLoader loop (no validation)": torch_plain_loop,
    "grader Keras adapter (fit + bookkeeping)": keras_adapter,
    "plain Keras fit (with validation)": keras_plain_fit,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs after one warm-up epoch")
    parser.add_argument("--batch-sizes", default="64,256")
    arguments = parser.parse_args()
    mnist = load_problem("mnist", data_dir=arguments.data_dir)
    x = (mnist.x_train.astype(np.float32) / 255).reshape(-1, 784)
    x_val = (mnist.x_val.astype(np.float32) / 255).reshape(-1, 784)
    data = TrainingData("mnist", 10, x, mnist.y_train, x_val, mnist.y_val)
    print(f"machine: {describe_machine()}")
    print(f"data: {len(x):,} training + {len(x_val):,} validation digits, model 784-128-10, Adam 1e-3")
    print(f"{'contender':<48} {'batch':>5} {'s/epoch':>8} {'samples/s':>10}")
    for batch_size in (int(b) for b in arguments.batch_sizes.split(",")):
        for name, run in CONTENDERS.items():
            seconds = min(run(data, batch_size, arguments.epochs + 1)[1:])
            print(f"{name:<48} {batch_size:>5} {seconds:>8.2f} {len(x) / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
