"""The grader's environment: what the starter notebook imports is a requirement (pandas, seaborn), torchvision
and Lightning are extras that ``grade framework`` names, and each installer (the Makefile's VISION=1, the
student workflow, Gradescope's setup.sh) takes torchvision together with the torch build it was made for.

The test marked ``torchvision`` runs where the extra is installed: ``make test VISION=1 ARGS="-m torchvision"``
(CI does, in .venv-vision); elsewhere it is skipped."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import REPOSITORY
from idx_fixtures import write_idx
from notebooks import code, markdown, write_notebook
from packaging.requirements import Requirement

from grader.cli import main

WORKFLOW = REPOSITORY / "student_template" / ".github" / "workflows" / "grade.yml"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@pytest.mark.torchvision
def test_torchvision_imports_beside_its_torch_and_reads_mnist_from_idx_files(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    import torch

    # the operator that fails beside a torch build torchvision was not made for ("torchvision::nms does not exist")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]

    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"  # where torchvision.datasets.MNIST(root) reads the uncompressed files
    raw.mkdir(parents=True)
    splits = {}
    for prefix, n in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        splits[prefix] = images, labels

    to_tensor = torchvision.transforms.ToTensor()
    train = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False, transform=to_tensor)
    test = torchvision.datasets.MNIST(str(tmp_path), train=False, download=False)
    assert (len(train), len(test)) == (12, 5)
    assert train.data.shape == (12, 28, 28) and train.data.dtype == torch.uint8
    assert train.targets.dtype == torch.int64
    assert np.array_equal(train.data.numpy(), splits["train"][0])
    assert train.targets.tolist() == splits["train"][1].tolist()
    assert np.array_equal(test.data.numpy(), splits["t10k"][0])

    image, label = train[3]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label == 3
    assert torch.allclose(image[0], torch.from_numpy(splits["train"][0][3]).float() / 255)
    images, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=8)))
    assert images.shape == (8, 1, 28, 28) and labels.shape == (8,) and labels.dtype == torch.int64


def test_what_the_starter_notebook_imports_is_installed_and_required():
    import pandas
    import seaborn

    assert pandas.DataFrame({"x": [1, 2]}).shape == (2, 1) and callable(seaborn.pairplot)
    requirements = [Requirement(line) for line in importlib.metadata.requires("nn-grader") or []]
    always = {r.name.lower() for r in requirements if r.marker is None}
    assert {"pandas", "seaborn"} <= always
    by_extra: dict[str, set[str]] = {}
    for requirement in requirements:
        for extra in ("torchvision", "lightning"):
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                by_extra.setdefault(extra, set()).add(requirement.name.lower())
    assert by_extra["torchvision"] == {"torch", "torchvision"}
    assert by_extra["lightning"] == {"torch", "lightning", "pytorch-lightning"}
    assert not {"torchvision", "lightning", "pytorch-lightning"} & always


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_quick_start_stays_light_and_vision_takes_pypis_torch_with_its_torchvision():
    # not what an enclosing make (make test VISION=1) passes down
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VISION", "VENV"}}

    def planned(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "-B", *args], cwd=REPOSITORY, env=env, capture_output=True, text=True, check=True
        ).stdout

    default = planned(".venv/.installed")
    assert '.venv/bin/python -m pip install --quiet "torch==2.13.0"' in default
    assert "torchvision" not in default and "lightning" not in default
    vision = planned(".venv-vision/.installed", "VISION=1")
    # ===: exactly 2.13.0, so not a local CPU-only build (2.13.0+cpu) that PyPI's torchvision cannot load beside
    assert '.venv-vision/bin/python -m pip install --quiet "torch===2.13.0" "torchvision==0.28.0"' in vision
    assert '-e ".[torch,torchvision,dev]"' in vision and "tensorflow" not in vision and "lightning" not in vision


@pytest.mark.parametrize(
    ("cells", "printed"),
    [
        # torchvision only in the data loading the grader leaves out: a notebook run whole still needs it
        (
            ["import torch\nimport torchvision", "train = torchvision.datasets.MNIST('data', download=True)"],
            ["torch", "torchvision"],
        ),
        (["%pip install lightning\nimport lightning.pytorch as pl"], ["torch", "lightning"]),
        (
            ["import pytorch_lightning as pl", "from torchvision import transforms"],
            ["torch", "lightning", "torchvision"],
        ),
        (["import keras", "from torchvision.datasets import MNIST"], ["keras", "torch", "torchvision"]),
        (["import keras\nimport pandas as pd\nimport seaborn as sns"], ["keras"]),
    ],
)
def test_grade_framework_names_the_extras_a_notebook_imports_after_its_frameworks(tmp_path, cells, printed):
    notebook = write_notebook(tmp_path / "hw.ipynb", markdown("`import torchvision` in prose"), *map(code, cells))
    result = CliRunner().invoke(main, ["framework", str(notebook)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == printed


def test_grade_framework_reads_a_module_and_its_helpers(tmp_path):
    (tmp_path / "submission.py").write_text("from helpers import load\nimport torch\n")
    (tmp_path / "helpers.py").write_text(
        "from torchvision import datasets\nfrom .lightning import trainer  # a module of its own\n"
    )
    result = CliRunner().invoke(main, ["framework", str(tmp_path)])
    assert result.output.splitlines() == ["torch", "torchvision"]


def stub(bin_dir: Path, name: str, body: str = "") -> None:
    """A command that logs its words (tab-separated, one line a call) to $CALLS, then runs ``body``."""
    path = bin_dir / name
    path.write_text(f'#!/bin/bash\n{{ printf %s "{name}"; printf "\\t%s" "$@"; echo; }} >> "$CALLS"\n{body}\n')
    path.chmod(0o755)


def calls(log: Path) -> list[list[str]]:
    return [line.split("\t") for line in log.read_text().splitlines()]


def pip_installs(log: Path) -> list[list[str]]:
    return [call[4:] for call in calls(log) if call[1:4] == ["-m", "pip", "install"] and "--upgrade" not in call]


@pytest.mark.parametrize(
    ("printed", "cpu_builds", "extras"),
    [
        (["torch"], ["torch"], "torch"),
        (["torch", "torchvision"], ["torch", "torchvision"], "torch,torchvision"),
        (["torch", "lightning"], ["torch"], "torch,lightning"),
        (["keras"], None, "tensorflow-cpu"),
        (["keras", "torch", "torchvision"], ["torch", "torchvision"], "tensorflow-cpu,torch,torchvision"),
    ],
)
def test_the_student_workflow_installs_what_grade_framework_prints(tmp_path, printed, cpu_builds, extras):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    step = next(s for s in workflow["jobs"]["grade"]["steps"] if s.get("name", "").startswith("Install the grader"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "python")
    stub(bin_dir, "sudo")
    stub(bin_dir, "grade", 'printf "%s\\n" $FRAMEWORKS')
    log = tmp_path / "calls"
    env = {
        **os.environ,
        **workflow["env"],
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(log),
        "FRAMEWORKS": " ".join(printed),
        "RUNNER_TEMP": str(tmp_path),
        "GRADER_WHEEL": str(tmp_path / "nn_grader-0.1.0-py3-none-any.whl"),
    }
    # as GitHub runs a step's script
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env, check=True)

    assert ["grade", "framework", "assignment.ipynb"] in calls(log)
    installs = pip_installs(log)
    assert installs[0] == [env["GRADER_WHEEL"]]  # found by the step before, from GRADER_PACKAGE
    assert installs[-1] == [f"{env['GRADER_WHEEL']}[{extras}]"]
    assert installs[1:-1] == ([[*cpu_builds, "--index-url", CPU_INDEX]] if cpu_builds else [])


@pytest.mark.parametrize(
    ("framework", "cpu_builds"),
    [("torch", ["torch", "torchvision"]), ("keras", None), ("both", ["torch", "torchvision"])],
)
def test_gradescopes_setup_takes_torch_and_torchvision_from_one_index(tmp_path, framework, cpu_builds):
    out = tmp_path / "autograder.zip"
    result = CliRunner().invoke(main, ["gradescope-bundle", str(out), "--framework", framework])
    assert result.exit_code == 0, result.output
    source = tmp_path / "autograder" / "source"
    with zipfile.ZipFile(out) as bundle:
        bundle.extract("setup.sh", source)
        bundle.extract("requirements.txt", source)
    requirements = {Requirement(line).name for line in (source / "requirements.txt").read_text().splitlines()}
    assert ({"torch", "torchvision"} <= requirements) == (cpu_builds is not None)
    assert "lightning" not in requirements

    venv = tmp_path / "nn-grader"  # instead of /opt/nn-grader
    script = (source / "setup.sh").read_text().replace("/opt/nn-grader", str(venv))
    bin_dir = tmp_path / "bin"
    for directory in (bin_dir, venv / "bin"):
        directory.mkdir(parents=True)
    stub(bin_dir, "apt-get")
    stub(bin_dir, "python3")  # python3 -m venv: the environment's python is the stub below
    stub(venv / "bin", "python")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}
    env["AUTOGRADER"] = str(tmp_path / "autograder")
    subprocess.run(["bash", "-c", script], env=env, check=True)

    installs = pip_installs(tmp_path / "calls")
    assert installs[-1] == ["--quiet", "-r", f"{source}/requirements.txt"]
    assert installs[:-1] == ([["--quiet", *cpu_builds, "--index-url", CPU_INDEX]] if cpu_builds else [])
