"""My submission for the Iris + MNIST classification assignment.

The grader imports this file and calls ``build_model(problem, variant)`` four times:

    problem  "iris"  : 4 features per flower (standardised), 3 classes
             "mnist" : 28x28 grey images with pixels in [0, 1], 10 classes
    variant  "single": no hidden layer (softmax regression)
             "multi" : one or more hidden layers with a non-linearity between them

It retrains each model itself, with a fixed seed, and scores its accuracy on test data you never
see against a reference solution, plus the gap between training and validation accuracy (how much
the model overfits). Check your work any time with:

    grade submission.py --quick      # about 15 seconds: a fifth of MNIST, 3 epochs
    grade submission.py              # the real grade: full data and your epochs

Until you fill in a part, the grader says so for each model it concerns ("build_model('mnist', 'multi')
is not written yet: ... mnist/multi is still the template's TODO") and gives it no points.

This template is written with PyTorch. Keras works the same way: return a ``keras.Model`` from
``build_model`` instead (compiled with your optimizer and loss if you like), and optionally define
``callbacks(problem, variant)`` returning e.g. ``[keras.callbacks.EarlyStopping(...)]``.
"""

from torch import nn

# Optional. Keys: epochs, batch_size, optimizer ("adam", "adamw", "sgd", "rmsprop", "adagrad"),
# learning_rate, weight_decay, early_stopping (True, a patience, or
# {"monitor": "val_loss", "patience": 3, "restore_best_weights": True}).
# Key a dict by problem ("mnist") or by problem and variant ("mnist/multi"); the more specific wins.
# Anything you leave out comes from the grader's defaults (see `grade rubric`).
# TODO (Part 3): choose epochs, batch size and learning rate, e.g. "iris": {"epochs": 100, ...}.
HYPERPARAMS: dict[str, dict] = {}

N_FEATURES = {"iris": 4, "mnist": 28 * 28}
N_CLASSES = {"iris": 3, "mnist": 10}


def single_layer(problem: str, n_inputs: int, n_classes: int) -> nn.Module:
    """Part 1: softmax regression, one Linear layer from the (flattened) inputs to the class scores.

    End in logits (no softmax): the grader's loss applies the softmax.
    """
    # TODO: return nn.Sequential(nn.Flatten(), nn.Linear(...))
    raise NotImplementedError(f"{problem}/single is still the template's TODO (Part 1)")


def multi_layer(problem: str, n_inputs: int, n_classes: int) -> nn.Module:
    """Part 2: one or more hidden layers, each followed by a non-linearity, then the output layer.

    Without the non-linearity, stacked Linear layers are still one linear map, no better than Part 1.
    """
    # TODO: nn.Flatten(), then nn.Linear(n_inputs, hidden), nn.ReLU(), ..., nn.Linear(hidden, n_classes).
    # A few dozen hidden units are plenty for Iris; try 128 or 256 for MNIST.
    # TODO (Part 4): this network can overfit MNIST (training accuracy far above validation accuracy). Add one
    # of the remedies from the lesson and watch the train/validation gap in the grader's report:
    #   - dropout after the hidden activation: nn.Dropout(0.2)
    #   - weight decay: HYPERPARAMS["mnist/multi"] = {"weight_decay": 1e-4}
    #   - stopping early: HYPERPARAMS["mnist/multi"] = {"early_stopping": True}
    raise NotImplementedError(f"{problem}/multi is still the template's TODO (Part 2)")


def build_model(problem: str, variant: str) -> nn.Module:
    """Return a new, untrained model. The grader trains it; don't train it here."""
    n_inputs, n_classes = N_FEATURES[problem], N_CLASSES[problem]
    if variant == "single":
        return single_layer(problem, n_inputs, n_classes)
    return multi_layer(problem, n_inputs, n_classes)


# Optional, for the low-level API: write your own training loop and the grader uses it instead of its
# own. It gets the model, the training and validation data (data.x_train, data.y_train, data.x_val,
# data.y_val as NumPy arrays, data.device) and the resolved hyperparameters as a dict. Return a dict of
# per-epoch lists ({"loss": [...], "val_accuracy": [...]}) to see your curves in the report.
#
# def train(model, data, hparams):
#     import torch
#     x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
#     optimizer = torch.optim.Adam(model.parameters(), lr=hparams["learning_rate"])
#     for epoch in range(hparams["epochs"]):
#         ...
