"""The check from inside the notebook grades what the student sees: driven through a real kernel (ipykernel,
over jupyter_client), a cell edited and run but not saved is graded as edited, and the student is told the
file on disk is stale; a file that holds what ran is graded as the file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from notebooks import code, write_notebook

from grader.notebook_check import differences_from_file

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

WITHOUT_RELU = """def build_model(problem, variant):
    layers = [nn.Flatten(), nn.Linear(4, 16)]
    if variant == "multi":
        layers += [nn.Linear(16, 16)]  # no activation yet
    return nn.Sequential(*layers, nn.Linear(16, 3))"""
WITH_RELU = WITHOUT_RELU.replace("nn.Linear(16, 16)]  # no activation yet", "nn.Linear(16, 16), nn.ReLU()]")


def test_the_file_is_stale_when_the_kernel_ran_definitions_it_does_not_hold(tmp_path):
    notebook = write_notebook(tmp_path / "hw.ipynb", code("from torch import nn"), code(WITHOUT_RELU))
    ran = [(1, "from torch import nn"), (2, WITHOUT_RELU)]
    assert differences_from_file(ran, notebook) == []
    assert differences_from_file([*ran, (3, "# a comment only\n" + WITHOUT_RELU)], notebook) == []  # same code
    assert differences_from_file([*ran, (3, WITH_RELU), (4, "HYPERPARAMS = {}")], notebook) == [
        "build_model (In [3])",
        "HYPERPARAMS (In [4])",
    ]
    assert differences_from_file([*ran, (3, "%load_ext grader.notebook_check"), (4, "%grade")], notebook) == []


def run(client, source: str) -> list[dict]:
    """Execute ``source`` in the kernel; return its iopub outputs (streams and displays)."""
    outputs: list[dict] = []

    def keep(message: dict) -> None:
        if message["msg_type"] in ("stream", "display_data", "execute_result", "error"):
            outputs.append(message["content"])

    reply = client.execute_interactive(source, output_hook=keep, timeout=240)
    assert reply["content"]["status"] == "ok", outputs
    return outputs


def text_of(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)


def test_a_real_kernel_grades_the_unsaved_edit_and_says_the_file_is_stale(tmp_path, fake_mnist):
    pytest.importorskip("torch")
    rubric = tmp_path / "few_epochs.toml"  # what is graded matters here, not how well: a few epochs are enough
    rubric.write_text("[problems.iris.defaults]\nepochs = 5\n")
    notebook = write_notebook(tmp_path / "hw.ipynb", code("from torch import nn"), code(WITHOUT_RELU))
    env = {**os.environ, "GRADER_DATA_DIR": str(fake_mnist), "JPY_SESSION_NAME": str(notebook)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")])
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path), env=env)  # the native kernel: this Python
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        run(client, f"assert __import__('sys').executable == {sys.executable!r}")  # binds no name
        run(client, "from torch import nn")
        run(client, WITHOUT_RELU)
        run(client, WITH_RELU)  # edited and run, not saved: the file still has the version without ReLU
        run(client, "%load_ext grader.notebook_check")
        outputs = run(client, f"%grade --problem iris --rubric {rubric}")
        said = text_of(outputs)
        assert "hw.ipynb on disk is not what you ran (build_model (In [4]))" in said
        assert "save it" in said and "Graded the cells you ran" in said
        assert any("<iframe srcdoc=" in o.get("data", {}).get("text/html", "") for o in outputs)  # shown inline
        summary = run(
            client,
            "import grader.notebook_check as c; c.LAST.summary()['graded'], "
            "[[ch['title'], ch['status']] for s in c.LAST.report['scores'] "
            "if s['key'] == 'iris/multi' for ch in s['checks']]",
        )
        result = text_of(summary)
        assert result.startswith("('cells',")
        assert "['Layers fit the variant', 'pass']" in result  # the edited code, with its ReLU, was graded
    finally:
        manager.shutdown_kernel(now=True)
