"""The catalogue of classic mistakes every ``Finding.kind`` comes from: the title a report shows and the
default advice. Apart from the detectors (``grader.mistakes``), so scoring reads it without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """A classic mistake as a report names it: a short check title, and the default advice."""

    title: str
    hint: str


MISTAKES: dict[str, Mistake] = {
    "softmax_before_cross_entropy": Mistake(
        "Softmax applied before CrossEntropyLoss",
        "remove the final nn.Softmax (or F.softmax): nn.CrossEntropyLoss applies log-softmax itself, so the "
        "model should output the raw scores (logits); apply softmax only where you need probabilities",
    ),
    "logits_into_probability_loss": Mistake(
        "Logits fed to a loss that expects probabilities",
        "give the last Dense layer activation='softmax', or keep it linear and compile with "
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True) (CategoricalCrossentropy for one-hot labels)",
    ),
    "validation_on_training_data": Mistake(
        "Validation or test accuracy measured on the training data",
        "measure validation and test accuracy on data the model never trains on: split off a validation set "
        "(train_test_split, or validation_split= in fit) and evaluate on it and on the test set, not on X_train",
    ),
    "scaler_fitted_before_split": Mistake(
        "Scaler fitted on all the data before the split",
        "split first, then fit the scaler on the training rows only: X_train = scaler.fit_transform(X_train), "
        "X_test = scaler.transform(X_test)",
    ),
    "unshuffled_split": Mistake(
        "Train/test split without shuffling",
        "drop shuffle=False from train_test_split (it shuffles by default); pass stratify=y and a random_state "
        "for a balanced, reproducible split",
    ),
    "unscaled_pixels": Mistake(
        "Pixels fed in unscaled (0 to 255)",
        "divide the pixel values by 255.0 (or use transforms.ToTensor(), which does) so the inputs lie between 0 and 1",
    ),
    "loss_class_not_instance": Mistake(
        "Loss class used instead of a loss object",
        "call the class to make the loss first, then call the loss on the data: criterion = nn.CrossEntropyLoss(), "
        "loss = criterion(outputs, labels)",
    ),
    "not_mnist": Mistake(
        "A different data set than MNIST",
        "load the MNIST digits: torchvision.datasets.MNIST or keras.datasets.mnist, not Fashion-MNIST, EMNIST "
        "or KMNIST",
    ),
    "hard_coded_gpu": Mistake(
        "GPU required: the code fails without one",
        "choose the device when the code runs: device = 'cuda' if torch.cuda.is_available() else 'cpu', then "
        "model.to(device) and tensor.to(device) instead of .cuda()",
    ),
    "keras2_leftovers": Mistake(
        "Keras 2 code that Keras 3 no longer runs",
        "update it to the Keras 3 API: keras.utils.to_categorical, history.history['accuracy'], "
        "learning_rate= for optimizers, np.argmax(model.predict(x), axis=1) for predict_classes",
    ),
    "stale_kernel": Mistake(
        "Notebook only runs in the order its cells were run",
        "make the notebook run from top to bottom: move each cell below the cells it needs, then check with "
        "Kernel > Restart & Run All",
    ),
}
