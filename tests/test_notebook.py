"""Notebooks become the module the worker imports: definitions kept, runs left out, lines traceable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from notebooks import code, markdown, write_notebook

from grader.errors import UngradableError
from grader.frameworks import framework_imports
from grader.notebook import ALWAYS_IMPORTED, convert

HOMEWORK = (
    markdown("# Homework"),
    code("%matplotlib inline\n!pip install torch\nimport torch\nfrom torch import nn"),
    code("DEVICE = torch.device('cpu')\nHYPERPARAMS = {'iris': {'epochs': 20}}\nmodel = build_model('iris', 'multi')"),
    code("def build_model(problem, variant):\n    return nn.Linear(4, 3)"),
    code("for epoch in range(100):\n    train_one_epoch()\nprint('done')"),
)


def test_imports_definitions_and_constants_are_kept_and_training_runs_are_left_out(tmp_path):
    converted = convert(write_notebook(tmp_path / "hw.ipynb", *HOMEWORK))
    kept = [line for line in converted.module.splitlines() if line.strip()]
    assert kept == [
        "import torch",
        "from torch import nn",
        "DEVICE = torch.device('cpu')",
        "HYPERPARAMS = {'iris': {'epochs': 20}}",
        "def build_model(problem, variant):",
        "    return nn.Linear(4, 3)",
    ]
    assert [(s.cell, s.line, s.names) for s in converted.skipped if s.names] == [
        (3, 3, ["model"]),
        (5, 1, ["epoch"]),
    ]


LAB = Path(__file__).parent / "fixtures" / "notebook" / "lab_frameworks_iris.ipynb"


def kept_lines(module: str) -> list[str]:
    return [line for line in module.splitlines() if line.strip()]


def test_a_notebook_written_like_the_lab_keeps_the_data_loading_its_constants_need_and_no_plots_or_training(
    monkeypatch,
):
    """The AI-For-Beginners lab loads Iris at the top level: ``features = iris['data']`` is a constant, so
    ``iris = load_iris()`` (a call, but cheap and pure) is kept for it; the plots, the training run and the
    imports only they use (seaborn, pandas, matplotlib, train_test_split) are not."""
    converted = convert(LAB)
    kept = kept_lines(converted.module)
    assert kept[:7] == [
        "from sklearn.datasets import load_iris",
        "iris = load_iris()",
        'features = iris["data"]',
        'labels = iris["target"]',
        'class_names = iris["target_names"]',
        'feature_names = iris["feature_names"]',
        "import torch",
    ]
    module = "\n".join(kept)
    for left_out in ("print(", "seaborn", "pandas", "pairplot", "matplotlib", "train_test_split", "losses = train("):
        assert left_out not in module
    line = converted.module.splitlines().index("iris = load_iris()") + 1
    cell, line_in_cell = converted.locate(line)
    assert (cell.number, line_in_cell) == (2, 4)
    namespace: dict = {}
    monkeypatch.setitem(sys.modules, "seaborn", None)  # importing it fails, as where it is not installed
    exec(compile(converted.module, "lab", "exec"), namespace)  # torch is imported, nothing trains
    assert namespace["features"].shape == (150, 4) and namespace["build_model"]("iris", "single").out_features == 3


def test_a_constant_that_needs_a_training_result_is_left_out_with_it_and_the_module_imports(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("from sklearn.datasets import fetch_openml\nmnist = fetch_openml('mnist_784')\nPIXELS = mnist.data"),
        code("model = make_model()\nhistory = model.fit(x, y, epochs=10)"),
        code("acc = history.history['acc']\nEPOCHS = 10\nlast_acc = acc[-1]"),
        code("def build_model(problem, variant):\n    return EPOCHS"),
    )
    converted = convert(path)
    assert kept_lines(converted.module) == [
        "EPOCHS = 10",
        "def build_model(problem, variant):",
        "    return EPOCHS",
    ]
    why = {name: s for s in converted.skipped for name in s.names}
    assert (why["PIXELS"].cell, why["PIXELS"].line, why["PIXELS"].need) == (1, 3, "mnist")
    assert [(s.cell, s.line, s.need) for s in why["last_acc"].chain()] == [(3, 3, "acc"), (3, 1, "history"), (2, 2, "")]
    namespace: dict = {}
    exec(compile(converted.module, "hw", "exec"), namespace)
    assert namespace["build_model"]("iris", "single") == 10


def test_cheap_data_loading_build_model_reads_is_kept_with_what_it_needs_and_a_training_result_never_is(tmp_path):
    """Names a function reads are looked up when it is called, after the whole module ran: they must be set
    by kept code too. Splitting and scaling data is; predicting with a trained model is not, even
    wrapped in ``np.asarray``."""
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("import numpy as np\nfrom sklearn.preprocessing import StandardScaler\nfrom sklearn import datasets"),
        code("data = datasets.load_wine()\nscaler = StandardScaler()\nX = scaler.fit_transform(data.data)"),
        code("X = X.astype(np.float32)\nmodel = train_a_model(X)\npreds = np.asarray(model.predict(X))"),
        code("def build_model(problem, variant):\n    return X.shape[1], preds"),
        code("import matplotlib.pyplot as plt\nfig = plt.figure()"),
    )
    converted = convert(path)
    assert kept_lines(converted.module) == [
        "import numpy as np",
        "from sklearn.preprocessing import StandardScaler",
        "from sklearn import datasets",
        "data = datasets.load_wine()",
        "scaler = StandardScaler()",
        "X = scaler.fit_transform(data.data)",
        "X = X.astype(np.float32)",
        "def build_model(problem, variant):",
        "    return X.shape[1], preds",
    ]
    assert [(s.cell, s.line) for s in converted.skipped if "preds" in s.names] == [(3, 3)]


def test_a_name_a_function_keeps_local_is_not_looked_for_at_the_top_level(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("import numpy as np\nweights = np.zeros(3)\nx = np.ones(3)"),
        code("def build_model(problem, variant, x=None):\n    weights = [1]\n    return weights, x"),
    )
    assert kept_lines(convert(path).module) == [  # numpy too: only the left-out top-level weights and x use it
        "def build_model(problem, variant, x=None):",
        "    weights = [1]",
        "    return weights, x",
    ]


STARTER_PAIR_PLOT = (
    "import seaborn as sns\nimport pandas as pd\n"
    "df = pd.DataFrame(features, columns=feature_names).join(pd.DataFrame(labels, columns=['Label']))\n"
    "sns.pairplot(df, hue='Label')"
)


def test_the_starters_pair_plot_imports_are_left_out_and_the_module_imports_without_seaborn(tmp_path, monkeypatch):
    """LabFrameworks.ipynb's cell 4 imports seaborn, which grading never needs: only the pair plot uses it."""
    path = write_notebook(
        tmp_path / "lab.ipynb",
        code("from sklearn.datasets import load_iris\niris = load_iris()\nfeatures, labels = iris.data, iris.target"),
        code("feature_names = iris['feature_names']"),
        markdown("### Visualize the data"),
        code(STARTER_PAIR_PLOT),
        code("import torch\n\ndef build_model(problem, variant):\n    return torch.nn.Linear(4, 3)"),
    )
    converted = convert(path)
    assert "seaborn" not in converted.module and "pandas" not in converted.module
    assert [(s.cell, s.line, s.names) for s in converted.skipped if s.names][:3] == [
        (4, 1, ["sns"]),
        (4, 2, ["pd"]),
        (4, 3, ["df"]),
    ]
    monkeypatch.setitem(sys.modules, "seaborn", None)  # importing it fails, as where it is not installed
    namespace: dict = {}
    exec(compile(converted.module, "lab", "exec"), namespace)
    assert namespace["build_model"]("iris", "single").out_features == 3


@pytest.mark.parametrize(
    ("cells", "kept"),
    [
        (  # read when build_model is called
            ["import pandas as pd", "def build_model(problem, variant):\n    return pd.DataFrame()"],
            "import pandas as pd",
        ),
        (  # read by cheap data loading kept code needs
            [
                "from sklearn.preprocessing import StandardScaler\nfrom sklearn.datasets import load_iris",
                "X = StandardScaler().fit_transform(load_iris().data)",
                "def build_model(problem, variant):\n    return X.shape[1]",
            ],
            "from sklearn.preprocessing import StandardScaler",
        ),
        (  # read by an annotation, evaluated when the function is defined
            ["import numpy as np", "def build_model(problem, variant) -> np.ndarray:\n    return 1"],
            "import numpy as np",
        ),
        (  # ``import x.y`` binds x
            ["import os.path", "ROOT = os.path.join('data', 'iris')"],
            "import os.path",
        ),
        (["from my_models import build_model"], "from my_models import build_model"),  # read by the grader
        (["import tensorflow as tf\nimport numpy as np", "print(np.pi)"], "import tensorflow as tf"),  # a framework
        (["from torch import nn"], "from torch import nn"),
        (["from __future__ import annotations"], "from __future__ import annotations"),
        (["from helpers import *"], "from helpers import *"),  # binds names no one can list
        (["import seaborn as sns", "sns.pairplot(df)"], None),
        (["import matplotlib.pyplot as plt, numpy as np", "X = np.zeros(3)", "plt.plot(X)"], None),
    ],
)
def test_an_import_is_kept_when_kept_code_or_grading_needs_it(tmp_path, cells, kept):
    converted = convert(write_notebook(tmp_path / "hw.ipynb", *map(code, cells)))
    first = cells[0].splitlines()[0]
    assert (first in converted.module) == (kept is not None)
    if kept is None:
        assert (converted.skipped[0].cell, converted.skipped[0].line) == (1, 1)


def test_every_framework_the_grader_detects_from_imports_is_always_imported():
    assert framework_imports() <= ALWAYS_IMPORTED


def test_an_included_cell_and_run_all_keep_every_import(tmp_path):
    path = write_notebook(tmp_path / "hw.ipynb", code("import seaborn as sns", "grader:include"), code("import pandas"))
    assert "import seaborn as sns" in convert(path).module and "import pandas" not in convert(path).module
    assert "import pandas" in convert(path, run_all=True).module


def test_every_line_of_the_module_traces_back_to_its_cell_and_line(tmp_path):
    converted = convert(write_notebook(tmp_path / "hw.ipynb", *HOMEWORK))
    module = converted.module.splitlines()
    line = module.index("    return nn.Linear(4, 3)") + 1
    cell, line_in_cell = converted.locate(line)
    assert (cell.number, line_in_cell) == (4, 2)
    assert cell.lines[line_in_cell - 1] == "    return nn.Linear(4, 3)"


def test_magics_and_shell_escapes_are_removed_with_ipythons_transformer(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("import os\nfiles = !ls\n%timeit os.getcwd()\ndef f():\n    !echo inside\n    return 1", "grader:include"),
        code("%%time\nSIZE = 3"),
        code("%%bash\necho hello"),
    )
    converted = convert(path)
    assert converted.module.splitlines()[:6] == ["import os", "pass", "pass", "def f():", "    pass", "    return 1"]
    assert "SIZE = 3" in converted.module
    assert "echo hello" not in converted.module
    assert converted.notes == ["cell 3: a %%bash cell is not Python and was left out"]
    compile(converted.module, "module", "exec")


def test_cell_tags_include_or_skip_a_whole_cell(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("data = load_my_data()", "grader:include"),
        code("import this_package_does_not_exist", "grader:skip"),
    )
    converted = convert(path)
    assert "data = load_my_data()" in converted.module
    assert "this_package_does_not_exist" not in converted.module


def test_run_all_keeps_every_cell(tmp_path):
    converted = convert(write_notebook(tmp_path / "hw.ipynb", *HOMEWORK), run_all=True)
    assert "print('done')" in converted.module and "model = build_model('iris', 'multi')" in converted.module


def test_main_guards_go_and_guarded_imports_stay(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        code("try:\n    import keras\nexcept ImportError:\n    keras = None"),
        code("if __name__ == '__main__':\n    DEFINED = 1"),
    )
    module = convert(path).module
    assert "import keras" in module and "DEFINED" not in module


def test_a_syntax_error_points_to_the_cell_and_line(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb", code("import torch"), code("def build_model(problem, variant)\n    pass")
    )
    with pytest.raises(UngradableError) as raised:
        convert(path)
    failure = raised.value.failure
    assert failure.message.startswith("hw.ipynb, cell 2, line 1: SyntaxError:")
    assert (failure.location.cell, failure.location.line) == (2, 1)
    assert failure.location.code == "def build_model(problem, variant)"
    assert "grader:skip" in failure.hint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "hw.ipynb: not a notebook: not JSON"),
        (b'{"hello": 1}', "hw.ipynb: not a notebook: JSON without an nbformat version"),
        (
            b'{"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}',
            "hw.ipynb: notebook format 5 is newer than this grader reads (4.x)",
        ),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}]}', "hw.ipynb: not a valid notebook:"),
        (b'{"cells": "\xe9"}', "hw.ipynb: not a notebook: byte 11 is not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_a_readable_notebook_gets_one_clear_line(tmp_path, content, message):
    path = tmp_path / "hw.ipynb"
    path.write_bytes(content)
    with pytest.raises(UngradableError) as raised:
        convert(path)
    assert raised.value.failure.message.startswith(message)
    assert "\n" not in raised.value.failure.message


@pytest.mark.parametrize("source", [7, None, {"code": "X = 1"}])
def test_a_cell_whose_source_is_not_text_is_named(tmp_path, source):
    path = tmp_path / "hw.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Homework"}]
    cells.append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source})
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": cells}))
    with pytest.raises(UngradableError) as raised:
        convert(path)
    failure = raised.value.failure
    assert failure.message.startswith(f"hw.ipynb, cell 2: the cell's source is not text (it is {source!r}")
    assert (failure.kind, failure.location.cell) == ("notebook", 2)
    assert failure.hint.startswith("open and save it again in Jupyter")


def test_tags_of_another_shape_are_no_tags(tmp_path):
    path = tmp_path / "hw.ipynb"
    cell = {"cell_type": "code", "metadata": {"tags": 5}, "outputs": [], "execution_count": None, "source": "X = 1"}
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [cell]}))
    assert "X = 1" in convert(path).module


def test_an_older_notebook_format_is_converted(tmp_path):
    path = tmp_path / "old.ipynb"
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [{"cells": [{"cell_type": "code", "input": "X = 1", "outputs": [], "language": "python"}]}],
    }
    path.write_text(json.dumps(v3))
    assert "X = 1" in convert(path).module


def test_a_notebook_without_code_cells_gives_an_empty_module(tmp_path):
    assert convert(write_notebook(tmp_path / "hw.ipynb", markdown("just words"))).module.strip() == ""


NOTEBOOK_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.fixed_dictionaries(
            {
                "cell_type": st.sampled_from(["code", "markdown", "raw", "nonsense"]),
                "source": st.text(max_size=80) | st.lists(st.text(max_size=20), max_size=3) | NOTEBOOK_JSON,
                "metadata": NOTEBOOK_JSON,
            }
        ),
        max_size=5,
    ),
    extra=st.dictionaries(st.sampled_from(["nbformat", "nbformat_minor", "metadata", "cells"]), NOTEBOOK_JSON),
)
def test_any_notebook_like_input_gives_a_module_or_a_clean_error(tmp_path, cells, extra):
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **extra}
    path = tmp_path / "fuzz.ipynb"
    path.write_text(json.dumps(notebook))
    try:
        converted = convert(path)
    except UngradableError as error:
        assert error.failure.message.startswith("fuzz.ipynb")
    else:
        compile(converted.module, "module", "exec")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_module_or_a_clean_error(tmp_path, data):
    valid = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("X = 1")])).encode()
    path = tmp_path / "fuzz.ipynb"
    cut = len(data) % (len(valid) + 1)
    path.write_bytes(valid[:cut] + data)  # a valid notebook, cut and followed by noise
    try:
        converted = convert(path)
    except UngradableError as error:
        assert error.failure.message.startswith("fuzz.ipynb")
    else:
        compile(converted.module, "module", "exec")
