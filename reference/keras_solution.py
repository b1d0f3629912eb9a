"""Reference solution in Keras 3, written against the student contract (see README.md).

The same four models as the PyTorch reference, built the Keras way: ``Sequential`` models compiled
with their own optimizer and loss, and early stopping as a callback.
"""

import keras
from keras import layers

HYPERPARAMS = {
    "iris": {"epochs": 100, "batch_size": 16},
    "mnist": {"epochs": 10, "batch_size": 64},
}

SHAPES = {"iris": ((4,), 3), "mnist": ((28, 28), 10)}
LEARNING_RATES = {"iris": 0.01, "mnist": 1e-3}


def build_model(problem: str, variant: str) -> keras.Model:
    input_shape, n_classes = SHAPES[problem]
    stack = [keras.Input(shape=input_shape), layers.Flatten()]
    if variant == "multi" and problem == "iris":
        stack.append(layers.Dense(16, activation="relu"))
    elif variant == "multi":
        stack += [layers.Dense(256, activation="relu"), layers.Dropout(0.2)]
    stack.append(layers.Dense(n_classes))
    model = keras.Sequential(stack, name=f"{problem}_{variant}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATES[problem]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def callbacks(problem: str, variant: str) -> list:
    if (problem, variant) == ("mnist", "multi"):
        return [keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)]
    return []
