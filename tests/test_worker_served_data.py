"""A free-form notebook's data comes from the grader: the real loaders' shapes, no test labels, no network.

The loaders are patched process-wide, so each case runs in a fresh Python, as the worker does.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.data import load_problem
from grader.train import _write_worker_data

PRELUDE = """
import json, sys
from pathlib import Path
from grader.worker.served_data import ServedData, go_offline, serve
data = ServedData(Path(sys.argv[1]))
serve(data)
go_offline()
"""


@pytest.fixture(scope="module")
def worker_data(tmp_path_factory: pytest.TempPathFactory, fake_mnist: Path) -> Path:
    """The folder the worker reads: what ``train`` writes for it, test labels left out."""
    folder = tmp_path_factory.mktemp("worker-data")
    _write_worker_data({"iris": load_problem("iris"), "mnist": load_problem("mnist", data_dir=fake_mnist)}, folder)
    return folder


def run_served(code: str, data_dir: Path) -> dict:
    script = PRELUDE + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_iris_serves_the_training_and_validation_flowers_in_the_data_sets_order(worker_data):
    served = run_served(
        """
        from sklearn.datasets import load_iris
        iris = load_iris()
        X, y = load_iris(return_X_y=True)
        frame = load_iris(as_frame=True).frame
        print(json.dumps({"shape": list(iris["data"].shape), "y": iris["target"].tolist(),
                          "same": bool((X == iris.data).all()), "frame": len(frame),
                          "names": list(iris.target_names)}))
        """,
        worker_data,
    )
    iris = load_problem("iris")
    assert served["shape"] == [len(iris.y_train) + len(iris.y_val), 4]
    assert served["y"] == sorted(served["y"])  # class-sorted, as scikit-learn's file is
    assert served["same"] and served["frame"] == served["shape"][0]
    assert served["names"] == ["setosa", "versicolor", "virginica"]


def test_keras_mnist_is_the_training_split_and_its_test_set_the_validation_split(worker_data):
    served = run_served(
        """
        import hashlib
        from keras.datasets import mnist
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        print(json.dumps({"train": list(x_train.shape), "test": list(x_test.shape), "dtype": str(x_train.dtype),
                          "labels": str(y_train.dtype), "test_digest": hashlib.sha256(x_test.tobytes()).hexdigest()}))
        """,
        worker_data,
    )
    x_val = np.load(worker_data / "mnist" / "x_val.npy")
    assert served["train"] == list(np.load(worker_data / "mnist" / "x_train.npy").shape)
    assert served["test"] == list(x_val.shape) and served["dtype"] == served["labels"] == "uint8"
    assert served["test_digest"] == hashlib.sha256(x_val.astype(np.uint8).tobytes()).hexdigest()


def test_openml_mnist_is_served_and_other_openml_sets_are_named_as_not_served(worker_data):
    served = run_served(
        """
        from sklearn.datasets import fetch_openml
        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True)
        try:
            fetch_openml("Fashion-MNIST")
            refused = ""
        except Exception as error:
            refused = str(error)
        print(json.dumps({"X": list(X.shape), "dtype": str(X.dtype), "label": str(y[0]), "refused": refused,
                          "unserved": data.unserved}))
        """,
        worker_data,
    )
    n = len(np.load(worker_data / "mnist" / "y_train.npy")) + len(np.load(worker_data / "mnist" / "y_val.npy"))
    assert served["X"] == [n, 784] and served["dtype"] == "float64" and served["label"].isdigit()
    assert "the grader does not serve fetch_openml('Fashion-MNIST')" in served["refused"]
    assert served["unserved"] == ["fetch_openml('Fashion-MNIST'): the grader serves only 'mnist_784' from OpenML"]


def test_no_test_labels_reach_the_worker(worker_data):
    assert not list(worker_data.rglob("y_test*"))
    iris = load_problem("iris")
    served_rows = np.load(worker_data / "iris" / "served_rows.npy")
    assert len(served_rows) == len(iris.y_train) + len(iris.y_val)  # no test flower among them


def test_a_notebook_never_reaches_the_network(worker_data, local_server):
    base, requests = local_server
    port = base.rsplit(":", 1)[1]
    served = run_served(
        f"""
        import socket, urllib.request
        errors = []
        for attempt in (lambda: urllib.request.urlopen("{base}/mnist.npz"),
                        lambda: socket.create_connection(("127.0.0.1", {port})),
                        lambda: socket.getaddrinfo("example.com", 80)):
            try:
                attempt()
                errors.append("")
            except OSError as error:
                errors.append(str(error))
        print(json.dumps({{"errors": errors}}))
        """,
        worker_data,
    )
    assert all("the grader runs notebooks offline" in error for error in served["errors"])
    assert requests == []


@pytest.mark.torchvision
def test_torchvision_mnist_is_served_whatever_its_root_and_download_say(worker_data):
    pytest.importorskip("torchvision")
    served = run_served(
        """
        from torchvision import datasets, transforms
        train = datasets.MNIST("./nowhere", train=True, download=True, transform=transforms.ToTensor())
        test = datasets.MNIST(root="/tmp/also-nowhere", train=False)
        image, label = train[0]
        try:
            datasets.FashionMNIST("./data", download=True)
            refused = ""
        except Exception as error:
            refused = str(error)
        print(json.dumps({"train": len(train), "test": len(test), "image": list(image.shape),
                          "max": float(image.max()), "label": int(label), "refused": refused}))
        """,
        worker_data,
    )
    assert served["train"] == len(np.load(worker_data / "mnist" / "y_train.npy"))
    assert served["test"] == len(np.load(worker_data / "mnist" / "y_val.npy"))
    assert served["image"] == [1, 28, 28] and served["max"] <= 1.0
    assert "FashionMNIST is not MNIST" in served["refused"]
