"""Why free-form notebooks run in IPython's shell in the worker, not in a kernel driven by nbclient: the same
small notebook (NumPy, a magic, scikit-learn's Iris, PyTorch) run both ways, side by side, in fresh processes.

    python benchmarks/notebook_runners.py [--rounds N]

nbclient and ipykernel are not dependencies of the grader: install them to run this (pip install nbclient
ipykernel). The in-process shell also lets the grader watch what the code builds and trains with a few hooks;
through a kernel that would be code injected into the student's kernel and results sent back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from machine import describe_machine

CELLS = [
    "import numpy as np\nx = np.arange(10)",
    "%time y = x.sum()\nprint(y)",
    "from sklearn.datasets import load_iris\niris = load_iris()\niris.data.shape",
    "import torch\nt = torch.zeros(3)\nt.sum().item()",
]

RUN = """
import json, sys
import nbformat
cells = json.loads(sys.argv[2])
if sys.argv[1] == "ipython":
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    for cell in cells:
        assert shell.run_cell(cell, silent=True).success
else:
    from nbclient import NotebookClient
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
"""


def seconds(runner: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, runner, json.dumps(CELLS)], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best = {"ipython": float("inf"), "nbclient": float("inf")}
    for _ in range(args.rounds):  # taking turns: a shared machine's load falls on both
        for runner in best:
            best[runner] = min(best[runner], seconds(runner))
    print(f"machine: {describe_machine()}")
    print(f"{'runner':<40}  {'best of ' + str(args.rounds):>10}")
    print(f"{'IPython InteractiveShell, in process':<40}  {best['ipython']:>8.2f} s")
    print(f"{'nbclient + ipykernel (a real kernel)':<40}  {best['nbclient']:>8.2f} s")


if __name__ == "__main__":
    main()
