"""The frameworks the grader knows, as data: one entry each, read by every stage that needs a fact about one.

Loading reads which imports mean a framework, the bundle which of the grader's extras install it, the sandbox
which environment variables it needs, the worker where its adapter lives and which libraries to report, and
scoring the framework's own words for its advice. So a new framework is its adapter module
(``grader/adapters/<name>_adapter.py``) and an entry here, with its extra in pyproject.toml. This module
imports no framework and nothing of the grader: the scorer and the parent process read it without loading
either.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Terms:
    """A framework's words for what the scoring hints advise, each a phrase or a sentence in its API."""

    model: str  # the model class a build_model returns
    model_example: str  # one way to build one
    activation: str  # a hidden layer's ReLU
    dropout: str  # a dropout layer at the usual rate
    stop_early: str  # how to switch early stopping on
    restore_best_weights: str  # how early stopping keeps the best epoch's weights
    regularize: str  # what to add to a model with no regularization at all
    dropout_off_at_inference: str  # how to have dropout off when predicting
    train_in_training_mode: str  # how a loop trains with dropout on (it trained in eval mode)
    evaluate_in_eval_mode: str  # how a loop evaluates with dropout off (it evaluated in training mode)
    no_double_softmax: str  # a final softmax into a loss that applies softmax again
    loss_for_output: str  # a loss that expects other outputs than the model's


@dataclass(frozen=True)
class Framework:
    """One framework: how each stage recognises it, installs it, walls it in and speaks of it."""

    name: str
    model_module: str  # where its model classes live: a model's most derived class from one names its framework
    adapter: str  # the module holding its ``ADAPTER``, imported only once a model of it is graded
    imports: tuple[str, ...]  # top-level imports that mean a submission uses it (``grade framework``)
    terms: Terms
    # Other imports that need one of the grader's extras beside this framework (pyproject.toml's
    # optional-dependencies), by top-level module: import name -> extra.
    import_extras: dict[str, str] = field(default_factory=dict)
    bundle_extras: tuple[str, ...] = ()  # the grader's extras a Gradescope image installs for it
    libraries: tuple[str, ...] = ()  # distributions whose versions a report lists, when the submission loaded them
    passed_environment: tuple[str, ...] = ()  # the grader's variables the worker keeps (a backend's choice)
    environment: dict[str, str] = field(default_factory=dict)  # set in the worker; ``{home}``, ``{threads}`` filled in


TORCH = Framework(
    name="torch",
    model_module="torch.nn",
    adapter="grader.adapters.torch_adapter",
    imports=("torch",),
    import_extras={"torchvision": "torchvision", "lightning": "lightning", "pytorch_lightning": "lightning"},
    # The starter's PyTorch students load MNIST with torchvision.datasets.MNIST: one image grades every
    # submission, so it carries torchvision too (its CPU build is small beside torch's).
    bundle_extras=("torch", "torchvision"),
    libraries=("torch",),
    terms=Terms(
        model="torch.nn.Module",
        model_example="nn.Sequential(...)",
        activation="nn.ReLU()",
        dropout="nn.Dropout(0.2)",
        stop_early='set "early_stopping": True in HYPERPARAMS',
        restore_best_weights='set "restore_best_weights": True in HYPERPARAMS\' early_stopping',
        regularize='add nn.Dropout(0.2) after the hidden activation, or "weight_decay": 1e-4 or "early_stopping": '
        "True to its HYPERPARAMS",
        dropout_off_at_inference="use nn.Dropout modules, which model.eval() turns off; F.dropout(x, p) is on "
        "unless you pass training=self.training",
        train_in_training_mode="call model.train() before each training epoch (and model.eval() only to evaluate)",
        evaluate_in_eval_mode="call model.eval() before evaluating and model.train() before training again",
        no_double_softmax="nn.CrossEntropyLoss applies log-softmax itself: drop the final nn.Softmax (or the "
        "softmax in forward()), or use nn.NLLLoss on torch.log of the probabilities",
        loss_for_output="use nn.CrossEntropyLoss on logits (no softmax at the end)",
    ),
)

KERAS = Framework(
    name="keras",
    model_module="keras",
    adapter="grader.adapters.keras_adapter",
    imports=("keras", "tensorflow"),
    bundle_extras=("tensorflow-cpu",),
    libraries=("keras", "tensorflow", "jax"),
    passed_environment=("KERAS_BACKEND",),
    environment={
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERAS_HOME": "{home}/.keras",
        "TF_NUM_INTRAOP_THREADS": "{threads}",
        "TF_NUM_INTEROP_THREADS": "1",
    },
    terms=Terms(
        model="keras.Model",
        model_example="keras.Sequential([...])",
        activation='activation="relu"',
        dropout="keras.layers.Dropout(0.2)",
        stop_early="pass keras.callbacks.EarlyStopping(monitor='val_loss', restore_best_weights=True) from callbacks()",
        restore_best_weights="pass restore_best_weights=True to EarlyStopping",
        regularize="add keras.layers.Dropout(0.2) after the hidden layer, or an EarlyStopping(monitor='val_loss', "
        "restore_best_weights=True) callback",
        dropout_off_at_inference="use keras.layers.Dropout and do not call it with training=True",
        train_in_training_mode="call the model with training=True in each training step",
        evaluate_in_eval_mode="call the model with training=False (or model.predict) to evaluate",
        no_double_softmax='drop activation="softmax" from the last layer, or compile with from_logits=False',
        loss_for_output='compile with from_logits=True for a model without a softmax, or end in activation="softmax"',
    ),
)

# Every framework the grader grades, in the order a student reads them named ("a torch.nn.Module or a
# keras.Model"). Tests may register another.
FRAMEWORKS: dict[str, Framework] = {framework.name: framework for framework in (TORCH, KERAS)}
DEFAULT = "torch"  # whose words advice takes when the model was never built
BOTH = "both"  # the bundle's choice for an image that grades every framework


def framework(name: str | None) -> Framework:
    """The entry for ``name``; the default framework's for a model never built (no framework known)."""
    return FRAMEWORKS.get(name or DEFAULT, FRAMEWORKS[DEFAULT])


def terms(name: str | None) -> Terms:
    """The framework's words for the scoring hints."""
    return framework(name).terms


def framework_of_import(module: str) -> str | None:
    """The framework a top-level import means (``tensorflow`` -> ``keras``), or None."""
    return next((entry.name for entry in FRAMEWORKS.values() if module in entry.imports), None)


def extra_of_import(module: str) -> tuple[str, str] | None:
    """For an import that needs one of the grader's extras: (its framework, the extra)."""
    for entry in FRAMEWORKS.values():
        if module in entry.import_extras:
            return entry.name, entry.import_extras[module]
    return None


def framework_imports() -> set[str]:
    """Every top-level import that means a framework."""
    return {module for entry in FRAMEWORKS.values() for module in entry.imports}
