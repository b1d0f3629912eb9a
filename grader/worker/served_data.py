"""The data a free-form notebook asks for, served from the grader's copies, offline.

A notebook downloads MNIST (Keras, torchvision, OpenML) and loads Iris with scikit-learn. In the worker
those calls return the grader's arrays with the shapes and dtypes the real ones have: what the notebook
calls its *training* set is the grader's training split, and what it calls its *test* set is the grader's
validation split. The hidden test labels are not in the worker to serve. Data sets the grader does not
hold (FashionMNIST, EMNIST, ...) raise ``NotServed``, which names them, and the run goes on.

The loaders are replaced when their modules are imported (an import hook), so a notebook that never
imports torchvision pays nothing for it. Sockets are refused too: nothing a notebook does reaches the
network, even where the sandbox cannot cut it off.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.worker_files import SERVED_ROWS

NOT_MNIST = ("FashionMNIST", "EMNIST", "KMNIST", "QMNIST", "Fashion-MNIST", "fashion_mnist")
OPENML_MNIST = ("mnist_784", 554)


class NotServed(Exception):
    """The notebook asked for a data set the grader does not serve."""


class Offline(OSError):
    """A notebook tried to reach the network."""


class ServedData:
    """The grader's arrays, as the real loaders would return them. ``requests`` records what was asked for
    and could not be served, for the report."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.unserved: list[str] = []
        self.served: set[str] = set()  # the problems whose data the notebook was given

    def _array(self, problem: str, name: str) -> np.ndarray:
        path = self.data_dir / problem / f"{name}.npy"
        if not path.exists():
            raise NotServed(f"{problem} is not graded in this run (grade --problem {problem} to include it)")
        array: np.ndarray = np.load(path, allow_pickle=False)
        return array

    def mnist(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((train images, labels), ("test" = validation images, labels)), uint8 as Keras gives them."""
        self.served.add("mnist")
        return (
            (self._array("mnist", "x_train").astype(np.uint8), self._array("mnist", "y_train").astype(np.uint8)),
            (self._array("mnist", "x_val").astype(np.uint8), self._array("mnist", "y_val").astype(np.uint8)),
        )

    def iris_rows(self) -> np.ndarray:
        self.served.add("iris")
        return self._array("iris", SERVED_ROWS)

    def refuse(self, name: str, why: str) -> NotServed:
        self.unserved.append(f"{name}: {why}")
        return NotServed(f"the grader does not serve {name}: {why}")


def not_mnist_reason(name: str) -> str:
    shown = {"fashion_mnist": "FashionMNIST"}.get(name, name)
    return f"{shown} is not MNIST; this assignment's data set is MNIST (keras.datasets.mnist, torchvision MNIST)"


# What each loader module becomes. Each function takes the freshly imported module and the served data.


def _serve_sklearn(module: ModuleType, data: ServedData) -> None:
    real_load_iris = module.load_iris

    def load_iris(*args: Any, return_X_y: bool = False, as_frame: bool = False, **kwargs: Any) -> Any:
        """scikit-learn's own Iris, without the grader's test flowers, in the data set's order."""
        bunch = real_load_iris(*args, as_frame=as_frame, **kwargs)
        rows = data.iris_rows()
        for name in ("data", "target", "frame"):
            value = bunch.get(name)
            if value is not None:
                bunch[name] = value.iloc[rows] if hasattr(value, "iloc") else value[rows]
        return (bunch.data, bunch.target) if return_X_y else bunch

    def fetch_openml(name: str | None = None, *args: Any, data_id: int | None = None, **kwargs: Any) -> Any:
        asked = name if name is not None else data_id
        if asked not in OPENML_MNIST:
            raise data.refuse(f"fetch_openml({asked!r})", "the grader serves only 'mnist_784' from OpenML")
        return _openml_mnist(data, **kwargs)

    _replace(module, load_iris=load_iris, fetch_openml=fetch_openml)


def _openml_mnist(data: ServedData, *, as_frame: Any = "auto", return_X_y: bool = False, **_: Any) -> Any:
    """MNIST as OpenML's mnist_784: 784 float pixel columns, string labels; training then "test" rows."""
    from sklearn.utils import Bunch

    (x_train, y_train), (x_val, y_val) = data.mnist()
    x = np.concatenate([x_train, x_val]).reshape(-1, 784).astype(np.float64)
    y = np.concatenate([y_train, y_val]).astype(str).astype(object)
    columns = [f"pixel{i}" for i in range(1, 785)]
    if as_frame is True or as_frame == "auto":
        import pandas as pd

        x, y = pd.DataFrame(x, columns=columns), pd.Series(y, name="class", dtype="category")
    if return_X_y:
        return x, y
    frame = x.join(y) if hasattr(x, "join") else None
    return Bunch(data=x, target=y, frame=frame, feature_names=columns, target_names=["class"], DESCR="mnist_784")


def _serve_keras_mnist(module: ModuleType, data: ServedData) -> None:
    def load_data(path: str = "mnist.npz") -> Any:
        return data.mnist()

    _replace(module, load_data=load_data)


def _refuse_keras(name: str) -> Callable[[ModuleType, ServedData], None]:
    def patch(module: ModuleType, data: ServedData) -> None:
        def load_data(*args: Any, **kwargs: Any) -> Any:
            raise data.refuse(f"keras.datasets.{name}", not_mnist_reason(name))

        _replace(module, load_data=load_data)

    return patch


def _serve_torchvision(module: ModuleType, data: ServedData) -> None:
    """torchvision's MNIST reads the grader's arrays whatever its root and download say; its relatives
    (FashionMNIST, EMNIST...) subclass it and are refused by name."""
    import torch

    mnist_class = module.MNIST

    def load(self: Any) -> tuple[Any, Any]:
        if not _is_plain_mnist(type(self)):
            raise data.refuse(f"torchvision.datasets.{type(self).__name__}", not_mnist_reason(type(self).__name__))
        (x_train, y_train), (x_val, y_val) = data.mnist()
        x, y = (x_train, y_train) if self.train else (x_val, y_val)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))

    mnist_class._check_legacy_exist = lambda self: False
    mnist_class._check_exists = lambda self: True
    mnist_class.download = lambda self: None
    mnist_class._load_data = load


def _is_plain_mnist(cls: type) -> bool:
    """A student's own subclass of MNIST (to change __getitem__) is still MNIST."""
    return not any(base.__name__ in NOT_MNIST for base in cls.__mro__)


LOADERS: dict[str, Callable[[ModuleType, ServedData], None]] = {
    "sklearn.datasets": _serve_sklearn,
    "keras.src.datasets.mnist": _serve_keras_mnist,
    "keras.src.datasets.fashion_mnist": _refuse_keras("fashion_mnist"),
    "torchvision.datasets.mnist": _serve_torchvision,
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a watched module so ``patch`` runs right after the
    module's own code, before anyone imports a name from it."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.patches:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, self.patches[name])
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, patch: Callable[[ModuleType], None]) -> None:
        self.loader, self.patch = loader, patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _patch_quietly(self.patch, module)


def patch_on_import(patches: dict[str, Callable[[ModuleType], None]]) -> None:
    """Run each ``patch`` on its module: now if it is loaded already, else as soon as it is imported."""
    waiting = {}
    for name, patch in patches.items():
        if name in sys.modules:
            _patch_quietly(patch, sys.modules[name])
        else:
            waiting[name] = patch
    sys.meta_path.insert(0, _PatchOnImport(waiting))


def _patch_quietly(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    """A patch that does not fit this version of the library must not break the student's import: the
    loader is then the real one (offline, it fails and says so)."""
    try:
        patch(module)
    except Exception as error:  # a library version the patch does not know
        print(f"[grader] could not watch {module.__name__}: {error!r}", file=sys.stderr)


def serve(data: ServedData) -> None:
    """Install the served loaders."""
    patch_on_import({name: _bound(patch, data) for name, patch in LOADERS.items()})


def _replace(owner: object, **functions: Callable[..., Any]) -> None:
    """``owner.name = function`` for each: the real loaders' and sockets' signatures, which the type checker
    knows, are replaced on purpose by ones that take anything."""
    for name, function in functions.items():
        setattr(owner, name, function)


def _bound(patch: Callable[[ModuleType, ServedData], None], data: ServedData) -> Callable[[ModuleType], None]:
    return lambda module: patch(module, data)


def go_offline() -> None:
    """Refuse every network connection and name lookup from Python (Unix sockets stay: they are local)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Offline(101, "the grader runs notebooks offline: it serves the data sets itself")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        return refuse()

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        return refuse()

    _replace(socket.socket, connect=connect, connect_ex=connect_ex)
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
