"""The classic mistakes free-form mode reads off a submission's code: each fires on the mistake as students
write it, and stays quiet on the correct version. Pure syntax trees: no framework is imported."""

from __future__ import annotations

import dataclasses
from textwrap import dedent

import pytest

from grader.mistake_catalogue import MISTAKES, Mistake
from grader.mistakes import CodeCell, find_in_code, stale_names
from grader.records import Finding, SourceLocation

TORCH_IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
KERAS_IMPORTS = "import keras\nfrom keras import layers\n"


def find(*sources: str) -> list[Finding]:
    """The findings in a notebook whose code cells are these, numbered from 1."""
    return find_in_code([CodeCell(number, dedent(source)) for number, source in enumerate(sources, 1)], "hw.ipynb")


def kinds(*sources: str) -> list[str]:
    return [finding.kind for finding in find(*sources)]


def where(finding: Finding) -> tuple[int | None, int | None, str]:
    assert finding.location is not None
    return finding.location.cell, finding.location.line, finding.location.code


# ------------------------------------------------------------------------------------------------ catalogue


def test_the_catalogue_holds_exactly_the_agreed_mistakes_each_with_a_title_and_advice():
    assert set(MISTAKES) == {
        "softmax_before_cross_entropy",
        "logits_into_probability_loss",
        "validation_on_training_data",
        "scaler_fitted_before_split",
        "unshuffled_split",
        "unscaled_pixels",
        "loss_class_not_instance",
        "not_mnist",
        "hard_coded_gpu",
        "keras2_leftovers",
        "stale_kernel",
    }
    for mistake in MISTAKES.values():
        assert 10 < len(mistake.title) <= 60 and not mistake.title.endswith(".")
        assert len(mistake.hint) > 40
    with pytest.raises(dataclasses.FrozenInstanceError):
        MISTAKES["not_mnist"].title = "changed"  # type: ignore[misc]
    assert isinstance(MISTAKES["unscaled_pixels"], Mistake)  # observed at run time, named here


def test_correct_code_has_no_findings():
    assert (
        find(
            TORCH_IMPORTS,
            """
            from sklearn.datasets import load_iris
            from sklearn.model_selection import train_test_split
            from sklearn.preprocessing import StandardScaler

            X, y = load_iris(return_X_y=True)
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
            scaler = StandardScaler()
            X_train = scaler.fit_transform(X_train)
            X_test = scaler.transform(X_test)
            """,
            """
            device = "cuda" if torch.cuda.is_available() else "cpu"
            model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
            criterion = nn.CrossEntropyLoss()
            for epoch in range(100):
                loss = criterion(model(torch.tensor(X_train, device=device)), torch.tensor(y_train))
            test_acc = (model(torch.tensor(X_test)).argmax(1) == torch.tensor(y_test)).float().mean()
            print("Test accuracy:", test_acc)
            """,
        )
        == []
    )


# ------------------------------------------------------------------------------ softmax before CrossEntropy


def test_a_sequential_ending_in_softmax_trained_with_cross_entropy_is_flagged_at_the_softmax():
    [finding] = find(
        TORCH_IMPORTS,
        """
        model = nn.Sequential(
            nn.Linear(784, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
            nn.Softmax(dim=1),
        )
        criterion = nn.CrossEntropyLoss()
        """,
    )
    assert finding.kind == "softmax_before_cross_entropy" and finding.seen == "code"
    assert where(finding) == (2, 6, "nn.Softmax(dim=1),")
    assert "nn.Softmax(dim=1)" in finding.message and "CrossEntropyLoss" in finding.message
    assert finding.hint == MISTAKES["softmax_before_cross_entropy"].hint


@pytest.mark.parametrize(
    "init, ending",
    [
        ("", "return F.softmax(x, dim=1)"),
        ("", "return torch.softmax(self.fc2(x), 1)"),
        ("", "return self.fc2(x).softmax(dim=1)"),
        ("self.softmax = nn.Softmax(dim=1)", "return self.softmax(x)"),
        ("", "x = F.softmax(x, dim=1)\n            return x"),
    ],
)
def test_a_forward_returning_a_softmax_is_flagged_where_it_returns(init: str, ending: str):
    model = f"""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 16)
            self.fc2 = nn.Linear(16, 3)
            {init}

        def forward(self, x):
            x = self.fc2(torch.relu(self.fc1(x)))
            {ending}

    loss = F.cross_entropy(Net()(inputs), labels)
    """
    [finding] = find(TORCH_IMPORTS, model)
    assert finding.kind == "softmax_before_cross_entropy"
    assert finding.location is not None and finding.location.code.startswith("return")


@pytest.mark.parametrize(
    "model, training",
    [
        # A softmax whose log NLLLoss takes is how NLL is meant to be used.
        ("nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))", "nn.NLLLoss()(torch.log(model(x)), y)"),
        ("nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))", "nn.NLLLoss()(model(x), y)"),
        ("nn.Sequential(nn.Linear(4, 3))", "nn.CrossEntropyLoss()(model(x), y)"),
        # LogSoftmax before CrossEntropyLoss changes nothing: log-softmax of log-probabilities is the same.
        ("nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))", "nn.CrossEntropyLoss()(model(x), y)"),
        # No cross-entropy: a softmax model for, say, a plot of probabilities.
        ("nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))", "nn.MSELoss()(model(x), y)"),
    ],
)
def test_softmax_is_not_flagged_without_cross_entropy_on_it(model: str, training: str):
    assert kinds(TORCH_IMPORTS, f"model = {model}\nloss = {training}\n") == []


def test_a_softmax_only_at_inference_or_on_a_log_softmax_layer_is_not_flagged():
    model = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.softmax = nn.LogSoftmax(dim=1)  # named softmax, but a log-softmax

        def forward(self, x):
            if not self.training:
                return F.softmax(self.fc(x), dim=1)
            return self.fc(x)

    class Other(Net):
        def forward(self, x):
            return self.softmax(self.fc(x))

    criterion = nn.CrossEntropyLoss()
    """
    assert kinds(TORCH_IMPORTS, model) == []


# ---------------------------------------------------------------------------- logits into probability loss


def test_a_linear_last_dense_compiled_with_a_probability_loss_is_flagged_at_the_loss():
    [finding] = find(
        KERAS_IMPORTS,
        """
        model = keras.Sequential([
            keras.Input(shape=(784,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ])
        model.compile(optimizer="adam",
                      loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        """,
    )
    assert finding.kind == "logits_into_probability_loss"
    assert where(finding) == (2, 8, 'loss="sparse_categorical_crossentropy",')
    assert "Dense(10)" in finding.message and "logits" in finding.message


@pytest.mark.parametrize(
    "last, loss",
    [
        ("Dense(3, activation=None)", "keras.losses.CategoricalCrossentropy()"),
        ("Dense(3, activation='linear')", "keras.losses.SparseCategoricalCrossentropy(from_logits=False)"),
        ("Dense(3)", "keras.losses.sparse_categorical_crossentropy"),
        ("Dense(3)", "'categorical_crossentropy'"),
    ],
)
def test_a_model_built_with_add_is_followed_to_its_last_layer(last: str, loss: str):
    source = f"""
    from tensorflow import keras
    from tensorflow.keras.layers import Dense

    model = keras.models.Sequential()
    model.add(Dense(16, activation="relu", input_shape=(4,)))
    model.add({last})
    model.compile(loss={loss}, optimizer="adam")
    """
    assert kinds(source) == ["logits_into_probability_loss"]


def test_a_model_returned_by_a_building_function_is_followed_to_its_compile():
    build = """
    def build_model(hidden):
        model = keras.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(3)])
        return model
    """
    assert kinds(KERAS_IMPORTS, build, "net = build_model(16)\nnet.compile('adam', 'categorical_crossentropy')") == [
        "logits_into_probability_loss"
    ]


@pytest.mark.parametrize(
    "last, loss",
    [
        ("layers.Dense(10)", "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"),
        ("layers.Dense(10, activation='softmax')", "'sparse_categorical_crossentropy'"),
        ("layers.Dense(10, 'softmax')", "'sparse_categorical_crossentropy'"),
        ("layers.Softmax()", "'sparse_categorical_crossentropy'"),
        ("layers.Dense(10, activation=output_activation)", "'sparse_categorical_crossentropy'"),  # unknown
        ("layers.Dense(10)", "'mse'"),
    ],
)
def test_probabilities_into_a_probability_loss_or_logits_into_a_logits_loss_are_fine(last: str, loss: str):
    source = f"model = keras.Sequential([layers.Dense(64, activation='relu'), {last}])\nmodel.compile(loss={loss})"
    assert kinds(KERAS_IMPORTS, source) == []


# ------------------------------------------------------------------------------ validation on training data


def test_fit_validating_on_its_own_training_data_is_flagged():
    [finding] = find(
        KERAS_IMPORTS, "history = model.fit(X_train, y_train, epochs=20, validation_data=(X_train, y_train))"
    )
    assert finding.kind == "validation_on_training_data"
    assert "(X_train, y_train)" in finding.message


@pytest.mark.parametrize(
    "line",
    [
        "test_loss, test_acc = model.evaluate(X_train, y_train)",
        "val_results = model.evaluate(x_train, y_train, verbose=0)",
        "test_acc = accuracy(model, X_train_t, y_train_t)",
        "test_accuracy = (model(X_train).argmax(dim=1) == y_train).float().mean().item()",
        "valAcc = model.score(trainX, trainY)",
        "print('Test accuracy:', model.evaluate(X_train, y_train)[1])",
        "print(f'Validation accuracy: {model.evaluate(x_train, y_train, verbose=0)[1]:.3f}')",
        "print(f'train acc: {accuracy(net, X_train_t, y_train_t)}, test acc: {accuracy(net, X_train_t, y_train_t)}')",
        "print('Test accuracy: {:.3f}'.format(accuracy(net, X_train, y_train)))",
        "print('val loss %.4f' % criterion(model(X_train), y_train).item())",
    ],
)
def test_training_data_measured_as_test_or_validation_accuracy_is_flagged(line: str):
    assert kinds(line) == ["validation_on_training_data"]


@pytest.mark.parametrize(
    "line",
    [
        "history = model.fit(X_train, y_train, validation_data=(X_val, y_val))",
        "history = model.fit(X_train, y_train, validation_split=0.1)",
        "X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.1)",
        "X_val, y_val = X_train[50000:], y_train[50000:]",
        "val_acc = accuracy(model, X_train[50000:], y_train[50000:])",  # a held-out slice: maybe validation
        "val_scores = cross_val_score(model, X_train, y_train, cv=5)",
        "train_acc, val_acc = fit(model, train_loader)",  # the function returns both
        "test_loss, test_acc = model.evaluate(X_test, y_test)",
        "print('Train accuracy:', model.evaluate(X_train, y_train)[1])",
        "print('Test accuracy:', model.evaluate(X_test, y_test)[1], 'train:', model.evaluate(X_train, y_train)[1])",
        "val_size = len(X_train) // 10",
        "print('Test set size:', len(X_train) // 5)",  # a label with no metric: not a measurement
        "print(f'train acc {train_acc:.2f}, test acc {evaluate(model):.2f}')",
        "print('Train and test accuracy: %.2f %.2f' % (acc(X_train, y_train), acc(X_test, y_test)))",
    ],
)
def test_validation_and_test_data_used_as_such_are_not_flagged(line: str):
    assert kinds(line) == []


# ----------------------------------------------------------------------------------- scaler before the split

SPLIT_IMPORTS = (
    "from sklearn.model_selection import train_test_split\nfrom sklearn.preprocessing import StandardScaler\n"
)


def test_a_scaler_fitted_on_all_the_data_before_the_split_is_flagged_at_the_fit():
    [finding] = find(
        SPLIT_IMPORTS,
        "X = StandardScaler().fit_transform(iris.data)\ny = iris.target\n",
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n",
    )
    assert finding.kind == "scaler_fitted_before_split"
    assert where(finding) == (2, 1, "X = StandardScaler().fit_transform(iris.data)")
    assert "cell 3, line 1" in finding.message


@pytest.mark.parametrize(
    "scaling",
    [
        "scaler = StandardScaler()\nscaler.fit(X)\nX_scaled = scaler.transform(X)",
        "scaler = StandardScaler().fit(X)\nX_scaled = scaler.transform(X)",
        "from sklearn import preprocessing\nX_scaled = preprocessing.MinMaxScaler().fit_transform(X)",
        "from sklearn.preprocessing import Normalizer\nnorm = Normalizer()\nX_scaled = norm.fit_transform(X)",
    ],
)
def test_the_fitted_data_is_followed_through_names_and_transforms(scaling: str):
    split = "X_train, X_test, y_train, y_test = train_test_split(X_scaled, y)"
    assert kinds(SPLIT_IMPORTS, scaling, split) == ["scaler_fitted_before_split"]


def test_a_scaler_fitted_after_the_split_or_on_other_data_is_not_flagged():
    split_first = """
    X_train, X_test, y_train, y_test = train_test_split(X, y)
    scaler = StandardScaler()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)
    """
    assert kinds(SPLIT_IMPORTS, split_first) == []
    # In cell order the split comes first, even if it was run after.
    assert kinds(SPLIT_IMPORTS, "parts = train_test_split(X, y)", "X = StandardScaler().fit_transform(X)") == []
    rebound = "X = StandardScaler().fit_transform(X)\nX = load_raw()\nparts = train_test_split(X, y)"
    assert kinds(SPLIT_IMPORTS, rebound) == []


# ------------------------------------------------------------------------------------------ unshuffled split


def test_a_split_without_shuffling_is_flagged_and_the_default_or_shuffle_true_is_not():
    [finding] = find(SPLIT_IMPORTS, "X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=False)")
    assert finding.kind == "unshuffled_split" and "shuffle=False" in finding.message
    assert kinds(SPLIT_IMPORTS, "parts = train_test_split(X, y, shuffle=True, random_state=1)") == []
    assert kinds(SPLIT_IMPORTS, "parts = train_test_split(X, y, stratify=y)") == []


# ---------------------------------------------------------------------------------- loss class, not instance


@pytest.mark.parametrize(
    "code",
    [
        "criterion = nn.CrossEntropyLoss\nloss = criterion(model(x), y)",
        "loss = nn.CrossEntropyLoss(model(x), y)",
        "history = train(model, train_loader, loss_fn=nn.NLLLoss, epochs=5)",
        "from torch.nn import CrossEntropyLoss\ncriterion = CrossEntropyLoss",
        "loss_fn = keras.losses.SparseCategoricalCrossentropy\nloss = loss_fn(y_batch, logits)",
    ],
)
def test_a_loss_class_used_as_a_loss_is_flagged(code: str):
    assert kinds(TORCH_IMPORTS + KERAS_IMPORTS + code) == ["loss_class_not_instance"]


@pytest.mark.parametrize(
    "code",
    [
        "criterion = nn.CrossEntropyLoss()\nloss = criterion(model(x), y)",
        "loss_class = nn.CrossEntropyLoss\ncriterion = loss_class(label_smoothing=0.1)",  # a factory
        "loss = nn.CrossEntropyLoss(weights)",  # class weights
        "model.compile(loss=keras.losses.SparseCategoricalCrossentropy, optimizer='adam')",  # Keras instantiates it
        "loss_fn = keras.losses.SparseCategoricalCrossentropy\nmodel.compile(loss=loss_fn)",
        "loss = keras.losses.sparse_categorical_crossentropy(y, p)",  # a function, not a class
    ],
)
def test_loss_objects_factories_and_what_keras_instantiates_are_not_flagged(code: str):
    assert kinds(TORCH_IMPORTS + KERAS_IMPORTS + code) == []


# -------------------------------------------------------------------------------------------------- not MNIST


@pytest.mark.parametrize(
    "code",
    [
        "from torchvision import datasets\ntrain = datasets.FashionMNIST('data', train=True, download=True)",
        "import torchvision\ntrain = torchvision.datasets.EMNIST('data', split='digits', download=True)",
        "from torchvision.datasets import KMNIST\ntrain = KMNIST('data', download=True)",
        "from keras.datasets import fashion_mnist\n(x_train, y_train), _ = fashion_mnist.load_data()",
        "import tensorflow as tf\n(x_train, y_train), _ = tf.keras.datasets.fashion_mnist.load_data()",
        "import tensorflow_datasets as tfds\ntrain = tfds.load('fashion_mnist', split='train')",
        "from sklearn.datasets import fetch_openml\nX, y = fetch_openml('Fashion-MNIST', return_X_y=True)",
    ],
)
def test_another_data_set_loaded_in_place_of_mnist_is_flagged_where_it_loads(code: str):
    [finding] = find(code)
    assert finding.kind == "not_mnist"
    assert where(finding)[1] == 2
    assert "MNIST" in finding.message


@pytest.mark.parametrize(
    "code",
    [
        "from torchvision import datasets\ntrain = datasets.MNIST('data', train=True, download=True)",
        "from keras.datasets import mnist\n(x_train, y_train), _ = mnist.load_data()",
        "from keras.datasets import fashion_mnist, mnist\n(x_train, y_train), _ = mnist.load_data()",  # unused
        "from sklearn.datasets import fetch_openml\nX, y = fetch_openml('mnist_784', return_X_y=True)",
    ],
)
def test_mnist_itself_is_not_flagged(code: str):
    assert kinds(code) == []


# ------------------------------------------------------------------------------------------ hard-coded GPU


@pytest.mark.parametrize(
    "code",
    [
        "model = Net().cuda()",
        "device = torch.device('cuda')",
        "DEVICE = 'cuda:0'",
        "inputs = inputs.to('cuda')",
        "x = torch.zeros(3, device='cuda')",
        "import lightning as L\ntrainer = L.Trainer(max_epochs=5, accelerator='gpu', devices=1)",
        "import pytorch_lightning as pl\ntrainer = pl.Trainer(gpus=1)",
    ],
)
def test_code_that_needs_a_gpu_and_never_asks_for_one_is_flagged(code: str):
    assert kinds(TORCH_IMPORTS + code) == ["hard_coded_gpu"]


@pytest.mark.parametrize(
    "code",
    [
        "device = 'cuda' if torch.cuda.is_available() else 'cpu'\nmodel = Net().to(device)",
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "if torch.cuda.is_available():\n    model = model.cuda()",
        "use_cuda = torch.cuda.is_available()\nmodel = model.cuda() if use_cuda else model",
        "device = torch.device('cpu')\nmodel = Net().to(device)",
        "import lightning as L\ntrainer = L.Trainer(accelerator='auto')",
        "import pytorch_lightning as pl\ntrainer = pl.Trainer(gpus=0)",
    ],
)
def test_code_that_chooses_its_device_when_it_runs_is_not_flagged(code: str):
    assert kinds(TORCH_IMPORTS + code) == []


def test_asking_for_the_gpu_name_is_flagged_unless_guarded_even_where_the_code_checks_elsewhere():
    code = """
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    print(torch.cuda.get_device_name(0))
    if torch.cuda.is_available():
        print(torch.cuda.get_device_name(0))
    for i in range(torch.cuda.device_count()):
        print(torch.cuda.get_device_name(i))
    """
    [finding] = find(TORCH_IMPORTS, code)
    assert finding.kind == "hard_coded_gpu"
    assert where(finding) == (2, 3, "print(torch.cuda.get_device_name(0))")
    assert "is_available" in finding.hint


# ---------------------------------------------------------------------------------------- Keras 2 leftovers


@pytest.mark.parametrize(
    "code, shown",
    [
        ("from keras.utils import np_utils\ny = np_utils.to_categorical(y)", "np_utils"),
        ("from keras.utils.np_utils import to_categorical", "np_utils"),
        ("import keras\ny = keras.utils.np_utils.to_categorical(y)", "np_utils"),
        ("from tensorflow.keras.wrappers.scikit_learn import KerasClassifier", "keras.wrappers"),
        ("from keras.optimizers import Adam\nopt = Adam(lr=0.001)", "lr="),
        ("import tensorflow as tf\nopt = tf.keras.optimizers.SGD(lr=0.1, momentum=0.9)", "lr="),
        ("import keras\nclasses = model.predict_classes(x_test)", "predict_classes"),
        ("import keras\nplt.plot(history.history['acc'])", "'acc'"),
        ("import keras\nhist = history.history\nplt.plot(hist['val_acc'])", "'val_acc'"),
    ],
)
def test_keras_2_code_is_flagged_once_where_keras_3_breaks_on_it(code: str, shown: str):
    [finding] = find(code)
    assert finding.kind == "keras2_leftovers"
    assert shown in finding.message
    assert finding.hint != MISTAKES["keras2_leftovers"].hint  # advice for this leftover in particular


@pytest.mark.parametrize(
    "code",
    [
        "import keras\ny = keras.utils.to_categorical(y)",
        "import keras\nopt = keras.optimizers.Adam(learning_rate=0.001)",
        "import keras\nplt.plot(history.history['accuracy'], history.history['val_accuracy'])",
        # Keras 3 names a metric as compile spells it: with metrics=['acc'] the history has 'acc'.
        "import keras\nmodel.compile(loss='mse', metrics=['acc'])\nplt.plot(history.history['acc'])",
        # A PyTorch student's own history dictionary, and PyTorch's lr=.
        "import torch\nhistory = {'acc': []}\nhistory['acc'].append(0.9)\nopt = torch.optim.Adam(params, lr=0.01)",
    ],
)
def test_keras_3_code_and_other_frameworks_are_not_flagged(code: str):
    assert kinds(code) == []


# -------------------------------------------------------------------------------- cells, magics, locations


def test_magics_and_shell_escapes_do_not_break_the_analysis_or_shift_lines():
    cell = "\n%matplotlib inline\n!pip install torchvision\nimport torch\nmodel = model.cuda()\nx?\n"
    [finding] = find(cell)
    assert where(finding) == (1, 5, "model = model.cuda()")
    timed = "%%time\nimport torch\n\nmodel.cuda()\n"
    assert where(find(timed)[0]) == (1, 4, "model.cuda()")
    # The transformer joins a shell escape's continued lines into one: the lines after it still count right.
    continued = "!pip install torch \\\n    torchvision \\\n    lightning\nimport torch\nmodel.cuda()\n"
    assert where(find(continued)[0]) == (1, 5, "model.cuda()")


def test_cells_that_do_not_parse_or_are_not_python_are_skipped_and_the_rest_still_analysed():
    findings = find("import torch\nmodel = (", "%%bash\necho 'model.cuda()'", "import torch\nmodel.cuda()")
    assert [where(finding)[:2] for finding in findings] == [(3, 2)]


def test_locations_count_every_cell_and_the_line_within_it():
    cells = [CodeCell(2, "import torch"), CodeCell(5, "x = 1\n\nnet = Net().cuda()  # on the GPU")]
    [finding] = find_in_code(cells, "hw.ipynb")
    assert finding.location == SourceLocation("hw.ipynb", 3, "net = Net().cuda()  # on the GPU", cell=5)


def test_a_script_is_one_cell_numbered_0_and_its_findings_carry_no_cell():
    [finding] = find_in_code([CodeCell(0, "import torch\n\n\nmodel = Net().cuda()\n")], "submission.py")
    assert finding.location == SourceLocation("submission.py", 4, "model = Net().cuda()", cell=None)
    assert str(finding.location) == "submission.py, line 4: model = Net().cuda()"


def test_one_finding_per_kind_and_line_in_reading_order():
    findings = find(
        "import torch\nx, y = x.cuda(), y.cuda()\nfrom keras.utils import np_utils",
        "from torchvision import datasets\nds = datasets.FashionMNIST('d')",
    )
    assert [(finding.kind, *where(finding)[:2]) for finding in findings] == [
        ("hard_coded_gpu", 1, 2),
        ("keras2_leftovers", 1, 3),
        ("not_mnist", 2, 2),
    ]


# ------------------------------------------------------------------------------------------------ stale kernel

NOTEBOOK = [
    CodeCell(2, "import numpy as np"),
    CodeCell(4, "model = build()\n\nmodel.fit(X_train, y_train)"),
    CodeCell(5, "print(accuracy)"),
    CodeCell(7, "from sklearn.model_selection import train_test_split\nX_train, X_test, y_train, y_test = split()"),
    CodeCell(9, "def build():\n    hidden = 16\n    return make(hidden)"),
]


def test_a_name_defined_only_in_a_later_cell_is_a_stale_kernel_at_its_first_use():
    failures = [(4, "Traceback (most recent call last):\n...\nNameError: name 'build' is not defined")]
    [finding] = stale_names(NOTEBOOK, failures, "hw.ipynb")
    assert finding.kind == "stale_kernel" and finding.seen == "code"
    assert finding.location == SourceLocation("hw.ipynb", 1, "model = build()", cell=4)
    assert finding.message == (
        "build is defined in cell 9, after this cell (4): the notebook ran only in the order you ran the cells"
    )
    assert "Restart & Run All" in finding.hint and "cell 9" in finding.hint


def test_assignments_and_imports_count_as_definitions_and_the_use_line_is_found():
    notebook = [*NOTEBOOK[:1], CodeCell(4, "model = 1\n\nmodel.fit(X_train, y_train)"), *NOTEBOOK[2:]]
    [finding] = stale_names(notebook, [(4, "NameError: name 'X_train' is not defined")], "hw.ipynb")
    assert finding.location is not None and finding.location.line == 3
    assert "cell 7" in finding.message


def test_other_errors_and_names_defined_nowhere_earlier_or_only_locally_are_not_stale_kernels():
    failures = [
        (5, "NameError: name 'accuracy' is not defined"),  # defined nowhere: a plain bug
        (4, "NameError: name 'hidden' is not defined"),  # local to build() in cell 9
        (9, "NameError: name 'np' is not defined"),  # defined earlier (cell 2 failed, say)
        (4, "ValueError: shapes (3,) and (4,) not aligned"),
    ]
    assert stale_names(NOTEBOOK, failures, "hw.ipynb") == []
