"""Reference solution in PyTorch, written against the student contract (see README.md).

Single-layer models are softmax regression: one Linear layer, the softmax lives in the loss.
Multi-layer models have one hidden ReLU layer. The MNIST one is strong enough to overfit 50,000
digits, so it is regularized the way the lesson teaches: dropout after the hidden layer, and early
stopping on the validation loss with the best weights restored.
"""

from torch import nn

HYPERPARAMS = {
    "iris": {"epochs": 100, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.01},
    "mnist": {"epochs": 10, "batch_size": 64, "optimizer": "adam", "learning_rate": 1e-3},
    "mnist/multi": {"early_stopping": {"monitor": "val_loss", "patience": 3, "restore_best_weights": True}},
}

SIZES = {"iris": (4, 3), "mnist": (28 * 28, 10)}


def build_model(problem: str, variant: str) -> nn.Module:
    n_inputs, n_classes = SIZES[problem]
    if variant == "single":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, n_classes))
    if problem == "iris":
        return nn.Sequential(nn.Linear(n_inputs, 16), nn.ReLU(), nn.Linear(16, n_classes))
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_inputs, 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, n_classes),
    )
