"""The models a free-form run makes: recorded as they are built and trained, classified, and rebuilt.

A notebook builds models at the top level, in loops, in cells run one after the other; it trains them
with Keras ``fit`` or a loop of its own. Nothing of it follows the contract, so the grader watches: one
recorder per framework notes each model as it is built (where, and how, so it can be built again with
fresh weights), which ones an optimizer or ``fit`` trained and with what settings, and what the run showed
about them (a softmax fed to CrossEntropyLoss, pixels at 0-255). Afterwards each model is probed for its
problem (4 features, 3 classes; 28x28 pixels, 10 classes) and variant (one dense layer or more), and one
per problem and variant is chosen by a stated rule.
"""

from __future__ import annotations

import ast
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.hparams import OPTIMIZERS
from grader.notebook import parse_cell
from grader.records import N_CLASSES, Finding, FoundModel, ModelOutput, Problem, SourceLocation, Variant, model_key

HARD_CUT = 5  # training past this many times the budget stops the cell (when it cannot be run dry)
PIXELS_ABOVE = 20.0  # an MNIST input past this was fed at 0-255 (standardised pixels reach about 2.8)
INPUT_SHAPES: dict[Problem, list[tuple[int, ...]]] = {
    "iris": [(4,)],
    "mnist": [(784,), (28, 28), (1, 28, 28), (28, 28, 1)],
}
MAX_RECORDED = 2000  # models (and layers) a run may build before the grader stops noting them
PICK = re.compile(r"grader\s*:\s*(iris|mnist)\s*[/ ]\s*(single|multi)", re.IGNORECASE)


@dataclass
class Made:
    """A model the run built: the object, where it was built, and what the run did with it."""

    model: Any
    framework: str
    place: Place  # where it was built
    rebuild: Callable[[], Any]
    name: str
    trained_order: int = 0  # 0: never trained; else the order of its last training step among all models
    hyperparams: dict[str, Any] = field(default_factory=dict)
    pixel_max: float = 0.0  # the largest input value it was trained on
    inputs_seen: int = 0
    loss_expects: ModelOutput | None = None  # what the loss it was trained with takes ("logits", "probabilities")


class TrainingCut(Exception):
    """Raised into a training loop still running well past the dry run's budget for its cell."""


@dataclass
class Place:
    """Where the notebook's code runs: ``inner`` is the line running now (in a function of the notebook's),
    ``outer`` the top-level line of the cell that called it; ``marks`` the code of every notebook line on the
    way, where a ``# grader: iris multi`` comment may pick a model."""

    inner: SourceLocation | None = None
    outer: SourceLocation | None = None
    frame: Any = None
    marks: list[str] = field(default_factory=list)


class Watch:
    """What the run is doing: where in the notebook the code is, and the training budget of the cell."""

    def __init__(
        self,
        locate: Callable[[], Place],
        source_of: Callable[[str], str | None],
        train_seconds: float,
    ) -> None:
        self.locate = locate
        self.source_of = source_of  # a cell's code by the file name it was compiled under, to read loops from
        self.train_seconds = train_seconds
        self.findings: list[Finding] = []
        self.training_started: float | None = None  # in the current cell
        self.cut = False  # the current cell's training was cut short
        self.trainings = 0
        # On while the notebook runs; off once the grader trains the models itself in the same process, when
        # every hook passes through.
        self.active = True

    def new_cell(self) -> None:
        self.training_started, self.cut = None, False

    def training_step(self) -> bool:
        """Count a step of training; False once the cell's training budget is spent."""
        if not self.active:
            return True
        now = time.perf_counter()
        if self.training_started is None:
            self.training_started = now
        if now - self.training_started > self.train_seconds:
            self.cut = True
        return not self.cut

    def past_hard_limit(self) -> bool:
        """Training went on well past the budget (a loop of the student's own, without a data loader to run
        dry): the cell is stopped there."""
        started = self.training_started
        return (
            self.active
            and self.cut
            and started is not None
            and time.perf_counter() - started > HARD_CUT * self.train_seconds
        )

    def next_training(self) -> int:
        self.trainings += 1
        return self.trainings

    def find(self, kind: str, message: str, hint: str, location: SourceLocation | None = None) -> None:
        location = location or self.locate().inner
        key = (kind, location.cell if location else None, location.line if location else None)
        if all(
            (f.kind, f.location.cell if f.location else None, f.location.line if f.location else None) != key
            for f in self.findings
        ):
            self.findings.append(Finding(kind, message, hint, location, seen="run"))


class TorchRecorder:
    """PyTorch: modules noted at construction (``Module.__new__`` sees the constructor's arguments), training
    seen through a global optimizer step hook, forward passes through a global forward hook. Past the cell's
    training budget, optimizer steps do nothing and training data loaders give one batch an epoch, so the
    student's loop runs out quickly and the rest of the cell still runs."""

    framework = "torch"

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.made: dict[int, Made] = {}
        self.optimizers: dict[int, Made | None] = {}
        self.last_forward: Made | None = None  # the outermost module run last with gradients on
        self.depth = 0  # forward calls in progress, outermost first
        self.threads = 0  # torch's threads before the run, given back after it
        self.torch: Any = None  # the module, once the notebook imports it

    def install(self, torch: Any) -> None:
        self.torch = torch
        nn = torch.nn
        recorder = self

        def new(cls: type, *args: Any, **kwargs: Any) -> Any:
            module: Any = object.__new__(cls)
            if not recorder.watch.active:
                return module
            place = recorder.watch.locate()
            if place.outer is not None and len(recorder.made) < MAX_RECORDED:
                recorder.made[id(module)] = Made(
                    module, "torch", place, _torch_rebuild(module, cls, args, kwargs), _call_text(cls, args, kwargs)
                )
            return module

        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the notebook's small tensors: a second thread only contends (16x slower, loaded)
        nn.Module.__new__ = new
        register_module_forward_pre_hook(self._forward)
        register_module_forward_hook(self._forward_done, always_call=True)
        register_optimizer_step_pre_hook(self._step)
        batches = torch.utils.data.dataloader._BaseDataLoaderIter
        real_next = batches.__next__

        def next_batch(iterator: Any) -> Any:
            """Past the budget, a training epoch gets one batch: the loop runs out quickly, and the code after
            it still finds the variables its last batch set (``loss``)."""
            if recorder.watch.active and recorder.watch.cut and torch.is_grad_enabled():
                served = getattr(iterator, "_grader_batches", 0)
                if served >= 1:
                    raise StopIteration
                iterator._grader_batches = served + 1
            return real_next(iterator)

        batches.__next__ = next_batch
        functional = nn.functional
        losses: tuple[tuple[str, ModelOutput], ...] = (("cross_entropy", "logits"), ("nll_loss", "log_probabilities"))
        for name, expects in losses:
            setattr(functional, name, self._watched_loss(getattr(functional, name), expects))

    def stop(self) -> None:
        """The run is over: the grader's training gets its threads back."""
        if self.torch is not None:
            self.torch.set_num_threads(self.threads)

    def _forward(self, module: Any, args: tuple[Any, ...]) -> None:
        if not self.watch.active:
            return
        self.depth += 1
        torch = self.torch
        if self.depth == 1 and self.watch.past_hard_limit() and torch.is_grad_enabled():
            self.depth = 0
            raise TrainingCut(
                f"the dry run stopped this cell's training after {HARD_CUT * self.watch.train_seconds:g} s: "
                "the grader retrains the models itself"
            )
        made = self.made.get(id(module))
        if self.depth > 1 or made is None or made.model is not module or next(module.parameters(), None) is None:
            return  # a layer inside a model, or not a model of the notebook's (a loss, an activation)
        if not torch.is_grad_enabled() or not args or not isinstance(args[0], torch.Tensor):
            return
        self.last_forward = made
        if made.inputs_seen < 3 and args[0].numel():
            made.inputs_seen += 1
            made.pixel_max = max(made.pixel_max, float(args[0].detach().float().max()))
            made.hyperparams.setdefault("batch_size", int(args[0].shape[0]) if args[0].dim() > 1 else 1)

    def _forward_done(self, module: Any, args: tuple[Any, ...], output: Any) -> None:
        if self.watch.active:
            self.depth = max(self.depth - 1, 0)

    def _step(self, optimizer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self.watch.active:
            return
        made = self.optimizers.get(id(optimizer), ...)
        if made is ...:
            made = self.optimizers[id(optimizer)] = self._trained_by(optimizer)
            if made is not None:
                made.place.marks += self.watch.locate().marks  # a mark on the training lines picks it too
                made.hyperparams |= _torch_optimizer_settings(optimizer)
                epochs = _epochs_of_loop(self.watch.locate().frame, self.watch.source_of)
                if epochs:
                    made.hyperparams["epochs"] = epochs
        if made is not None:
            made.trained_order = self.watch.next_training()
        if not self.watch.training_step():  # from now on its steps do nothing: the grader retrains the model
            optimizer.step = _no_step

    def _trained_by(self, optimizer: Any) -> Made | None:
        """The outermost recorded module holding the optimizer's first parameter."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if not params:
            return None
        first = id(params[0])
        owners = [m for m in self.roots() if any(id(p) == first for p in m.model.parameters())]
        return owners[-1] if owners else None

    def _watched_loss(self, loss: Callable[..., Any], expects: ModelOutput) -> Callable[..., Any]:
        recorder = self

        def watched(input: Any, *args: Any, **kwargs: Any) -> Any:
            torch = recorder.torch
            made = recorder.last_forward
            if recorder.watch.active and made is not None and torch.is_grad_enabled() and made.loss_expects is None:
                made.loss_expects = expects
                rows = input.detach().float()
                sums_to_one = rows.dim() == 2 and bool((rows >= 0).all())
                sums_to_one = sums_to_one and torch.allclose(rows.sum(dim=1), torch.ones(len(rows)), atol=1e-3)
                if expects == "logits" and sums_to_one:
                    recorder.watch.find(
                        "softmax_before_cross_entropy",
                        f"{made.name} outputs probabilities (each row sums to 1) and they go into cross_entropy, "
                        "which applies log-softmax itself: softmax is applied twice",
                        "remove the final softmax from the model (CrossEntropyLoss takes raw scores), or use "
                        "nn.NLLLoss on log_softmax outputs",
                    )
            return loss(input, *args, **kwargs)

        return watched

    def roots(self) -> list[Made]:
        """Recorded modules that are not part of another recorded module: the models themselves."""
        inside = {id(sub) for made in self.made.values() for sub in list(made.model.modules())[1:]}
        return [
            made
            for key, made in self.made.items()
            if key not in inside and next(made.model.parameters(), None) is not None
        ]

    def probe(self, made: Made) -> tuple[list[int], int | None, int]:
        """(input shape it takes, classes it outputs, dense layers) from forward passes on zeros."""
        torch = self.torch
        model = made.model
        dense = sum(isinstance(m, torch.nn.Linear | torch.nn.LazyLinear) for m in model.modules())
        was_training = model.training
        model.eval()
        try:
            for shape in (s for shapes in INPUT_SHAPES.values() for s in shapes):
                try:
                    with torch.no_grad():
                        device = next((p.device for p in model.parameters()), torch.device("cpu"))
                        output = model(torch.zeros((2, *shape), device=device))
                except Exception:  # a shape it does not take (or a model that does not run): try the next
                    continue
                if isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[0] == 2:
                    return list(shape), int(output.shape[1]), dense
            return [], None, dense
        finally:
            model.train(was_training)


class KerasRecorder:
    """Keras 3: models noted as they are made (``Model.__init__``) and when ``fit`` trains them; ``fit`` is
    cut short by a callback once the cell's training budget is spent."""

    framework = "keras"

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.made: dict[int, Made] = {}

    def install(self, model_module: Any) -> None:
        import keras

        recorder, model_class = self, model_module.Model
        real_init, real_fit = model_class.__init__, model_class.fit

        def init(model: Any, *args: Any, **kwargs: Any) -> None:
            real_init(model, *args, **kwargs)
            if not recorder.watch.active:
                return
            place = recorder.watch.locate()
            if place.outer is not None and id(model) not in recorder.made and len(recorder.made) < MAX_RECORDED:
                recorder.made[id(model)] = Made(
                    model, "keras", place, lambda: _keras_rebuild(model), type(model).__name__
                )

        def fit(model: Any, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
            if not recorder.watch.active:
                return real_fit(model, x, y, *args, **kwargs)
            made = recorder._note_fit(model, x, kwargs)
            callbacks = list(kwargs.pop("callbacks", None) or [])
            kwargs["callbacks"] = [*callbacks, _budget_callback(keras, recorder.watch)]
            if len(args) < 3:  # fit(x, y, batch_size, epochs, verbose, ...): not given by position
                kwargs.setdefault("verbose", 2)  # a line an epoch in the captured log, not a redrawn progress bar
            history = real_fit(model, x, y, *args, **kwargs)
            made.trained_order = recorder.watch.next_training()
            return history

        model_class.__init__, model_class.fit = init, fit

    def _note_fit(self, model: Any, x: Any, kwargs: dict[str, Any]) -> Made:
        place = self.watch.locate()
        location = place.inner
        made = self.made.get(id(model))
        if made is None:
            made = self.made[id(model)] = Made(
                model, "keras", place, lambda: _keras_rebuild(model), type(model).__name__
            )
        if made.place is not place:
            made.place.marks += place.marks  # a mark on the line that trains it picks it too
        made.hyperparams |= _keras_settings(model, kwargs)
        pixels = _max_value(x)
        made.pixel_max = max(made.pixel_max, pixels)
        validation = kwargs.get("validation_data")
        if isinstance(validation, tuple | list) and validation and _same_array(validation[0], x):
            self.watch.find(
                "validation_on_training_data",
                "fit() is given the training inputs again as validation_data: the validation scores it prints "
                "measure the training set, not how the model generalizes",
                "pass held-out data: validation_data=(X_val, y_val), or validation_split=0.2",
                location,
            )
        if _loss_takes_probabilities(model) and _last_activation(model) in ("linear", None):
            self.watch.find(
                "logits_into_probability_loss",
                f"the model's last layer has no softmax but is compiled with loss {_loss_name(model)!r}, which "
                "expects probabilities",
                "add activation='softmax' to the last Dense layer, or compile with from_logits=True",
                location,
            )
        return made

    def probe(self, made: Made) -> tuple[list[int], int | None, int]:
        import keras

        model = made.model
        dense = sum(isinstance(layer, keras.layers.Dense) for layer in _keras_layers(model))
        for shape in (s for shapes in INPUT_SHAPES.values() for s in shapes):
            try:
                output = keras.ops.convert_to_numpy(model(np.zeros((2, *shape), np.float32), training=False))
            except Exception:  # a shape it does not take: try the next
                continue
            if output.ndim == 2 and output.shape[0] == 2:
                return list(shape), int(output.shape[1]), dense
        return [], None, dense

    def roots(self) -> list[Made]:
        """Models not part of another: not a layer of one, nor the functional graph a Sequential builds."""
        inside = {id(layer) for made in self.made.values() for layer in _keras_layers(made.model)}
        inside |= {id(getattr(made.model, "_functional", None)) for made in self.made.values()}
        return [made for key, made in self.made.items() if key not in inside]


def _budget_callback(keras: Any, watch: Watch) -> Any:
    """A Keras callback ending fit once the cell's training budget is spent."""

    # Keras is imported where the run uses it, so its Callback is Any to mypy: nothing to check the subclass by.
    class BudgetCallback(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if not watch.training_step():
                self.model.stop_training = True

    return BudgetCallback()


def _keras_layers(model: Any) -> list[Any]:
    try:
        return list(model._flatten_layers(include_self=False, recursive=True))
    except Exception:  # an unusual model: its direct layers
        return list(getattr(model, "layers", []))


def _keras_settings(model: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    import keras

    settings: dict[str, Any] = {
        "epochs": int(kwargs.get("epochs", 1)),
        "batch_size": int(kwargs.get("batch_size") or 32),
    }
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        name = str(getattr(optimizer, "name", type(optimizer).__name__)).lower()
        if name in OPTIMIZERS:
            settings["optimizer"] = name
        settings["learning_rate"] = float(f"{float(keras.ops.convert_to_numpy(optimizer.learning_rate)):.6g}")
        settings["weight_decay"] = float(getattr(optimizer, "weight_decay", None) or 0.0)
    for callback in kwargs.get("callbacks") or []:
        if isinstance(callback, keras.callbacks.EarlyStopping):
            settings["early_stopping"] = {"monitor": callback.monitor, "patience": int(callback.patience)}
    return settings


def _loss_name(model: Any) -> str:
    loss = getattr(model, "loss", None)
    return loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)


def _loss_takes_probabilities(model: Any) -> bool:
    loss = getattr(model, "loss", None)
    if loss is None:
        return False
    name = _loss_name(model).lower().replace("_", "")
    crossentropy = "categoricalcrossentropy" in name and "binary" not in name
    return crossentropy and not getattr(loss, "from_logits", False)


def _last_activation(model: Any) -> str | None:
    import keras

    dense = [layer for layer in _keras_layers(model) if isinstance(layer, keras.layers.Dense)]
    layers = _keras_layers(model)
    if not dense or not layers:
        return None
    if isinstance(layers[-1], keras.layers.Activation | keras.layers.Softmax):
        return "softmax"
    activation = getattr(dense[-1], "activation", None)
    return getattr(activation, "__name__", None)


def _keras_rebuild(model: Any) -> Any:
    """A fresh copy with new weights (``clone_model``), compiled as the student compiled it."""
    import keras

    clone = keras.models.clone_model(model)
    if getattr(model, "compiled", False) and model.optimizer is not None and model.loss is not None:
        optimizer = model.optimizer
        clone.compile(optimizer=type(optimizer).from_config(optimizer.get_config()), loss=model.loss)
    return clone


def _no_step(*args: Any, **kwargs: Any) -> None:
    """An optimizer's step once the dry run's training budget is spent."""


def _torch_rebuild(module: Any, cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], Any]:
    """Build it again: by calling the constructor with the same plain arguments (fresh weights, the student's
    own initialisation), or, for a model made of other modules (``nn.Sequential(nn.Linear(...))``), by
    copying it and re-initialising every layer that knows how."""

    def rebuild() -> Any:
        if _plain(args) and _plain(kwargs):
            try:
                return cls(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            except Exception:  # its constructor needs the run's state: copy it instead
                pass
        fresh = copy.deepcopy(module)
        for sub in fresh.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
        return fresh

    return rebuild


def _plain(value: Any) -> bool:
    """Numbers, strings and containers of them: safe to pass to a constructor again."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple | set):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


def _call_text(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    shown = [repr(a) if _plain(a) else type(a).__name__ for a in args]
    shown += [f"{k}={v!r}" if _plain(v) else f"{k}={type(v).__name__}" for k, v in kwargs.items()]
    text = f"{cls.__name__}({', '.join(shown)})"
    return text if len(text) <= 80 else text[:77] + "..."


def _torch_optimizer_settings(optimizer: Any) -> dict[str, Any]:
    group = optimizer.param_groups[0]
    settings: dict[str, Any] = {
        "learning_rate": float(group.get("lr", 0.0)),
        "weight_decay": float(group.get("weight_decay") or 0.0),
    }
    name = type(optimizer).__name__.lower()
    if name in OPTIMIZERS:
        settings["optimizer"] = name
    return settings


def _epochs_of_loop(frame: Any, source_of: Callable[[str], str | None]) -> int | None:
    """The epochs a training loop runs: the ``range(...)`` of the outermost ``for`` around the step, in
    the notebook frames from the step outwards, preferring a loop variable named like an epoch."""
    loops: list[tuple[ast.For, Any]] = []
    while frame is not None:
        tree = _cell_tree(frame, source_of)
        if tree is not None:
            line = frame.f_lineno
            around = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.For)
                and node.lineno <= line <= (node.end_lineno or node.lineno)
                and isinstance(node.iter, ast.Call)
                and isinstance(node.iter.func, ast.Name)
                and node.iter.func.id == "range"
            ]
            loops += [(node, frame) for node in sorted(around, key=lambda n: n.lineno)]
        frame = frame.f_back
    named = [(n, f) for n, f in loops if isinstance(n.target, ast.Name) and "epoch" in n.target.id.lower()]
    for node, frame in named or loops[:1]:
        args = node.iter.args if isinstance(node.iter, ast.Call) else []  # always range(...), as found above
        value = _simple_value(args[-2 if len(args) == 3 else -1] if args else None, frame)
        start = _simple_value(args[0], frame) if len(args) >= 2 else 0
        if isinstance(value, int) and isinstance(start, int) and value - start > 0:
            return value - start
    return None


def _cell_tree(frame: Any, source_of: Callable[[str], str | None]) -> ast.Module | None:
    source = source_of(frame.f_code.co_filename)
    return None if source is None else parse_cell(source)


def _simple_value(node: ast.expr | None, frame: Any) -> Any:
    """The value of a constant, a name or an arithmetic of those, in the frame: nothing that calls code."""
    if node is None:
        return None
    allowed = (ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.operator, ast.Attribute)
    if not all(isinstance(part, allowed) for part in ast.walk(node)):
        return None
    try:
        return eval(compile(ast.Expression(node), "<epochs>", "eval"), frame.f_globals, frame.f_locals)
    except Exception:  # an unbound name: unknown
        return None


def _max_value(x: Any) -> float:
    try:
        array = np.asarray(x[:256] if hasattr(x, "__getitem__") else x)
        return float(array.max()) if array.size and array.dtype.kind in "uif" else 0.0
    except Exception:  # a dataset object, a generator: not looked into
        return 0.0


def _same_array(a: Any, b: Any) -> bool:
    if a is b:
        return a is not None
    try:
        a, b = np.asarray(a), np.asarray(b)
    except Exception:  # not arrays
        return False
    return a.shape == b.shape and a.size > 0 and bool(np.array_equal(a, b))


@dataclass
class Classified:
    """A model probed: what it is, ready to report."""

    made: Made
    found: FoundModel


def classify(made: Made, probe: Callable[[Made], tuple[list[int], int | None, int]]) -> FoundModel:
    try:
        inputs, classes, dense = probe(made)
    except Exception:  # a model that cannot run at all
        inputs, classes, dense = [], None, 0
    problem = next(
        (p for p, shapes in INPUT_SHAPES.items() if tuple(inputs) in shapes and classes == N_CLASSES[p]), None
    )
    variant: Variant | None = None if problem is None or dense == 0 else "single" if dense == 1 else "multi"
    return FoundModel(
        made.name,
        made.framework,
        made.place.outer,
        inputs,
        classes,
        dense,
        made.trained_order > 0,
        problem,
        variant,
        hyperparams=dict(made.hyperparams),
    )


def choose(classified: list[Classified], tagged: dict[int, str]) -> dict[str, Classified]:
    """One model per problem and variant. A ``grader: iris multi`` comment on the line that built (or
    trained) a model, or a ``grader: iris multi`` cell tag, picks it; otherwise the last one trained; if
    none was trained, the last one built."""
    chosen: dict[str, Classified] = {}
    for item in classified:
        found = item.found
        if found.problem is None or found.variant is None:
            continue
        key = model_key(found.problem, found.variant)
        picked = _picked(item.made.place, tagged)
        if picked == key:
            chosen[key] = item
            found.why = "picked by a 'grader:' mark"
            continue
        current = chosen.get(key)
        if current is not None and current.found.why.startswith("picked"):
            continue
        if current is None or _rank(item) >= _rank(current):
            chosen[key] = item
    for key, item in chosen.items():
        item.found.chosen_for = key
        if not item.found.why:
            item.found.why = "the last one trained" if item.found.trained else "the last one built (none was trained)"
    return chosen


def _rank(item: Classified) -> tuple[bool, int]:
    return item.made.trained_order > 0, item.made.trained_order


def _picked(place: Place, tagged: dict[int, str]) -> str | None:
    """The model key a ``grader:`` comment on a line that built or trained the model names, or the tag of
    the cell that built it."""
    cells = {location.cell for location in (place.inner, place.outer) if location is not None}
    marks = [*place.marks, *(tagged.get(cell, "") for cell in cells if cell is not None)]
    match = next((found for mark in marks if (found := PICK.search(mark))), None)
    return model_key(match[1].lower(), match[2].lower()) if match else None
